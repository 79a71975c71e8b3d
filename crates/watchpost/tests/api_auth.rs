//! API keys and roles through the real server: the first admin key made on first start
//! (printed once, kept in a private file), every route × role with the status it must
//! answer, expired, revoked and malformed keys, the record of state-changing calls, and
//! the CLI finding the admin key on the server's machine.

mod common;

use common::{Server, http, run};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use watchpost_server::auth::access::{Access, ROUTES};
use watchpost_server::auth::{KeyRing, Role};

const NO_SUCH_ID: &str = "00000000-0000-4000-8000-000000000000";

/// One route: method, concrete path, body, and the status a caller allowed on it gets.
struct Case {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    allowed: StatusCode,
}

fn case(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    allowed: u16,
) -> Case {
    Case {
        method,
        route,
        path,
        body,
        allowed: StatusCode::from_u16(allowed).unwrap(),
    }
}

fn cases() -> Vec<Case> {
    let silence = json!({"matchers": ["host=\"web-1\""], "duration_minutes": 5,
                         "created_by": "t", "comment": "maintenance"});
    vec![
        case("GET", "/healthz", "/healthz", None, 200),
        case("GET", "/readyz", "/readyz", None, 200),
        case("GET", "/metrics", "/metrics", None, 200),
        case("GET", "/api/openapi.json", "/api/openapi.json", None, 200),
        case("GET", "/api/docs", "/api/docs", None, 200),
        case("GET", "/api/docs/init.js", "/api/docs/init.js", None, 200),
        case(
            "GET",
            "/api/docs/swagger-ui-bundle.js",
            "/api/docs/swagger-ui-bundle.js",
            None,
            200,
        ),
        case(
            "GET",
            "/api/docs/swagger-ui.css",
            "/api/docs/swagger-ui.css",
            None,
            200,
        ),
        // Senders have their own tokens: an API key is not one.
        case(
            "POST",
            "/api/v1/ingest",
            "/api/v1/ingest",
            Some(json!({})),
            401,
        ),
        case("GET", "/api/v1/status", "/api/v1/status", None, 200),
        case(
            "GET",
            "/api/v1/system/health",
            "/api/v1/system/health",
            None,
            200,
        ),
        case("GET", "/api/v1/events", "/api/v1/events", None, 200),
        case(
            "POST",
            "/api/v1/events",
            "/api/v1/events",
            Some(json!([{"@timestamp": "2026-12-03T10:00:00Z", "message": "hello"}])),
            200,
        ),
        case("GET", "/api/v1/detections", "/api/v1/detections", None, 200),
        case(
            "POST",
            "/api/v1/ids/analyze",
            "/api/v1/ids/analyze",
            Some(json!({"method": "GET", "path": "/search", "query": "q=1"})),
            200,
        ),
        case("GET", "/api/v1/agents", "/api/v1/agents", None, 200),
        case(
            "POST",
            "/api/v1/senders",
            "/api/v1/senders",
            Some(json!({"name": "matrix-agent", "kind": "agent"})),
            201,
        ),
        case(
            "DELETE",
            "/api/v1/senders/{id}",
            "/api/v1/senders/no-such-sender",
            None,
            404,
        ),
        case(
            "POST",
            "/api/v1/senders/{id}/rotate",
            "/api/v1/senders/no-such-sender/rotate",
            Some(json!({"grace_minutes": 5})),
            404,
        ),
        case("GET", "/api/v1/hosts", "/api/v1/hosts", None, 200),
        case("GET", "/api/v1/alerts", "/api/v1/alerts", None, 200),
        case(
            "POST",
            "/api/v1/alerts/bulk",
            "/api/v1/alerts/bulk",
            Some(json!({"ids": [NO_SUCH_ID], "status": "acknowledged", "by": "t"})),
            200,
        ),
        case("GET", "/api/v1/alerts/{id}", "/api/v1/alerts/ID", None, 404),
        case(
            "GET",
            "/api/v1/alerts/{id}/notifications",
            "/api/v1/alerts/ID/notifications",
            None,
            404,
        ),
        case(
            "PUT",
            "/api/v1/alerts/{id}/status",
            "/api/v1/alerts/ID/status",
            Some(json!({"status": "acknowledged", "by": "t"})),
            404,
        ),
        case(
            "GET",
            "/api/v1/notifications",
            "/api/v1/notifications",
            None,
            200,
        ),
        case(
            "POST",
            "/api/v1/notifications/{id}/resend",
            "/api/v1/notifications/ID/resend",
            None,
            404,
        ),
        case("GET", "/api/v1/silences", "/api/v1/silences", None, 200),
        case(
            "POST",
            "/api/v1/silences",
            "/api/v1/silences",
            Some(silence),
            201,
        ),
        case(
            "GET",
            "/api/v1/silences/{id}",
            "/api/v1/silences/ID",
            None,
            404,
        ),
        case(
            "DELETE",
            "/api/v1/silences/{id}",
            "/api/v1/silences/ID",
            None,
            404,
        ),
        case("GET", "/api/v1/api-keys", "/api/v1/api-keys", None, 200),
        case(
            "POST",
            "/api/v1/api-keys",
            "/api/v1/api-keys",
            Some(json!({"name": "made-in-table", "role": "viewer"})),
            201,
        ),
        case(
            "DELETE",
            "/api/v1/api-keys/{id}",
            "/api/v1/api-keys/nokey",
            None,
            404,
        ),
        case("GET", "/api/v1/api-calls", "/api/v1/api-calls", None, 200),
        case(
            "GET",
            "/api/v1/metrics",
            "/api/v1/metrics?host=web-1&metric=cpu.percent&step=5m",
            None,
            200,
        ),
        case("GET", "/api/v1/config", "/api/v1/config", None, 200),
        case("GET", "/api/v1/blocklist", "/api/v1/blocklist", None, 200),
        case("GET", "/api/v1/rules", "/api/v1/rules?limit=5", None, 200),
        case(
            "POST",
            "/api/v1/rules/test",
            "/api/v1/rules/test",
            Some(
                json!({"rule": "title: t\nid: 0b8d6a3e-5f0c-4d59-9a43-7c1e2f6d8b99\nlogsource: {product: linux, category: process_creation}\ndetection:\n  s:\n    CommandLine|contains: evil\n  condition: s\n",
                        "events": [{"process": {"command_line": "evil"}}]}),
            ),
            200,
        ),
        case(
            "PUT",
            "/api/v1/rules/{id}",
            "/api/v1/rules/no-such-rule",
            Some(json!({"enabled": false})),
            404,
        ),
        // A plain GET is not a WebSocket upgrade (tests/stream.rs upgrades).
        case("GET", "/api/v1/stream", "/api/v1/stream", None, 400),
        case(
            "POST",
            "/api/v1/blocklist",
            "/api/v1/blocklist",
            Some(json!({"ip": "203.0.113.66", "minutes": 5, "reason": "scanner"})),
            201,
        ),
        case(
            "DELETE",
            "/api/v1/blocklist/{ip}",
            "/api/v1/blocklist/198.51.100.1",
            None,
            404,
        ),
        case("GET", "/api/v1/decisions", "/api/v1/decisions", None, 200),
        case(
            "POST",
            "/api/v1/decisions",
            "/api/v1/decisions",
            Some(json!({"value": "203.0.113.67", "duration": "5m", "reason": "scanner"})),
            201,
        ),
        case(
            "DELETE",
            "/api/v1/decisions/{id}",
            "/api/v1/decisions/999999",
            None,
            404,
        ),
        // Bouncer routes take a bouncer key in X-Api-Key, never an API key.
        case(
            "GET",
            "/v1/decisions/stream",
            "/v1/decisions/stream?startup=true",
            None,
            403,
        ),
        case(
            "GET",
            "/v1/decisions",
            "/v1/decisions?ip=203.0.113.1",
            None,
            403,
        ),
        case("GET", "/api/v1/incidents", "/api/v1/incidents", None, 200),
        case(
            "GET",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/ID",
            None,
            404,
        ),
        case(
            "PATCH",
            "/api/v1/incidents/{id}",
            "/api/v1/incidents/ID",
            Some(json!({"status": "investigating"})),
            404,
        ),
        case(
            "POST",
            "/api/v1/incidents/{id}/notes",
            "/api/v1/incidents/ID/notes",
            Some(json!({"text": "looked"})),
            404,
        ),
        case(
            "POST",
            "/api/v1/incidents",
            "/api/v1/incidents",
            Some(
                json!({"title": "by hand", "alert_ids": ["01a2532f-4fe8-7197-89c0-dd1c324477bc"]}),
            ),
            400,
        ),
        case(
            "POST",
            "/api/v1/incidents/{id}/alerts",
            "/api/v1/incidents/ID/alerts",
            Some(json!({"alert_id": "01a2532f-4fe8-7197-89c0-dd1c324477bc"})),
            400,
        ),
        case(
            "DELETE",
            "/api/v1/incidents/{id}/alerts/{alert_id}",
            "/api/v1/incidents/ID/alerts/01a2532f-4fe8-7197-89c0-dd1c324477bc",
            None,
            404,
        ),
        case(
            "POST",
            "/api/v1/incidents/{id}/merge",
            "/api/v1/incidents/ID/merge",
            Some(json!({"incident_id": "01a2532f-4fe8-7197-89c0-dd1c324477bc"})),
            404,
        ),
        case(
            "GET",
            "/api/v1/suppressions",
            "/api/v1/suppressions",
            None,
            200,
        ),
        case(
            "POST",
            "/api/v1/suppressions/{id}/accept",
            "/api/v1/suppressions/01a2532f-4fe8-7197-89c0-dd1c324477bc/accept",
            None,
            404,
        ),
        case(
            "POST",
            "/api/v1/suppressions/{id}/reject",
            "/api/v1/suppressions/01a2532f-4fe8-7197-89c0-dd1c324477bc/reject",
            None,
            404,
        ),
        case(
            "DELETE",
            "/api/v1/suppressions/{id}",
            "/api/v1/suppressions/01a2532f-4fe8-7197-89c0-dd1c324477bc",
            None,
            404,
        ),
        case("GET", "/api/v1/actions", "/api/v1/actions", None, 200),
        case(
            "GET",
            "/api/v1/actions/{id}",
            "/api/v1/actions/01a2532f-4fe8-7197-89c0-dd1c324477bc",
            None,
            404,
        ),
        case(
            "POST",
            "/api/v1/actions/{id}/approve",
            "/api/v1/actions/01a2532f-4fe8-7197-89c0-dd1c324477bc/approve",
            None,
            404,
        ),
        case(
            "POST",
            "/api/v1/actions/{id}/reject",
            "/api/v1/actions/01a2532f-4fe8-7197-89c0-dd1c324477bc/reject",
            Some(json!({"reason": "no"})),
            404,
        ),
        case(
            "POST",
            "/api/v1/actions/{id}/undo",
            "/api/v1/actions/01a2532f-4fe8-7197-89c0-dd1c324477bc/undo",
            None,
            404,
        ),
        // Agents' routes take a sender token, never an API key.
        case(
            "GET",
            "/api/v1/agent/actions",
            "/api/v1/agent/actions",
            None,
            401,
        ),
        case(
            "POST",
            "/api/v1/agent/actions/{id}/result",
            "/api/v1/agent/actions/01a2532f-4fe8-7197-89c0-dd1c324477bc/result",
            Some(json!({"ok": true, "message": "done"})),
            401,
        ),
        case("GET", "/api/v1/statistics", "/api/v1/statistics", None, 200),
        case(
            "GET",
            "/api/v1/dashboard/summary",
            "/api/v1/dashboard/summary",
            None,
            200,
        ),
        // This server runs without a configuration file: nothing to write.
        case(
            "PUT",
            "/api/v1/config",
            "/api/v1/config",
            Some(json!({"config": {}})),
            409,
        ),
    ]
}

async fn send(
    client: &reqwest::Client,
    server: &Server,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let path = path.replace("ID", NO_SUCH_ID);
    let mut request = client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        server.url(&path),
    );
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn make_key(client: &reqwest::Client, server: &Server, admin: &str, role: &str) -> String {
    let (status, made) = send(
        client,
        server,
        "POST",
        "/api/v1/api-keys",
        Some(admin),
        Some(&json!({"name": format!("{role}-key"), "role": role})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["key"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_as_the_matrix_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let key_file = dir.path().join("watchpost-data/admin-api-key");
    let admin = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(admin.starts_with("wpk_"));
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the admin key file is private");
    common::eventually("the key printed on standard output", || {
        let printed = server
            .printed
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(&admin));
        async move { printed }
    })
    .await;
    assert!(!server.log_text().contains(&admin), "the key is not logged");

    let client = http();
    let viewer = make_key(&client, &server, &admin, "viewer").await;
    let analyst = make_key(&client, &server, &admin, "analyst").await;

    // The table covers the whole permission matrix.
    let table = cases();
    let covered: BTreeSet<(&str, &str)> = table.iter().map(|c| (c.method, c.route)).collect();
    let routes: BTreeSet<(&str, &str)> = ROUTES.iter().map(|(m, p, _)| (*m, *p)).collect();
    assert_eq!(covered, routes, "every route is in the table");

    let callers = [
        (None, None),
        (Some(viewer.as_str()), Some(Role::Viewer)),
        (Some(analyst.as_str()), Some(Role::Analyst)),
        (Some(admin.as_str()), Some(Role::Admin)),
    ];
    let mut wrong = Vec::new();
    for c in &table {
        let access = ROUTES
            .iter()
            .find(|(m, p, _)| *m == c.method && *p == c.route)
            .unwrap()
            .2;
        for (key, role) in callers {
            let expected = match (access, role) {
                (Access::Public | Access::Sender, _) => c.allowed,
                (Access::Role(_), None) => StatusCode::UNAUTHORIZED,
                (Access::Role(needed), Some(role)) if role < needed => StatusCode::FORBIDDEN,
                (Access::Role(_), Some(_)) => c.allowed,
                (Access::Page(_), _) => unreachable!("pages are in tests/dashboard.rs"),
            };
            let (status, body) =
                send(&client, &server, c.method, c.path, key, c.body.as_ref()).await;
            if status != expected {
                wrong.push(format!(
                    "{} {} as {:?}: {status} (expected {expected}) {body}",
                    c.method, c.path, role
                ));
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    "a JSON error that says why: {body}"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // A refusal names the role needed and the role held.
    let (_, refused) = send(
        &client,
        &server,
        "POST",
        "/api/v1/silences",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(refused["error"]["code"], "forbidden");
    assert_eq!(refused["error"]["details"]["required_role"], "analyst");
    assert_eq!(refused["error"]["details"]["role"], "viewer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_revoked_and_malformed_keys_are_refused_and_calls_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let data_dir = dir.path().join("watchpost-data");
    let admin = std::fs::read_to_string(data_dir.join("admin-api-key"))
        .unwrap()
        .trim()
        .to_string();
    let client = http();

    // Bearer works as well as X-API-Key.
    let status = client
        .get(server.url("/api/v1/alerts"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);

    // A key that expired an hour ago, stored as the server would have stored it.
    let store = watchpost_store::open(&format!(
        "sqlite://{}",
        data_dir.join("watchpost.db").display()
    ))
    .await
    .unwrap();
    let expired = KeyRing::open(&data_dir).unwrap().issue(
        "old",
        Role::Admin,
        Some(chrono::Utc::now() - chrono::Duration::hours(1)),
    );
    store.insert_api_key(&expired.record).await.unwrap();
    let (status, body) = send(
        &client,
        &server,
        "GET",
        "/api/v1/alerts",
        Some(&expired.text),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );

    // A revoked key stops working at once.
    let analyst = make_key(&client, &server, &admin, "analyst").await;
    let id = analyst.split('_').nth(1).unwrap().to_string();
    let (status, _) = send(
        &client,
        &server,
        "GET",
        "/api/v1/alerts",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &client,
        &server,
        "DELETE",
        &format!("/api/v1/api-keys/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(
        &client,
        &server,
        "GET",
        "/api/v1/alerts",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A key with the right id and a wrong secret, a sender token, and noise.
    let forged = format!("wpk_{id}_{}", "0".repeat(64));
    for (key, says) in [
        (forged.as_str(), "no API key matches"),
        (
            "wps_abcdefabcdef_0123456789abcdef0123456789abcdef",
            "sender token",
        ),
        ("hello", "wpk_"),
    ] {
        let (status, body) = send(&client, &server, "GET", "/api/v1/alerts", Some(key), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }

    // The list never shows keys or their HMACs.
    let (_, listed) = send(
        &client,
        &server,
        "GET",
        "/api/v1/api-keys",
        Some(&admin),
        None,
    )
    .await;
    let text = listed.to_string();
    assert!(
        !text.contains("secret") && !text.contains(&admin[20..]),
        "{text}"
    );
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "admin" && k["last_used_at"].is_string())
    );

    // Every state-changing call is recorded: who, what, when, from where, how it ended.
    let viewer = make_key(&client, &server, &admin, "viewer").await;
    send(
        &client,
        &server,
        "POST",
        "/api/v1/silences",
        Some(&viewer),
        Some(&json!({})),
    )
    .await;
    let (_, calls) = send(
        &client,
        &server,
        "GET",
        "/api/v1/api-calls?limit=50",
        Some(&admin),
        None,
    )
    .await;
    let calls = calls["items"].as_array().unwrap();
    let refused = calls
        .iter()
        .find(|c| c["path"] == "/api/v1/silences" && c["method"] == "POST")
        .expect("the refused silence is recorded");
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["role"], "viewer");
    assert!(
        refused["actor"]
            .as_str()
            .unwrap()
            .starts_with("viewer-key (wpk_")
    );
    assert_eq!(refused["client_ip"], "127.0.0.1");
    assert!(refused["at"].is_string());
    let revoke = calls
        .iter()
        .find(|c| c["method"] == "DELETE")
        .expect("the revocation is recorded");
    assert_eq!(revoke["status"], 204);
    assert!(revoke["actor"].as_str().unwrap().starts_with("admin (wpk_"));
    assert!(
        calls.iter().all(|c| c["method"] != "GET"),
        "reads are not recorded"
    );
}

#[test]
fn the_first_admin_key_is_made_once_and_the_cli_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_authenticated(dir.path());
    let key_file = dir.path().join("watchpost-data/admin-api-key");
    let admin = std::fs::read_to_string(&key_file).unwrap();
    // The CLI on the server's machine reads the admin key from the data directory.
    let listed = run(
        dir.path(),
        &["alerts", "silence", "list", "--server", &server.base],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let refused = run(
        dir.path(),
        &[
            "alerts",
            "silence",
            "list",
            "--server",
            &server.base,
            "--api-key",
            "wpk_nokey_0000",
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("HTTP 401"));
    // Keys made with the CLI work against the server.
    let made = run(
        dir.path(),
        &["api-key", "create", "--name", "grafana", "--role", "viewer"],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let listed = run(
        dir.path(),
        &[
            "alerts",
            "silence",
            "list",
            "--server",
            &server.base,
            "--api-key",
            &key,
        ],
    );
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // A restart keeps the key and makes no other.
    server.terminate();
    let again = Server::start_authenticated(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        again
            .printed
            .lock()
            .unwrap()
            .iter()
            .all(|l| !l.contains("wpk_"))
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), admin);
    let keys = run(dir.path(), &["api-key", "list"]);
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert_eq!(
        keys.lines().filter(|l| l.contains(" admin ")).count(),
        1,
        "{keys}"
    );
    assert!(keys.contains("grafana"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_over_their_rate_get_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // 30 a minute per key (bursts of 5), 120 per address (bursts of 20).
    let server = Server::start_authenticated_with(
        dir.path(),
        &[
            ("WATCHPOST_API__RATE_LIMIT_PER_KEY_PER_MINUTE", "30"),
            ("WATCHPOST_API__RATE_LIMIT_PER_IP_PER_MINUTE", "120"),
        ],
    );
    // Keys made through the store, so that making them costs no requests.
    let keys: Vec<String> = (0..5)
        .map(|i| {
            let made = run(
                dir.path(),
                &[
                    "api-key",
                    "create",
                    "--name",
                    &format!("k{i}"),
                    "--role",
                    "viewer",
                ],
            );
            assert!(made.status.success());
            String::from_utf8_lossy(&made.stdout).trim().to_string()
        })
        .collect();
    let client = http();
    let get = |key: &str| {
        client
            .get(server.url("/api/v1/alerts"))
            .header("x-api-key", key)
            .send()
    };
    for i in 0..5 {
        assert_eq!(
            get(&keys[0]).await.unwrap().status(),
            StatusCode::OK,
            "request {i}"
        );
    }
    let refused = get(&keys[0]).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "one request every 2 s: {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api.rate_limit_per_key_per_minute")
    );
    // Another key from the same address still passes, until the address's own limit.
    let mut passed = 6;
    'keys: for key in &keys[1..] {
        for _ in 0..5 {
            let response = get(key).await.unwrap();
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let body: Value = response.json().await.unwrap();
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("api.rate_limit_per_ip_per_minute"),
                    "{body}"
                );
                break 'keys;
            }
            assert_eq!(response.status(), StatusCode::OK);
            passed += 1;
        }
    }
    assert_eq!(passed, 20, "the address's burst, counted over every key");
    // Liveness is never limited.
    assert_eq!(
        client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_from_listed_origins_only_may_call_across_sites() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated_with(
        dir.path(),
        &[
            ("WATCHPOST_API__ENABLE_CORS", "true"),
            (
                "WATCHPOST_API__CORS_ORIGINS",
                "[\"https://soc.example.com\"]",
            ),
        ],
    );
    let client = http();
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, server.url("/api/v1/alerts"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-api-key")
            .send()
    };
    let allowed = preflight("https://soc.example.com").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("https://soc.example.com")
    );
    let allowed_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed_headers.contains("x-api-key"), "{allowed_headers}");
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
