//! Watches for agents that stopped reporting: an agent that has not shipped anything
//! (events, detections or its heartbeat) for `monitoring.agent_silent_after_seconds`
//! raises one detection per silence; it may be down, cut off, or stopped by an intruder.
//! When it reports again its silence alert is resolved (also one left open by an earlier
//! run of the server), and a later silence raises a new one.

use crate::alerting::Triage;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::time::Duration;
use watchpost_core::{Alert, AlertStatus};
use watchpost_core::{Detection, Entity, Severity};
use watchpost_store::AlertQuery;

/// The rule id of the detection.
pub const RULE_ID: &str = "watchpost.agent_silent";

/// Checks now and then for as long as the server runs.
pub async fn run(state: AppState) {
    // Agents with a silence alert open: the ones this run raised, and any left open before.
    let mut reported: HashSet<String> = open_silences(&state).await;
    loop {
        let after = state.config.get().monitoring.agent_silent_after_seconds;
        if after > 0 {
            check(&state, after, &mut reported).await;
        }
        // Often enough that a silence is noticed within a quarter of the limit.
        let pause = (after / 4).clamp(1, 30);
        tokio::time::sleep(Duration::from_secs(pause)).await;
    }
}

async fn check(state: &AppState, after_seconds: u64, reported: &mut HashSet<String>) {
    let senders = match state.store.list_senders().await {
        Ok(senders) => senders,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list agents to check for silence");
            return;
        }
    };
    let now = Utc::now();
    let limit = chrono::Duration::seconds(after_seconds.min(i64::MAX as u64) as i64);
    for sender in senders.iter().filter(|s| s.kind == "agent") {
        // An agent that never reported is enrolled, not silent.
        let Some(last_seen) = sender.last_seen else {
            continue;
        };
        if now - last_seen < limit {
            if reported.remove(&sender.name) {
                resolve_silence(state, &sender.name, last_seen).await;
            }
            continue;
        }
        if !reported.insert(sender.name.clone()) {
            continue;
        }
        let mut d = Detection::new(RULE_ID, "Agent went silent", Severity::Medium, "watchpost");
        d.category = Some("host".into());
        d.host = Some(sender.name.clone());
        d.entity = Some(Entity::Host {
            name: sender.name.clone(),
        });
        d.summary = format!(
            "agent {} has not reported since {} (limit {after_seconds} s)",
            sender.name,
            last_seen.to_rfc3339()
        );
        d.evidence = serde_json::json!({
            "agent": sender.name,
            "agent_id": sender.id,
            "last_seen": last_seen.to_rfc3339(),
            "address": sender.address,
            "version": sender.version,
            "silent_after_seconds": after_seconds,
        });
        tracing::warn!(agent = %sender.name, %last_seen, "agent went silent");
        if let Err(e) = state.alerts.record(&[d]).await {
            tracing::error!(error = %e, "silent-agent detection could not be stored");
            reported.remove(&sender.name);
        } else {
            state.metrics.detections.inc();
        }
    }
}

/// The silence alerts still open, by agent name.
async fn open_silences(state: &AppState) -> HashSet<String> {
    let mut open = HashSet::new();
    for status in [AlertStatus::Firing, AlertStatus::Acknowledged] {
        let query = AlertQuery {
            rule_id: Some(RULE_ID.into()),
            status: Some(status),
            limit: Some(1000),
            ..AlertQuery::default()
        };
        match state.store.query_alerts(&query).await {
            Ok(page) => open.extend(page.items.iter().filter_map(silent_agent_name)),
            Err(e) => tracing::warn!(error = %e, "cannot read open silence alerts"),
        }
    }
    open
}

/// The agent a silence alert is about.
fn silent_agent_name(alert: &Alert) -> Option<String> {
    alert.host.clone()
}

/// Resolves the open silence alerts of the agent `name`, which reported at `last_seen`.
async fn resolve_silence(state: &AppState, name: &str, last_seen: DateTime<Utc>) {
    let query = AlertQuery {
        rule_id: Some(RULE_ID.into()),
        host: Some(name.to_string()),
        limit: Some(100),
        ..AlertQuery::default()
    };
    let alerts = match state.store.query_alerts(&query).await {
        Ok(page) => page.items,
        Err(e) => {
            tracing::warn!(error = %e, agent = name, "cannot read the silence alert to resolve it");
            return;
        }
    };
    for alert in alerts
        .into_iter()
        .filter(|a| a.status != AlertStatus::Resolved)
    {
        let reason = format!("the agent reported again at {}", last_seen.to_rfc3339());
        tracing::info!(agent = name, "agent reports again; its silence is resolved");
        if let Err(e) = state
            .alerts
            .triage(alert.id, Triage::Resolve, "watchpost", Some(reason))
            .await
        {
            tracing::warn!(error = %e, agent = name, "the silence alert could not be resolved");
        }
    }
}
