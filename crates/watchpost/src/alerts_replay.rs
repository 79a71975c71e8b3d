//! `watchpost alerts replay --config NEW.toml --since 7d`: what a proposed alerting
//! configuration would have sent over the stored history, against what was sent.
//!
//! The store is the one NEW.toml points at (or `--store-config`'s, when the proposal is a
//! file of its own). Detections and people's status changes in the window run through the
//! proposed pipeline on a simulated clock ([`watchpost_alert::replay`]); the notices it
//! makes are compared, per receiver and per alert, with the outbox's record.

use crate::db::open;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use watchpost_alert::replay::{Happening, Replay, Replayed};
use watchpost_alert::{ActiveSilence, Policy};
use watchpost_core::{Alert, Detection, Fingerprint};
use watchpost_store::{AlertQuery, DetectionQuery, OutboxEntry, Store, all_pages};

/// Most detections one replay reads; a longer history needs a shorter `--since`.
const MAX_DETECTIONS: usize = 500_000;
/// Most stored notices compared.
const MAX_NOTICES: u32 = 200_000;
/// Whether the replay makes this actor's status changes itself: detections reopen alerts,
/// detectors resolve them, the pipeline resolves by timeout.
fn replayed_actor(by: &str) -> bool {
    by == "detection" || by == "resolve_timeout" || by.starts_with("detector:")
}

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// How far back: `90m`, `12h`, `7d`, `2w`.
    #[arg(long, default_value = "7d", value_parser = watchpost_core::time::parse_span)]
    pub since: Duration,
    /// Read the store of this configuration instead of the proposed one's.
    #[arg(long)]
    pub store_config: Option<PathBuf>,
    /// How often timers run on the simulated clock, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub step_seconds: u32,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One side of the comparison for one receiver.
#[derive(Debug, Default, Serialize)]
struct Counts {
    sent: BTreeMap<String, u64>,
    would_send: BTreeMap<String, u64>,
}

/// An alert whose receivers differ between what was sent and what would be.
#[derive(Debug, Serialize)]
struct Difference {
    fingerprint: String,
    title: String,
    host: Option<String>,
    was_told: BTreeSet<String>,
    would_tell: BTreeSet<String>,
    /// Why the proposal would tell no one, when it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    held_back: Option<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    detections: usize,
    status_changes: usize,
    alerts: usize,
    receivers: BTreeMap<String, Counts>,
    differences: Vec<Difference>,
}

pub async fn run(proposed: &Option<PathBuf>, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let Some(proposed_path) = proposed else {
        anyhow::bail!("give the proposed configuration with --config NEW.toml");
    };
    let config = crate::cli::load_config(proposed, Vec::new())
        .with_context(|| format!("the proposed configuration {}", proposed_path.display()))?;
    let alerting = config.get().alerting.clone();
    let policy = Policy::compile(&alerting).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|(k, m)| format!("  {k}: {m}")).collect();
        anyhow::anyhow!("invalid alerting configuration:\n{}", lines.join("\n"))
    })?;
    let store_config = args.store_config.clone().or_else(|| proposed.clone());
    let store = open(&store_config).await?;

    let until = Utc::now();
    let since = until - args.since;
    let detections = detections_since(store.as_ref(), since).await?;
    let alerts = alerts_since(store.as_ref(), since).await?;
    let silences: Vec<ActiveSilence> = store
        .list_silences(since)
        .await?
        .into_iter()
        .filter_map(|s| ActiveSilence::new(s).ok())
        .collect();
    let mut happenings: Vec<(DateTime<Utc>, Happening)> = detections
        .iter()
        .map(|d| (d.timestamp, Happening::Detection(Box::new(d.clone()))))
        .collect();
    let status_changes = status_changes(&alerts, since);
    let changes_count = status_changes.len();
    happenings.extend(status_changes);
    happenings.sort_by_key(|(at, _)| *at);

    let mut replay = Replay::new(
        Arc::new(policy),
        silences,
        Duration::seconds(i64::from(args.step_seconds)),
    );
    for (at, happening) in &happenings {
        replay.apply(*at, happening);
    }
    let replayed = replay.finish(until);
    let sent = store.notifications_since(since, MAX_NOTICES).await?;
    if sent.len() >= MAX_NOTICES as usize {
        anyhow::bail!(
            "the window holds {MAX_NOTICES} or more sent notices, more than a replay compares: \
             replay a shorter --since"
        );
    }

    let (receivers, differences) = compare(&replayed, &sent, &alerts);
    let report = Report {
        since,
        until,
        detections: detections.len(),
        status_changes: changes_count,
        alerts: replayed.alerts.len(),
        receivers,
        differences,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The detections in the window, oldest first.
async fn detections_since(
    store: &dyn Store,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<Detection>> {
    let mut out = all_pages(MAX_DETECTIONS, |cursor| async move {
        let query = DetectionQuery {
            from: Some(since),
            cursor,
            limit: Some(watchpost_store::MAX_PAGE_SIZE),
            ..DetectionQuery::default()
        };
        store.query_detections(&query).await
    })
    .await
    .context("reading the window's detections (replay a shorter --since)")?;
    out.sort_by_key(|d| d.timestamp);
    Ok(out)
}

/// The alerts active in the window, by fingerprint.
async fn alerts_since(
    store: &dyn Store,
    since: DateTime<Utc>,
) -> anyhow::Result<BTreeMap<Fingerprint, Alert>> {
    let alerts = all_pages(MAX_DETECTIONS, |cursor| async move {
        let query = AlertQuery {
            from: Some(since),
            cursor,
            limit: Some(watchpost_store::MAX_PAGE_SIZE),
            ..AlertQuery::default()
        };
        store.query_alerts(&query).await
    })
    .await
    .context("reading the window's alerts (replay a shorter --since)")?;
    Ok(alerts
        .into_iter()
        .map(|a| (a.fingerprint.clone(), a))
        .collect())
}

/// The status changes people (and detectors' own resolves) made in the window; those the
/// pipeline makes itself are left for the replay to make again.
fn status_changes(
    alerts: &BTreeMap<Fingerprint, Alert>,
    since: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Happening)> {
    alerts
        .values()
        .flat_map(|a| {
            a.history
                .iter()
                .filter(|c| c.at >= since && !replayed_actor(&c.by))
                .map(|c| {
                    (
                        c.at,
                        Happening::Status {
                            fingerprint: a.fingerprint.clone(),
                            to: c.to,
                            by: c.by.clone(),
                            reason: c.reason.clone(),
                        },
                    )
                })
        })
        .collect()
}

/// Per receiver and kind, and per alert, what was sent against what would be.
fn compare(
    replayed: &Replayed,
    sent: &[OutboxEntry],
    stored: &BTreeMap<Fingerprint, Alert>,
) -> (BTreeMap<String, Counts>, Vec<Difference>) {
    let mut receivers: BTreeMap<String, Counts> = BTreeMap::new();
    let mut was_told: BTreeMap<Fingerprint, BTreeSet<String>> = BTreeMap::new();
    let mut would_tell: BTreeMap<Fingerprint, BTreeSet<String>> = BTreeMap::new();
    for entry in sent {
        let n = &entry.notification;
        *receivers
            .entry(n.receiver.clone())
            .or_default()
            .sent
            .entry(n.kind.name().to_string())
            .or_default() += 1;
        for a in &n.alerts {
            was_told
                .entry(a.fingerprint.clone())
                .or_default()
                .insert(n.receiver.clone());
        }
    }
    for n in &replayed.notifications {
        *receivers
            .entry(n.receiver.clone())
            .or_default()
            .would_send
            .entry(n.kind.name().to_string())
            .or_default() += 1;
        for a in &n.alerts {
            would_tell
                .entry(a.fingerprint.clone())
                .or_default()
                .insert(n.receiver.clone());
        }
    }
    let mut differences = Vec::new();
    for (fp, alert) in &replayed.alerts {
        let was = was_told.remove(fp).unwrap_or_default();
        let would = would_tell.remove(fp).unwrap_or_default();
        if was == would {
            continue;
        }
        let shown = stored.get(fp).unwrap_or(alert);
        differences.push(Difference {
            fingerprint: fp.0.clone(),
            title: shown.title.clone(),
            host: shown.host.clone(),
            held_back: would
                .is_empty()
                .then(|| replayed.held_back_because(alert).map(|t| t.detail.clone()))
                .flatten(),
            was_told: was,
            would_tell: would,
        });
    }
    (receivers, differences)
}

fn print(report: &Report) {
    println!(
        "replayed {} detections and {} status changes ({} alerts) from {} to {}",
        report.detections,
        report.status_changes,
        report.alerts,
        report.since.format("%Y-%m-%d %H:%M UTC"),
        report.until.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "\n{:<24} {:<18} {:>8} {:>12}",
        "receiver", "notice", "sent", "would send"
    );
    for (receiver, counts) in &report.receivers {
        let kinds: BTreeSet<&String> = counts.sent.keys().chain(counts.would_send.keys()).collect();
        for kind in kinds {
            println!(
                "{:<24} {:<18} {:>8} {:>12}",
                receiver,
                kind,
                counts.sent.get(kind).copied().unwrap_or(0),
                counts.would_send.get(kind).copied().unwrap_or(0)
            );
        }
    }
    if report.differences.is_empty() {
        println!("\nevery alert would reach the same receivers as before");
        return;
    }
    println!("\nalerts that would reach different receivers:");
    let list = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "no one".to_string()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    for d in &report.differences {
        println!(
            "  {}{} [{}]: was told {} → would tell {}{}",
            d.title,
            d.host
                .as_ref()
                .map(|h| format!(" on {h}"))
                .unwrap_or_default(),
            d.fingerprint,
            list(&d.was_told),
            list(&d.would_tell),
            d.held_back
                .as_ref()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default()
        );
    }
}
