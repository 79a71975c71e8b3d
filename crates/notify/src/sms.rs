//! SMS: Twilio's Messages API, and a generic SMS-gateway webhook for any other provider.
//!
//! Twilio: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`,
//! `From` (or `MessagingServiceSid`) and `Body` (at most 1,600 characters), HTTP Basic auth
//! with the Account SID and auth token; `201 Created` with the message's `sid` is success.
//! The gateway: `POST url` with JSON `{"id", "to", "text", "severity", "kind"}` per number,
//! optionally signed like the webhook channel. One request per recipient; a retry sends to
//! every recipient again, so one number per channel is the way to never get a text twice.

use crate::channel::{Channel, SendError};
use crate::http;
use crate::render::{short_text, top_severity};
use crate::template::{Template, text_or};
use crate::webhook::signature;
use async_trait::async_trait;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use watchpost_alert::Notification;
use watchpost_alert::config::ChannelConfig;

/// Twilio's API base.
pub const TWILIO_API: &str = "https://api.twilio.com";
/// Twilio's limit on `Body`.
pub const MAX_SMS_CHARS: usize = 1600;

/// The text of an SMS for `n`: the operator's template or the short default, cut to the
/// length an SMS provider takes.
fn sms_text(template: Option<&Template>, n: &Notification) -> Result<String, SendError> {
    let text = text_or(template, n, || short_text(n))?;
    Ok(crate::render::clip(text.trim(), MAX_SMS_CHARS))
}

pub struct Twilio {
    client: reqwest::Client,
    messages_url: String,
    account_sid: String,
    auth_token: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    to: Vec<String>,
    template: Option<Arc<Template>>,
}

impl Twilio {
    pub fn from_config(
        c: &ChannelConfig,
        template: Option<Arc<Template>>,
    ) -> Result<Twilio, String> {
        let account_sid = c.account_sid.clone().unwrap_or_default();
        let base = c.url.as_deref().unwrap_or(TWILIO_API).trim_end_matches('/');
        Ok(Twilio {
            client: http::client(Duration::from_secs(c.timeout_seconds))?,
            messages_url: format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
            account_sid,
            auth_token: crate::delivery::exposed(&c.auth_token).unwrap_or_default(),
            from: c.from.clone(),
            messaging_service_sid: c.messaging_service_sid.clone(),
            to: c.to.clone(),
            template,
        })
    }
}

#[async_trait]
impl Channel for Twilio {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let body = sms_text(self.template.as_deref(), n)?;
        let mut sids = Vec::new();
        for to in &self.to {
            let mut form = vec![("To", to.as_str()), ("Body", body.as_str())];
            match (&self.messaging_service_sid, &self.from) {
                (Some(service), _) => form.push(("MessagingServiceSid", service)),
                (None, Some(from)) => form.push(("From", from)),
                (None, None) => {}
            }
            let request = self
                .client
                .post(&self.messages_url)
                .basic_auth(&self.account_sid, Some(&self.auth_token))
                .form(&form);
            let (_, answer) = http::send(request).await.map_err(|mut e| {
                e.message = format!("Twilio, to {to}: {}", e.message);
                e
            })?;
            let sid = serde_json::from_str::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v.get("sid").and_then(|s| s.as_str()).map(str::to_string))
                .unwrap_or_else(|| "?".into());
            sids.push(format!("{to}: {sid}"));
        }
        Ok(format!("Twilio accepted {}", sids.join(", ")))
    }
}

pub struct SmsGateway {
    client: reqwest::Client,
    url: String,
    secret: Option<String>,
    headers: BTreeMap<String, String>,
    to: Vec<String>,
    template: Option<Arc<Template>>,
}

impl SmsGateway {
    pub fn from_config(
        c: &ChannelConfig,
        template: Option<Arc<Template>>,
    ) -> Result<SmsGateway, String> {
        Ok(SmsGateway {
            client: http::client(Duration::from_secs(c.timeout_seconds))?,
            url: c.url.clone().unwrap_or_default(),
            secret: crate::delivery::exposed(&c.secret),
            headers: crate::delivery::exposed_headers(&c.headers),
            to: c.to.clone(),
            template,
        })
    }
}

#[async_trait]
impl Channel for SmsGateway {
    fn kind(&self) -> &'static str {
        "sms_gateway"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let text = sms_text(self.template.as_deref(), n)?;
        for to in &self.to {
            let body = serde_json::to_vec(&json!({
                "id": format!("{}:{to}", n.id),
                "to": to,
                "text": text,
                "severity": top_severity(n).as_str(),
                "kind": n.kind.name(),
            }))
            .map_err(|e| SendError::permanent(format!("cannot encode the message: {e}")))?;
            let timestamp = chrono::Utc::now().timestamp();
            let mut request = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("idempotency-key", format!("{}:{to}", n.id))
                .header("x-watchpost-timestamp", timestamp.to_string());
            if let Some(secret) = &self.secret {
                request =
                    request.header("x-watchpost-signature", signature(secret, timestamp, &body));
            }
            for (k, v) in &self.headers {
                request = request.header(k, v);
            }
            http::send(request.body(body)).await.map_err(|mut e| {
                e.message = format!("SMS gateway, to {to}: {}", e.message);
                e
            })?;
        }
        Ok(format!("gateway accepted {} message(s)", self.to.len()))
    }
}
