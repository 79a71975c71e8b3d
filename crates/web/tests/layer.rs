//! The tower layer in front of a real axum server on a loopback port, driven over HTTP.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use watchpost_core::Detection;
use watchpost_web::blocklist::Blocklist;
use watchpost_web::layer::WatchpostLayer;
use watchpost_web::shield::{Action, Exclusion, RoutePolicy};
use watchpost_web::{Engine, Policy, Shield};

/// An HTTP client for the tests. The build's one TLS provider (ring) is installed first:
/// reqwest is built without its own.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

struct App {
    base: String,
    detections: Arc<Mutex<Vec<Detection>>>,
    blocklist: Arc<Blocklist>,
}

async fn start() -> App {
    let policy = Policy {
        routes: vec![
            RoutePolicy {
                prefix: "/api/".into(),
                action: Some(Action::Block),
                exclusions: Vec::new(),
            },
            RoutePolicy {
                prefix: "/search".into(),
                action: None,
                exclusions: vec![Exclusion {
                    parameter: "q".into(),
                    categories: vec!["sqli".into()],
                }],
            },
        ],
        ..Policy::default()
    };
    let blocklist = Arc::new(Blocklist::default());
    let shield = Arc::new(Shield::new(
        Engine::default(),
        policy,
        Arc::clone(&blocklist),
    ));
    let detections = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&detections);
    let layer = WatchpostLayer::new(
        shield,
        Arc::new(move |d: Vec<Detection>| sink.lock().unwrap().extend(d)),
    )
    .with_client_ip(Arc::new(|parts: &http::request::Parts| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }));
    let app = Router::new()
        .route("/search", get(|| async { "results" }))
        .route("/page", get(|| async { "page" }))
        .route("/api/echo", post(|body: String| async move { body }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    App {
        base: format!("http://{addr}"),
        detections,
        blocklist,
    }
}

#[tokio::test]
async fn detect_block_exclude_and_pass_bodies_through() {
    let app = start().await;
    let http = http();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).send();

    let ok = get("/page?id=42").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(app.detections.lock().unwrap().is_empty());

    // Detect mode outside /api: the request passes and is reported.
    let sqli = get("/page?id=1%27%20union%20select%20password%20from%20users--")
        .await
        .unwrap();
    assert_eq!(sqli.status(), 200);
    {
        let found = app.detections.lock().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule_id, "sqli.union_select");
        assert_eq!(found[0].detector, "web");
        assert_eq!(found[0].attack.techniques, vec!["T1190".to_string()]);
        assert_eq!(found[0].evidence["findings"][0]["parameter"], "id");
        assert_eq!(found[0].evidence["findings"][0]["cwe"], "CWE-89");
        assert!(
            found[0].summary.contains("GET /page"),
            "{}",
            found[0].summary
        );
    }

    // The search box may hold SQL words: excluded for `q`, not for other parameters.
    let search = get("/search?q=1%27%20or%20%271%27%3D%271").await.unwrap();
    assert_eq!(search.status(), 200);
    assert_eq!(app.detections.lock().unwrap().len(), 1);

    // Block mode on /api: refused with a request id; an ordinary body reaches the handler
    // unchanged.
    let blocked = http
        .post(format!("{}/api/echo", app.base))
        .body("<script>alert(document.cookie)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
    let id = blocked.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(blocked.text().await.unwrap().contains(&id));
    assert_eq!(app.detections.lock().unwrap()[1].evidence["request_id"], id);
    let body = "{\"comment\": \"Great boots; they fit well & look good.\"}".repeat(100);
    let echoed = http
        .post(format!("{}/api/echo", app.base))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), 200);
    assert_eq!(echoed.text().await.unwrap(), body);
}

#[tokio::test]
async fn decoys_answer_and_block_after_three_hits() {
    let app = start().await;
    let http = http();
    let get = |path: &str| http.get(format!("{}{path}", app.base)).send();

    let env = get("/.env").await.unwrap();
    assert_eq!(env.status(), 200);
    assert!(env.text().await.unwrap().contains("DB_PASSWORD="));
    let wp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/wp-admin/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wp.status(), 302);
    assert_eq!(get("/.git/config").await.unwrap().status(), 200);
    {
        let found = app.detections.lock().unwrap();
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|d| d.rule_id == "web.honeypot"));
        assert_eq!(found[2].evidence["hits"], 3);
        assert!(
            found[2].summary.ends_with("client blocked"),
            "{}",
            found[2].summary
        );
        assert_eq!(found[0].evidence["fingerprint"]["ip"], "127.0.0.1");
    }
    // Blocked now, even for an ordinary page.
    assert_eq!(get("/page").await.unwrap().status(), 403);
    assert_eq!(app.blocklist.len(), 1);
    app.blocklist.unblock("127.0.0.1".parse().unwrap());
    assert_eq!(get("/page").await.unwrap().status(), 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused_not_buffered() {
    let app = start().await;
    let big = vec![b'a'; watchpost_web::layer::DEFAULT_MAX_BUFFER + 1];
    let resp = http()
        .post(format!("{}/api/echo", app.base))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn a_suspended_account_is_refused_while_others_pass() {
    use watchpost_web::accounts::Suspensions;
    let shield = Arc::new(Shield::new(
        Engine::default(),
        Policy::default(),
        Arc::new(Blocklist::default()),
    ));
    let suspensions = Arc::new(Suspensions::default());
    // The application's own idea of who is calling: here a session cookie naming the user.
    let layer = WatchpostLayer::new(shield, Arc::new(|_| {})).with_accounts(
        Arc::new(|parts: &http::request::Parts| {
            let cookie = parts.headers.get("cookie")?.to_str().ok()?;
            cookie
                .split(';')
                .find_map(|c| c.trim().strip_prefix("session_user="))
                .map(str::to_string)
        }),
        Arc::clone(&suspensions),
    );
    let app = Router::new()
        .route("/account", get(|| async { "your account" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = http();
    let as_user = |user: &str| {
        http.get(format!("http://{addr}/account"))
            .header("cookie", format!("theme=dark; session_user={user}"))
            .send()
    };
    assert_eq!(as_user("alice").await.unwrap().status(), 200);
    // The server's decision stream suspends alice (as an application following it would).
    let answer = serde_json::json!({"new": [{"type": "ban", "scope": "Username", "value": "alice",
                                             "duration": "23h59m59s", "scenario": "playbook contain"}]});
    assert_eq!(suspensions.apply_stream(&answer), (1, 0));
    let refused = as_user("alice").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.text().await.unwrap(), "this account is suspended\n");
    assert_eq!(as_user("bob").await.unwrap().status(), 200, "others pass");
    let anonymous = http
        .get(format!("http://{addr}/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    suspensions.reinstate("alice");
    assert_eq!(as_user("alice").await.unwrap().status(), 200, "reinstated");
}
