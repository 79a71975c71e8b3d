//! SMS channels against local receivers: Twilio's Messages API as documented (path with the
//! Account SID, Basic auth, form fields, 201 with a `sid`, its JSON errors), and the generic
//! gateway's signed JSON.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use common::{alert, deliver_all, notice};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use watchpost_alert::NotificationKind;
use watchpost_alert::config::ChannelConfig;
use watchpost_core::Severity;
use watchpost_notify::webhook::signature;
use watchpost_store::DeliveryStatus;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";

/// `application/x-www-form-urlencoded` decoded as Twilio reads it.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

#[derive(Default)]
struct Twilio {
    messages: Mutex<Vec<BTreeMap<String, String>>>,
}

/// Twilio's Messages resource: checks what its documentation requires and answers as it
/// does.
async fn messages(
    State(t): State<Arc<Twilio>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if account != SID
        || headers.get("authorization").map(|v| v.to_str().unwrap()) != Some(&expected)
    {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"code": 20003, "message": "Authenticate", "status": 401}).to_string(),
        );
    }
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    let fields = form(&body);
    let to = fields.get("To").cloned().unwrap_or_default();
    assert!(fields.contains_key("From") ^ fields.contains_key("MessagingServiceSid"));
    assert!(fields["Body"].chars().count() <= 1600);
    if to == "+15005550001" {
        // Twilio's documented answer to an invalid number (error 21211).
        return (
            StatusCode::BAD_REQUEST,
            json!({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
                   "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})
            .to_string(),
        );
    }
    let n = {
        let mut m = t.messages.lock().unwrap();
        m.push(fields);
        m.len()
    };
    (
        StatusCode::CREATED,
        json!({"sid": format!("SM{n:032x}"), "status": "queued", "to": to}).to_string(),
    )
}

async fn start_twilio() -> (String, Arc<Twilio>) {
    let t = Arc::new(Twilio::default());
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(messages),
        )
        .with_state(Arc::clone(&t));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), t)
}

fn twilio_channel(base: &str, to: &[&str]) -> ChannelConfig {
    ChannelConfig {
        name: "sms".into(),
        kind: "twilio".into(),
        url: Some(base.into()),
        account_sid: Some(SID.into()),
        auth_token: Some(TOKEN.into()),
        from: Some("+15005550006".into()),
        to: to.iter().map(|s| s.to_string()).collect(),
        ..ChannelConfig::default()
    }
}

#[tokio::test]
async fn twilio_gets_one_form_post_per_number_with_basic_auth() {
    let (base, twilio) = start_twilio().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let config = twilio_channel(&base, &["+14155550101", "+14155550102"]);
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let mut long = alert(&"Reverse shell ".repeat(200), Severity::Critical);
    long.host = Some("web-1".into());
    let n = notice("sms", NotificationKind::Firing, vec![long]);
    deliver_all(&store, &[config], std::slice::from_ref(&n)).await;

    let sent = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(sent.entry.status, DeliveryStatus::Sent);
    assert!(
        sent.attempts_made[0]
            .detail
            .contains("+14155550101: SM00000000000000000000000000000001"),
        "{:?}",
        sent.attempts_made
    );
    let got = twilio.messages.lock().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["To"], "+14155550101");
    assert_eq!(got[1]["To"], "+14155550102");
    assert_eq!(got[0]["From"], "+15005550006");
    assert!(got[0]["Body"].starts_with("[FIRING CRITICAL] Reverse shell"));
    assert_eq!(
        got[0]["Body"].chars().count(),
        1600,
        "cut to Twilio's limit"
    );
}

#[tokio::test]
async fn twilio_errors_are_reported_in_its_own_words() {
    let (base, _twilio) = start_twilio().await;
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let mut bad_token = twilio_channel(&base, &["+14155550101"]);
    bad_token.name = "bad-token".into();
    bad_token.auth_token = Some("wrong".into());
    let bad_number = twilio_channel(&base, &["+15005550001"]);
    let a = notice(
        "bad-token",
        NotificationKind::Firing,
        vec![alert("Shell", Severity::High)],
    );
    let b = notice(
        "sms",
        NotificationKind::Firing,
        vec![alert("Shell", Severity::High)],
    );
    deliver_all(&store, &[bad_token, bad_number], &[a.clone(), b.clone()]).await;
    for (id, words) in [(a.id, "HTTP 401"), (b.id, "is not a valid phone number")] {
        let dead = store.get_notification(id).await.unwrap().unwrap();
        assert_eq!(dead.entry.status, DeliveryStatus::Dead);
        let error = dead.entry.last_error.unwrap();
        assert!(error.contains(words), "{error}");
        assert!(error.starts_with("Twilio, to +1"), "{error}");
    }
}

/// What the gateway receiver got.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

#[tokio::test]
async fn the_sms_gateway_gets_signed_json_per_number_with_a_template() {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/send",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().unwrap().push((headers, body));
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("sms.j2");
    std::fs::write(
        &template,
        "{{ severity | upper }} {{ alerts[0].title }} @ {{ alerts[0].host }}",
    )
    .unwrap();
    let config = ChannelConfig {
        name: "gateway".into(),
        kind: "sms_gateway".into(),
        url: Some(format!("http://{addr}/send")),
        secret: Some("gateway-secret".into()),
        headers: [("authorization".to_string(), "Bearer k".into())].into(),
        to: vec!["+447700900123".into()],
        template: Some(template),
        ..ChannelConfig::default()
    };
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let db = watchpost_store::testing::sqlite();
    let store = db.open().await;
    let n = notice(
        "gateway",
        NotificationKind::Firing,
        vec![alert("Crontab edited", Severity::Medium)],
    );
    deliver_all(&store, &[config], std::slice::from_ref(&n)).await;

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let ts: i64 = headers["x-watchpost-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-watchpost-signature"].to_str().unwrap(),
        signature("gateway-secret", ts, body)
    );
    assert_eq!(headers["authorization"], "Bearer k");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["to"], "+447700900123");
    assert_eq!(v["text"], "MEDIUM Crontab edited @ web-1");
    assert_eq!(v["id"], format!("{}:+447700900123", n.id));
    assert_eq!(headers["idempotency-key"].to_str().unwrap(), v["id"]);
}

#[test]
fn numbers_and_sids_are_checked_with_the_key_that_is_wrong() {
    let mut c = twilio_channel("https://api.twilio.com", &["+1415", "+14155550101"]);
    c.account_sid = Some("AC123".into());
    c.smtp_host = Some("mail.example.org".into());
    let problems = c.problems();
    let keys: Vec<&str> = problems.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["smtp_host", "account_sid", "to[0]"], "{problems:?}");
}
