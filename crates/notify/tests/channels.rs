//! Each channel against a local receiver that checks the vendor's documented wire format,
//! and the delivery worker's retries, dead letters and fallbacks through a real store.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use chrono::Utc;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use watchpost_alert::NotificationKind;
use watchpost_core::{Alert, AlertStatus, Severity};
use watchpost_store::DeliveryStatus;

/// What a receiver saw, and how it answers next.
#[derive(Default)]
struct Receiver {
    requests: Mutex<Vec<(HeaderMap, Bytes)>>,
    /// Statuses to answer with, in order; then 200 (or 202 for PagerDuty).
    script: Mutex<Vec<(u16, Option<&'static str>)>>,
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    r.requests.lock().unwrap().push((headers, body));
    let next = {
        let mut s = r.script.lock().unwrap();
        (!s.is_empty()).then(|| s.remove(0))
    };
    match next {
        Some((code, retry_after)) => {
            let mut h = HeaderMap::new();
            if let Some(ra) = retry_after {
                h.insert("retry-after", ra.parse().unwrap());
            }
            (
                StatusCode::from_u16(code).unwrap(),
                h,
                "not now".to_string(),
            )
        }
        None => (StatusCode::OK, HeaderMap::new(), "ok".to_string()),
    }
}

async fn start_receiver() -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(Arc::clone(&r));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), r)
}

mod common;
use common::{alert, channel, deliver_all, notice};

#[tokio::test]
async fn the_webhook_is_signed_over_timestamp_and_body_and_carries_an_idempotency_key() {
    let (url, r) = start_receiver().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let mut c = channel("ops", "webhook", &format!("{url}/hook"));
    c.secret = Some("s3cret".into());
    c.headers.insert("x-team".into(), "blue".into());
    let n = notice(
        "ops",
        NotificationKind::Firing,
        vec![alert("Reverse shell", Severity::Critical)],
    );
    deliver_all(&store, &[c], std::slice::from_ref(&n)).await;

    let requests = r.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["idempotency-key"], n.id.to_string());
    assert_eq!(headers["x-watchpost-event"], "firing");
    assert_eq!(headers["x-team"], "blue");
    let ts: i64 = headers["x-watchpost-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 60);
    // Recompute the signature with an independent tool over the raw body.
    let mut signed = ts.to_string().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(body);
    let path = std::env::temp_dir().join(format!("wp-sig-{}", n.id));
    std::fs::write(&path, &signed).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "s3cret", "-r"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let hex = hex.split_whitespace().next().unwrap();
    assert_eq!(headers["x-watchpost-signature"], format!("v1={hex}"));
    let json: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["version"], "1");
    assert_eq!(json["id"], n.id.to_string());
    assert_eq!(json["kind"]["type"], "firing");
    assert_eq!(json["alerts"][0]["title"], "Reverse shell");
    let stored = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(stored.entry.status, DeliveryStatus::Sent);
}

#[tokio::test]
async fn slack_gets_block_kit_within_its_limits_with_untrusted_text_escaped() {
    let (url, r) = start_receiver().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let alerts: Vec<Alert> = (0..60)
        .map(|i| alert(&format!("<!channel> shell {i} & more"), Severity::High))
        .collect();
    let n = notice("chat", NotificationKind::Firing, alerts);
    deliver_all(
        &store,
        &[channel("chat", "slack", &format!("{url}/services/T0/B0/X"))],
        &[n],
    )
    .await;

    let requests = r.requests.lock().unwrap().clone();
    let body: Value = serde_json::from_slice(&requests[0].1).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("[FIRING HIGH]"), "{text}");
    assert!(
        !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
        "{text}"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{}", blocks.len());
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    for b in &blocks[1..blocks.len() - 1] {
        assert_eq!(b["type"], "section");
        assert_eq!(b["text"]["type"], "mrkdwn");
        let t = b["text"]["text"].as_str().unwrap();
        assert!(t.chars().count() <= 3000);
        assert!(!t.contains('<'), "escaped: {t}");
    }
    assert!(
        blocks[blocks.len() - 2]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("13 more"),
        "60 alerts, 47 shown"
    );
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[tokio::test]
async fn pagerduty_follows_the_alert_with_its_fingerprint_as_dedup_key() {
    let (url, r) = start_receiver().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let mut c = channel("pd", "pagerduty", &format!("{url}/v2/enqueue"));
    c.routing_key = Some("R0123456789abcdef0123456789abcde".into());
    let a = alert("Reverse shell", Severity::Critical);
    let mut acked = a.clone();
    acked.status = AlertStatus::Acknowledged;
    let mut resolved = a.clone();
    resolved.status = AlertStatus::Resolved;
    let notices = [
        notice("pd", NotificationKind::Firing, vec![a.clone()]),
        notice("pd", NotificationKind::Acknowledged, vec![acked]),
        notice("pd", NotificationKind::Resolved, vec![resolved]),
    ];
    for n in &notices {
        deliver_all(&store, std::slice::from_ref(&c), std::slice::from_ref(n)).await;
    }
    let requests = r.requests.lock().unwrap().clone();
    let events: Vec<Value> = requests
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    for e in &events {
        assert_eq!(e["routing_key"], "R0123456789abcdef0123456789abcde");
        assert_eq!(e["dedup_key"], a.fingerprint.0);
    }
    let trigger = &events[0];
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["source"], "web-1");
    assert_eq!(trigger["payload"]["summary"], "Reverse shell on web-1");
    assert_eq!(trigger["payload"]["class"], "process_creation");
    chrono::DateTime::parse_from_rfc3339(trigger["payload"]["timestamp"].as_str().unwrap())
        .unwrap();
    assert!(
        events[1].get("payload").is_none(),
        "acknowledge carries no payload"
    );
}

#[tokio::test]
async fn failures_are_retried_with_backoff_honouring_retry_after_then_dead_lettered_to_a_fallback()
{
    let (url, primary) = start_receiver().await;
    let (fallback_url, fallback) = start_receiver().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    *primary.script.lock().unwrap() = vec![(503, Some("120")), (500, None), (500, None)];
    let mut c = channel("ops", "webhook", &format!("{url}/hook"));
    c.max_attempts = 3;
    c.fallback = Some("backup".into());
    let configs = [
        c,
        channel("backup", "webhook", &format!("{fallback_url}/hook")),
    ];
    let n = notice(
        "ops",
        NotificationKind::Firing,
        vec![alert("Reverse shell", Severity::Critical)],
    );
    let d = deliver_all(&store, &configs, std::slice::from_ref(&n)).await;

    let first = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(first.entry.status, DeliveryStatus::Pending);
    let wait = first.entry.next_attempt - Utc::now();
    assert!(
        wait.num_seconds() >= 110,
        "Retry-After 120 honoured: {wait}"
    );
    // Two more failures, each after its wait.
    d.deliver_due(first.entry.next_attempt).await.unwrap();
    let second = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(second.entry.attempts, 2);
    d.deliver_due(second.entry.next_attempt).await.unwrap();
    let dead = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(dead.entry.status, DeliveryStatus::Dead);
    let outcomes: Vec<&str> = dead
        .attempts_made
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["failed", "failed", "dead"]);
    assert!(
        dead.entry
            .last_error
            .as_deref()
            .unwrap()
            .contains("giving up")
    );

    // The fallback got a copy at the next pass.
    d.deliver_due(second.entry.next_attempt + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(fallback.requests.lock().unwrap().len(), 1);
    assert_eq!(primary.requests.lock().unwrap().len(), 3);
    let history = store.alert_notifications(n.alerts[0].id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].entry.notification.receiver, "backup");
    assert_eq!(history[1].entry.status, DeliveryStatus::Sent);
    let trace = store.alert_trace(n.alerts[0].id).await.unwrap();
    assert!(
        trace[0].detail.contains("handed to fallback `backup`"),
        "{trace:?}"
    );
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_low_severity_notices_skip_a_strict_channel() {
    let (url, r) = start_receiver().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    *r.script.lock().unwrap() = vec![(400, None)];
    let mut strict = channel("pager", "webhook", &format!("{url}/pager"));
    strict.min_severity = "high".into();
    let refused = notice(
        "pager",
        NotificationKind::Firing,
        vec![alert("Shell", Severity::Critical)],
    );
    let low = notice(
        "pager",
        NotificationKind::Firing,
        vec![alert("Scan", Severity::Low)],
    );
    let nowhere = notice(
        "nobody",
        NotificationKind::Firing,
        vec![alert("Scan", Severity::Low)],
    );
    deliver_all(
        &store,
        &[strict],
        &[refused.clone(), low.clone(), nowhere.clone()],
    )
    .await;

    let refused = store.get_notification(refused.id).await.unwrap().unwrap();
    assert_eq!(refused.entry.status, DeliveryStatus::Dead);
    assert!(refused.entry.last_error.unwrap().contains("HTTP 400"));
    let low = store.get_notification(low.id).await.unwrap().unwrap();
    assert_eq!(low.entry.status, DeliveryStatus::Skipped);
    assert!(low.entry.last_error.unwrap().contains("minimum severity"));
    let nowhere = store.get_notification(nowhere.id).await.unwrap().unwrap();
    assert!(
        nowhere
            .entry
            .last_error
            .unwrap()
            .contains("no channel named `nobody`")
    );
    assert_eq!(r.requests.lock().unwrap().len(), 1);
}

#[cfg(not(feature = "desktop-notify"))]
#[test]
fn a_desktop_channel_in_a_build_without_it_says_how_to_get_it() {
    let config = watchpost_alert::config::ChannelConfig {
        name: "me".into(),
        kind: "desktop".into(),
        ..Default::default()
    };
    assert!(config.problems().is_empty());
    let err = watchpost_notify::Channels::build(&[config]).err().unwrap();
    assert!(
        err.starts_with("channel `me`: desktop notifications are not in this build")
            && err.contains("--features watchpost-notify/desktop-notify"),
        "{err}"
    );
}
