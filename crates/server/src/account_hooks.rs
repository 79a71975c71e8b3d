//! Telling applications of account suspensions: each `response.account_webhooks` entry
//! gets a signed JSON call when a playbook or an analyst suspends an account and when the
//! suspension is lifted or ends, so that applications without a Watchpost layer end the
//! account's sessions and refuse its logins too.
//!
//! The call is the generic webhook's: `X-Watchpost-Event` (`account.suspended`,
//! `account.reinstated`), `X-Watchpost-Timestamp` (Unix seconds), `Idempotency-Key` (the
//! action and the event: a retry carries the same one) and, with a secret,
//! `X-Watchpost-Signature: v1=HEX`, HEX being HMAC-SHA256(secret, "{timestamp}.{body}").

use serde_json::json;
use std::time::Duration;
use watchpost_config::AccountWebhook;
use watchpost_core::{Action, Decision};

/// Tries per application, a second apart.
const TRIES: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Calls every configured application; returns what each answered, for the action's
/// record (`https://app.example/hooks: 204`).
pub async fn tell(
    hooks: &[AccountWebhook],
    event: &str,
    action: &Action,
    user: &str,
    decision: Option<&Decision>,
) -> Vec<String> {
    if hooks.is_empty() {
        return Vec::new();
    }
    let body = json!({
        "version": "1",
        "event": event,
        "user": user,
        "until": decision.map(|d| d.until),
        "reason": action.reason,
        "action_id": action.id,
        "incident_id": action.incident_id,
        "decision_id": decision.map(|d| d.id),
        "at": chrono::Utc::now(),
    })
    .to_string();
    let client = match watchpost_notify::http::client(TIMEOUT) {
        Ok(c) => c,
        Err(e) => return vec![format!("no HTTP client: {e}")],
    };
    let mut outcomes = Vec::with_capacity(hooks.len());
    for hook in hooks {
        let mut last = String::new();
        let mut told = false;
        for attempt in 0..TRIES {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let timestamp = chrono::Utc::now().timestamp();
            let mut request = client
                .post(&hook.url)
                .header("content-type", "application/json")
                .header("x-watchpost-event", event)
                .header("x-watchpost-timestamp", timestamp.to_string())
                .header("idempotency-key", format!("{}:{event}", action.id))
                .body(body.clone());
            if let Some(secret) = hook.secret.as_deref().filter(|s| !s.is_empty()) {
                request = request.header(
                    "x-watchpost-signature",
                    watchpost_notify::webhook::signature(secret, timestamp, body.as_bytes()),
                );
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => {
                    last = format!("{}: {}", hook.url, r.status().as_u16());
                    told = true;
                    break;
                }
                Ok(r) => last = format!("{}: {}", hook.url, r.status().as_u16()),
                Err(e) => last = format!("{}: {e}", hook.url),
            }
        }
        if !told {
            tracing::warn!(outcome = %last, event, user, "an application was not told of an account change");
        }
        outcomes.push(last);
    }
    outcomes
}
