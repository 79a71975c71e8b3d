//! Slack incoming webhooks with Block Kit: a header, one section per alert (up to Slack's
//! limits), and a context line; `text` carries the fallback shown in push notifications.
//!
//! Limits respected: at most 50 blocks, header text ≤ 150 characters, section text ≤ 3000.
//! Untrusted text (titles, hosts come from detections) has `&`, `<` and `>` escaped so an
//! attacker-chosen string cannot ping `<!channel>` or forge links.

use crate::channel::{Channel, SendError};
use crate::http;
use crate::render::{alert_line, clip, headline};
use crate::template::Template;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use watchpost_alert::Notification;

const MAX_BLOCKS: usize = 50;
const MAX_HEADER: usize = 150;
const MAX_SECTION: usize = 3000;

pub struct Slack {
    client: reqwest::Client,
    url: String,
    /// Replaces the per-alert sections with one section of the operator's text.
    template: Option<Arc<Template>>,
}

impl Slack {
    pub fn new(
        url: String,
        timeout: Duration,
        template: Option<Arc<Template>>,
    ) -> Result<Slack, String> {
        Ok(Slack {
            client: http::client(timeout)?,
            url,
            template,
        })
    }
}

/// Slack's mrkdwn escaping.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message with the operator's text (already escaped by the template) in place of the
/// per-alert sections.
pub fn templated_message(n: &Notification, text: &str) -> Value {
    let title = headline(n);
    json!({"text": escape(&title), "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": clip(&title, MAX_HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}},
    ]})
}

/// The message body for a notification.
pub fn message(n: &Notification) -> Value {
    let title = headline(n);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&title, MAX_HEADER)}
    })];
    // Header + context take two blocks; one more says how many were left out.
    let room = MAX_BLOCKS - 3;
    for a in n.alerts.iter().take(room) {
        let mut text = format!("*{}*", escape(&alert_line(a)));
        if !a.tags.is_empty() {
            text.push_str(&format!("\nTags: {}", escape(&a.tags.join(", "))));
        }
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&text, MAX_SECTION)}
        }));
    }
    let left_out = n.alerts.len().saturating_sub(room) as u64 + n.truncated;
    if left_out > 0 {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("…and {left_out} more alerts")}
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": escape(&format!(
            "Watchpost · route {} · receiver {} · notice {}", n.route, n.receiver, n.id))}]
    }));
    json!({"text": escape(&title), "blocks": blocks})
}

#[async_trait]
impl Channel for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let body = match &self.template {
            Some(t) => templated_message(n, &t.render(n)?),
            None => message(n),
        };
        let (status, text) = http::send(self.client.post(&self.url).json(&body)).await?;
        Ok(format!("HTTP {} {}", status.as_u16(), text.trim()))
    }
}
