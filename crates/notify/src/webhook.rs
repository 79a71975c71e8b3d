//! The generic webhook: the notification as JSON, signed so the receiver can trust it.
//!
//! Headers: `Idempotency-Key` (the notification id: a retry carries the same one, so a
//! receiver dedups on it), `X-Watchpost-Event` (firing, resolved…), `X-Watchpost-Timestamp`
//! (Unix seconds) and, with a secret, `X-Watchpost-Signature: v1=HEX` where HEX is
//! HMAC-SHA256(secret, "{timestamp}.{body}"). A receiver recomputes it over the raw body,
//! compares in constant time, and refuses timestamps far from its clock (replays).

use crate::channel::{Channel, SendError};
use crate::http;
use crate::template::Template;
use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use watchpost_alert::Notification;

/// The body's format version, so receivers can tell future changes apart.
pub const PAYLOAD_VERSION: &str = "1";

pub struct Webhook {
    client: reqwest::Client,
    url: String,
    secret: Option<String>,
    headers: BTreeMap<String, String>,
    /// Replaces the JSON body (its content type then comes from `headers`, else
    /// `text/plain`).
    template: Option<Arc<Template>>,
}

impl Webhook {
    pub fn new(
        url: String,
        secret: Option<String>,
        headers: BTreeMap<String, String>,
        timeout: Duration,
        template: Option<Arc<Template>>,
    ) -> Result<Webhook, String> {
        Ok(Webhook {
            client: http::client(timeout)?,
            url,
            secret,
            headers,
            template,
        })
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", watchpost_core::hex(&mac.finalize().into_bytes()))
}

/// The JSON body of a notification.
pub fn payload(n: &Notification) -> Result<Vec<u8>, SendError> {
    let mut value = serde_json::to_value(n)
        .map_err(|e| SendError::permanent(format!("cannot encode the notification: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.insert("version".into(), PAYLOAD_VERSION.into());
    }
    serde_json::to_vec(&value)
        .map_err(|e| SendError::permanent(format!("cannot encode the notification: {e}")))
}

#[async_trait]
impl Channel for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let (body, content_type) = match &self.template {
            Some(t) => (t.render(n)?.into_bytes(), "text/plain; charset=utf-8"),
            None => (payload(n)?, "application/json"),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self.client.post(&self.url);
        if !self
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", content_type);
        }
        request = request
            .header("idempotency-key", n.id.to_string())
            .header("x-watchpost-event", n.kind.name())
            .header("x-watchpost-timestamp", timestamp.to_string());
        if let Some(secret) = &self.secret {
            request = request.header("x-watchpost-signature", signature(secret, timestamp, &body));
        }
        for (k, v) in &self.headers {
            request = request.header(k, v);
        }
        let (status, _) = http::send(request.body(body)).await?;
        Ok(format!("HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Known answer from an independent implementation:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature("key", 1_700_000_000, b"{}"),
            "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
