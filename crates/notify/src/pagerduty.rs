//! PagerDuty Events API v2: one event per alert, `dedup_key` = the alert's fingerprint, so
//! PagerDuty's incident follows our alert through trigger → acknowledge → resolve.
//!
//! `payload.summary` ≤ 1024 characters, `dedup_key` ≤ 255; severities map critical →
//! critical, high → error, medium → warning, low and info → info. A 202 is success; 400 is
//! a refusal; 429 and 5xx are retried (PagerDuty dedups a re-sent trigger by its key).

use crate::channel::{Channel, SendError};
use crate::http;
use crate::render::{clip, headline, subject, top_severity};
use crate::template::{Template, for_alert};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use watchpost_alert::{Notification, NotificationKind};
use watchpost_core::{Alert, AlertStatus, Severity};

/// PagerDuty's endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const MAX_SUMMARY: usize = 1024;

pub struct PagerDuty {
    client: reqwest::Client,
    url: String,
    routing_key: String,
    /// Replaces each alert's `payload.summary` (rendered for that alert alone).
    template: Option<Arc<Template>>,
}

impl PagerDuty {
    pub fn new(
        url: Option<String>,
        routing_key: String,
        timeout: Duration,
        template: Option<Arc<Template>>,
    ) -> Result<PagerDuty, String> {
        Ok(PagerDuty {
            client: http::client(timeout)?,
            url: url.unwrap_or_else(|| EVENTS_URL.to_string()),
            routing_key,
            template,
        })
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

fn alert_event(routing_key: &str, kind: &NotificationKind, a: &Alert) -> Value {
    let action = match (kind, a.status) {
        (_, AlertStatus::Resolved) => "resolve",
        (NotificationKind::Acknowledged, _) => "acknowledge",
        _ => "trigger",
    };
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": clip(&a.fingerprint.0, 255),
    });
    if action == "trigger" {
        let summary = subject(a);
        event["payload"] = json!({
            "summary": clip(&summary, MAX_SUMMARY),
            "source": a.host.clone().unwrap_or_else(|| "watchpost".into()),
            "severity": severity(a.severity),
            "timestamp": a.last_seen.to_rfc3339(),
            "component": a.detector,
            "class": a.category.clone().unwrap_or_else(|| a.rule_id.clone()),
            "custom_details": {
                "rule": a.rule_id,
                "count": a.count,
                "first_seen": a.first_seen.to_rfc3339(),
                "last_seen": a.last_seen.to_rfc3339(),
                "source_ip": a.source_ip,
                "tags": a.tags,
                "labels": a.labels,
                "alert_id": a.id,
            }
        });
        event["client"] = json!("Watchpost");
    }
    event
}

/// The events one notification becomes.
pub fn events(routing_key: &str, n: &Notification) -> Vec<Value> {
    match &n.kind {
        NotificationKind::Digest { held_back } => vec![json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": format!("watchpost-digest-{}", n.id),
            "payload": {
                "summary": clip(&headline(n), MAX_SUMMARY),
                "source": "watchpost",
                "severity": severity(top_severity(n)),
                "timestamp": n.created_at.to_rfc3339(),
                "custom_details": {"held_back": held_back, "receiver": n.receiver},
            },
            "client": "Watchpost",
        })],
        NotificationKind::SilenceExpiring { .. } => Vec::new(),
        kind => n
            .alerts
            .iter()
            .map(|a| alert_event(routing_key, kind, a))
            .collect(),
    }
}

#[async_trait]
impl Channel for PagerDuty {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let mut events = events(&self.routing_key, n);
        if let Some(t) = &self.template
            && !matches!(n.kind, NotificationKind::Digest { .. })
        {
            for (event, a) in events.iter_mut().zip(&n.alerts) {
                let summary = t.render(&for_alert(n, a))?;
                event["payload"]["summary"] = clip(summary.trim(), MAX_SUMMARY).into();
            }
        }
        if events.is_empty() {
            return Ok("nothing for PagerDuty (silence reminders stay in Watchpost)".into());
        }
        for event in &events {
            http::send(self.client.post(&self.url).json(event)).await?;
        }
        Ok(format!("{} event(s) accepted", events.len()))
    }
}
