//! An axum application protected by Watchpost's web layer.
//!
//! ```sh
//! cargo run -p watchpost-web --example protected_app
//! curl 'localhost:3000/search?q=boots'                      # passes
//! curl 'localhost:3000/search?q=1%27%20or%20%271%27=%271'   # logged (detect mode)
//! curl -X POST localhost:3000/api/comments -d "<script>alert(1)</script>"   # 403 (blocked route)
//! curl localhost:3000/.env                                  # a decoy; the third decoy hit blocks the client
//! ```

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use watchpost_web::blocklist::Blocklist;
use watchpost_web::layer::WatchpostLayer;
use watchpost_web::shield::{Action, Exclusion, RoutePolicy};
use watchpost_web::{Engine, Policy, Shield};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let policy = Policy {
        routes: vec![
            // Block on the API; detect elsewhere.
            RoutePolicy {
                prefix: "/api/".into(),
                action: Some(Action::Block),
                exclusions: Vec::new(),
            },
            // The search box legitimately receives SQL words from users.
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
    let shield = Arc::new(Shield::new(
        Engine::default(),
        policy,
        Arc::new(Blocklist::default()),
    ));
    let layer = WatchpostLayer::new(
        shield,
        Arc::new(|detections| {
            for d in detections {
                eprintln!("[{}] {} — {}", d.severity, d.rule_title, d.summary);
            }
        }),
    )
    .with_client_ip(Arc::new(|parts: &http::request::Parts| {
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }));
    let app = Router::new()
        .route("/search", get(|| async { "results\n" }))
        .route(
            "/api/comments",
            post(|body: String| async move { format!("stored {} bytes\n", body.len()) }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    eprintln!("listening on http://127.0.0.1:3000");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
