//! Watches for agents that stopped reporting: an agent that has not shipped anything
//! (events, detections or its heartbeat) for `monitoring.agent_silent_after_seconds`
//! raises one detection per silence; it may be down, cut off, or stopped by an intruder.
//! When it reports again, a later silence raises a new one.

use crate::state::AppState;
use chrono::Utc;
use std::collections::HashSet;
use std::time::Duration;
use watchpost_core::{Detection, Entity, Severity};

/// The rule id of the detection.
pub const RULE_ID: &str = "watchpost.agent_silent";

/// Checks now and then for as long as the server runs.
pub async fn run(state: AppState) {
    let mut reported: HashSet<String> = HashSet::new();
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
            reported.remove(&sender.id);
            continue;
        }
        if !reported.insert(sender.id.clone()) {
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
            reported.remove(&sender.id);
        } else {
            state.metrics.detections.inc();
        }
    }
}
