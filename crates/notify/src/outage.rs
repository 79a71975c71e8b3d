//! Channels that keep failing: each one's outage is followed from its first failed attempt
//! to its next delivery, and one that has failed for its `failing_alert_after_seconds`
//! raises an alert about itself, sent through its fallback channel (the failing channel
//! would not carry it), once per outage.

use crate::delivery::Channels;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use watchpost_alert::{Notification, NotificationKind};
use watchpost_core::{Alert, Detection, Severity};
use watchpost_store::{AttemptOutcome, Store};

/// One channel's current outage.
struct Outage {
    since: DateTime<Utc>,
    failed_attempts: u64,
    last_error: String,
    warned: bool,
}

/// The outages of every channel.
#[derive(Default)]
pub(crate) struct Outages {
    by_channel: HashMap<String, Outage>,
}

/// An alert about a failing channel, to be sent through its fallback.
pub(crate) struct Warning {
    channel: String,
    label: String,
    fallback: String,
    since: DateTime<Utc>,
    failed_attempts: u64,
    last_error: String,
}

impl Outages {
    /// Follows an attempt's outcome on the channel named `channel`.
    pub fn observe(&mut self, channel: &str, outcome: &AttemptOutcome, now: DateTime<Utc>) {
        match outcome {
            AttemptOutcome::Sent { .. } => {
                if let Some(outage) = self.by_channel.remove(channel) {
                    tracing::info!(
                        channel,
                        failed_attempts = outage.failed_attempts,
                        down_for = %human(now - outage.since),
                        "notification channel delivers again"
                    );
                }
            }
            AttemptOutcome::Retry { error, .. } | AttemptOutcome::Dead { error } => {
                let outage = self
                    .by_channel
                    .entry(channel.to_string())
                    .or_insert_with(|| Outage {
                        since: now,
                        failed_attempts: 0,
                        last_error: String::new(),
                        warned: false,
                    });
                outage.failed_attempts += 1;
                outage.last_error.clone_from(error);
            }
            AttemptOutcome::Skipped { .. } => {}
        }
    }

    /// Outages that have lasted their channel's `failing_alert_after_seconds` and have not
    /// been told of yet.
    pub fn due_warnings(&mut self, channels: &Channels, now: DateTime<Utc>) -> Vec<Warning> {
        let mut out = Vec::new();
        for (name, outage) in &mut self.by_channel {
            let Some(c) = channels.by_name.get(name) else {
                continue;
            };
            if outage.warned || now - outage.since < c.failing_alert_after {
                continue;
            }
            outage.warned = true;
            match &c.fallback {
                Some(fallback) => out.push(Warning {
                    channel: name.clone(),
                    label: c.label.clone(),
                    fallback: fallback.clone(),
                    since: outage.since,
                    failed_attempts: outage.failed_attempts,
                    last_error: outage.last_error.clone(),
                }),
                None => tracing::error!(
                    channel = %c.label,
                    since = %outage.since,
                    last_error = %outage.last_error,
                    "notification channel keeps failing and has no fallback to say so through"
                ),
            }
        }
        out
    }
}

/// Stores the alert about a failing channel and its notice to the fallback, in one write.
pub(crate) async fn raise(store: &dyn Store, w: Warning, now: DateTime<Utc>) {
    let title = format!(
        "Notification channel {} has failed since {}",
        w.label,
        w.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut d = Detection::new(
        "watchpost.channel_failing",
        &title,
        Severity::High,
        "server",
    );
    d.summary = format!(
        "Channel {} has failed every delivery since {} ({} attempts; last: {}); notices wait in its backlog",
        w.label,
        w.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        w.failed_attempts,
        w.last_error
    );
    d.evidence = serde_json::json!({
        "channel": w.channel,
        "failing_since": w.since,
        "failed_attempts": w.failed_attempts,
        "last_error": w.last_error,
    });
    let labels = BTreeMap::from([("channel".to_string(), w.channel.clone())]);
    let alert = Alert::from_detection(&d, labels.clone());
    let notice = Notification {
        id: uuid::Uuid::now_v7(),
        kind: NotificationKind::Firing,
        receiver: w.fallback.clone(),
        route: format!("channel-failing:{}", w.channel),
        group_key: format!("channel-failing:{}", w.channel),
        group_labels: labels,
        alerts: vec![alert.clone()],
        truncated: 0,
        silence: None,
        created_at: now,
    };
    tracing::error!(channel = %w.label, fallback = %w.fallback, "notification channel keeps failing: alert sent through its fallback");
    if let Err(e) = store.record_pipeline(&[notice], &[], &[alert]).await {
        tracing::error!(error = %e, "cannot record the alert about a failing channel");
    }
}

/// `86400 s` as `24h`, `90 s` as `1m30s`: durations in messages people read.
pub(crate) fn human(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human(chrono::Duration::seconds(86_400)), "24h");
        assert_eq!(human(chrono::Duration::seconds(90)), "1m30s");
        assert_eq!(human(chrono::Duration::seconds(0)), "0s");
    }
}
