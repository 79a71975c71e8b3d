//! Counts for analysts and the dashboard: `GET /api/v1/statistics?from=&to=&bucket=`
//! (detections by severity, detector, rule, host, source address and ATT&CK tactic over a
//! range) and `GET /api/v1/dashboard/summary?window=24h` (the overview page's figures:
//! detections over time, top rules, addresses and hosts, a tactic × technique heat map,
//! open alerts, host health and agents).

use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use watchpost_store::statistics::{RuleCount, Statistics};

/// Longest range counted at once: a year.
const MAX_RANGE_DAYS: i64 = 366;
/// Rules, addresses and hosts on the dashboard.
const TOP: usize = 10;

pub async fn statistics(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let to = p.time("to")?.unwrap_or_else(Utc::now);
    let from = p.time("from")?.unwrap_or(to - Duration::hours(24));
    let bucket = span(&mut p, "bucket", Duration::hours(1))?;
    p.finish()?;
    let stats = count(&state, from, to, bucket).await?;
    let by_tactic = by_tactic(&stats.by_rule);
    let mut body = serde_json::to_value(&stats).unwrap_or_default();
    body["by_tactic"] = json!(by_tactic);
    Ok(Json(body))
}

pub async fn dashboard(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let window = span(&mut p, "window", Duration::hours(24))?;
    p.finish()?;
    let to = Utc::now();
    let from = to - window;
    let stats = count(&state, from, to, window / 24).await?;
    let senders = state.store.list_senders().await.map_err(ApiError::store)?;
    let silent_after = state.config.get().monitoring.agent_silent_after_seconds;
    let silent = senders
        .iter()
        .filter(|s| {
            silent_after > 0
                && s.last_seen
                    .is_some_and(|seen| to - seen > Duration::seconds(silent_after as i64))
        })
        .count();
    let minutes = window.num_minutes().max(1) as f64;
    Ok(Json(json!({
        "window_seconds": window.num_seconds(),
        "from": from,
        "to": to,
        "events": stats.events,
        "events_per_minute": stats.events as f64 / minutes,
        "detections": stats.detections,
        "detections_per_minute": stats.detections as f64 / minutes,
        "by_severity": stats.by_severity,
        "bucket_seconds": stats.bucket_seconds,
        "over_time": stats.over_time,
        "top_rules": stats.by_rule.iter().take(TOP).collect::<Vec<_>>(),
        "top_source_ips": stats.by_source_ip,
        "top_hosts": stats.by_host,
        "attack_heatmap": heatmap(&stats.by_rule),
        "alerts_by_status": stats.alerts_by_status,
        "open_alerts_by_severity": stats.open_alerts_by_severity,
        "host_health": stats.host_health,
        "agents": {"total": senders.len(), "silent": silent},
    })))
}

async fn count(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Duration,
) -> Result<Statistics, ApiError> {
    if from >= to {
        return Err(ApiError::invalid_parameter("from", "must be before `to`"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(ApiError::invalid_parameter(
            "from",
            format!("the range is longer than {MAX_RANGE_DAYS} days"),
        ));
    }
    state
        .store
        .statistics(from, to, bucket.num_seconds().max(1))
        .await
        .map_err(ApiError::store)
}

/// A duration parameter (`1h`, `7d`), or `default`.
fn span(p: &mut Params, name: &str, default: Duration) -> Result<Duration, ApiError> {
    match p.text(name) {
        None => Ok(default),
        Some(text) => {
            let span = watchpost_core::time::parse_span(&text)
                .map_err(|e| ApiError::invalid_parameter(name, e))?;
            if span < Duration::minutes(1) || span > Duration::days(MAX_RANGE_DAYS) {
                return Err(ApiError::invalid_parameter(
                    name,
                    format!("`{text}` is out of range: 1m to {MAX_RANGE_DAYS}d"),
                ));
            }
            Ok(span)
        }
    }
}

/// Detections per ATT&CK tactic (a detection of a rule with several tactics counts for
/// each; rules without tags are left out).
fn by_tactic(rules: &[RuleCount]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for rule in rules {
        for tactic in &rule.tactics {
            *out.entry(tactic.clone()).or_default() += rule.count;
        }
    }
    out
}

/// Detections per (tactic, technique) pair, the largest first.
fn heatmap(rules: &[RuleCount]) -> Vec<Value> {
    let mut cells: BTreeMap<(String, String), i64> = BTreeMap::new();
    for rule in rules {
        for tactic in &rule.tactics {
            for technique in &rule.techniques {
                *cells
                    .entry((tactic.clone(), technique.clone()))
                    .or_default() += rule.count;
            }
        }
    }
    let mut cells: Vec<_> = cells.into_iter().collect();
    cells.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    cells
        .into_iter()
        .map(|((tactic, technique), count)| {
            json!({"tactic": tactic, "technique": technique, "count": count})
        })
        .collect()
}
