//! A proxy enforces the server's decisions: it reads the decision stream
//! (`GET /v1/decisions/stream`) with its own sender token, as a CrowdSec bouncer would,
//! and puts each address ban into its shield's blocklist for the time the decision has
//! left; a lifted or expired decision leaves the blocklist at the next poll. Network
//! (`Range`) decisions are left to network enforcers (a firewall bouncer) and counted.
//!
//! The first poll asks for everything in force (`startup=true`), and so does the first
//! after the server was unreachable, so that nothing missed while it was away lingers.

use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use watchpost_web::blocklist::Blocklist;

/// One decision as the stream serves it (the fields a proxy needs).
#[derive(Debug, Deserialize)]
struct WireDecision {
    #[serde(rename = "type")]
    kind: String,
    scope: String,
    value: String,
    duration: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    id: i64,
}

#[derive(Debug, Deserialize)]
struct StreamAnswer {
    #[serde(default)]
    new: Option<Vec<WireDecision>>,
    #[serde(default)]
    deleted: Option<Vec<WireDecision>>,
}

/// Decisions in one answer at most (a bigger answer is refused, not half applied).
const MAX_DECISIONS: usize = 500_000;
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 128 << 20;

/// Polls `server`'s decision stream every `every` until the process ends.
pub fn follow(server: String, token: String, every: Duration, blocklist: Arc<Blocklist>) {
    tokio::spawn(async move {
        let client = match watchpost_notify::http::client(Duration::from_secs(30)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "decisions will not be enforced: no HTTP client");
                return;
            }
        };
        let url = format!("{}/v1/decisions/stream", server.trim_end_matches('/'));
        let mut startup = true;
        loop {
            match poll(&client, &url, &token, startup).await {
                Ok(answer) => {
                    let (added, lifted, skipped) = apply(&answer, &blocklist);
                    if added + lifted + skipped > 0 {
                        tracing::info!(added, lifted, skipped, "decisions from the server applied");
                    }
                    startup = false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the decision stream could not be read; retrying");
                    startup = true;
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

async fn poll(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    startup: bool,
) -> anyhow::Result<StreamAnswer> {
    let response = client
        .get(format!("{url}?startup={startup}"))
        .header("X-Api-Key", token)
        .header(
            "User-Agent",
            concat!("watchpost-proxy/", env!("CARGO_PKG_VERSION")),
        )
        .send()
        .await?;
    let body = crate::http_read::bounded_success(response, MAX_ANSWER_BYTES).await?;
    let answer: StreamAnswer = serde_json::from_slice(&body)?;
    let count =
        answer.new.as_ref().map_or(0, Vec::len) + answer.deleted.as_ref().map_or(0, Vec::len);
    anyhow::ensure!(count <= MAX_DECISIONS, "{count} decisions in one answer");
    Ok(answer)
}

/// Applies an answer: (added, lifted, skipped).
fn apply(answer: &StreamAnswer, blocklist: &Blocklist) -> (usize, usize, usize) {
    let (mut added, mut lifted, mut skipped) = (0, 0, 0);
    for d in answer.deleted.iter().flatten() {
        if let Some(ip) = address(d) {
            blocklist.unblock(ip);
            lifted += 1;
        }
    }
    for d in answer.new.iter().flatten() {
        let ttl = watchpost_core::duration::parse_go(&d.duration).filter(|t| !t.is_zero());
        match (address(d), ttl) {
            (Some(ip), Some(ttl)) if d.kind == "ban" => {
                if blocklist.block(ip, ttl, &format!("decision {}: {}", d.id, d.scenario)) {
                    added += 1;
                } else {
                    skipped += 1;
                }
            }
            _ => skipped += 1,
        }
    }
    (added, lifted, skipped)
}

/// The address of an `Ip` decision.
fn address(d: &WireDecision) -> Option<IpAddr> {
    d.scope
        .eq_ignore_ascii_case("ip")
        .then(|| d.value.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_of_addresses_are_applied_and_lifted() {
        let blocklist = Blocklist::default();
        let answer: StreamAnswer = serde_json::from_value(serde_json::json!({
            "new": [
                {"id": 1, "type": "ban", "scope": "Ip", "value": "203.0.113.5", "duration": "1h0m0s", "scenario": "sqli"},
                {"id": 2, "type": "ban", "scope": "Range", "value": "198.51.100.0/24", "duration": "1h0m0s", "scenario": "x"},
                {"id": 3, "type": "captcha", "scope": "Ip", "value": "203.0.113.6", "duration": "1h0m0s", "scenario": "x"}
            ],
            "deleted": null
        }))
        .unwrap();
        assert_eq!(apply(&answer, &blocklist), (1, 0, 2));
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        assert!(blocklist.blocked(ip).is_some());
        let lift: StreamAnswer = serde_json::from_value(serde_json::json!({
            "new": [],
            "deleted": [{"id": 1, "type": "ban", "scope": "Ip", "value": "203.0.113.5", "duration": "-3s"}]
        }))
        .unwrap();
        assert_eq!(apply(&lift, &blocklist), (0, 1, 0));
        assert!(blocklist.blocked(ip).is_none());
    }
}
