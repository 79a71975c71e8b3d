//! A webhook receiver down for longer than the old count limit lasted, with a kill -9 of
//! the server in the middle: every notice is delivered once it is back, none dead, and the
//! failing channel said so through its fallback.

use super::wait_for;
use crate::report::Row;
use crate::server::Launcher;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Idempotency keys a receiver saw, with how often, and the bodies.
#[derive(Default)]
struct Received {
    keys: Mutex<HashMap<String, usize>>,
    bodies: Mutex<Vec<String>>,
}

async fn hook(State(r): State<Arc<Received>>, headers: HeaderMap, body: String) -> StatusCode {
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        *r.keys.lock().unwrap().entry(key.to_string()).or_default() += 1;
    }
    r.bodies.lock().unwrap().push(body);
    StatusCode::OK
}

async fn receiver(listener: tokio::net::TcpListener) -> Arc<Received> {
    let received = Arc::new(Received::default());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    received
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Alerts made: one per source address.
const ALERTS: usize = 30;

pub async fn run(launcher: &Launcher, work: &Path, outage_seconds: u64) -> anyhow::Result<Row> {
    let mut row = Row::new("receiver down + kill -9", "sqlite");
    // Nothing listens on the primary's port until the outage ends.
    let ops_port = free_port()?;
    let backup_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let backup_port = backup_listener.local_addr()?.port();
    let backup = receiver(backup_listener).await;
    let config = work.join("notices.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[alerting]
alert_cooldown_seconds = 0
max_alerts_per_hour = 10000
[alerting.route]
receiver = "ops"
group_by = ["..."]
group_wait_seconds = 0
[[alerting.channels]]
name = "ops"
type = "webhook"
url = "http://127.0.0.1:{ops_port}/hook"
fallback = "backup"
max_backoff_seconds = 2
failing_alert_after_seconds = 10
[[alerting.channels]]
name = "backup"
type = "webhook"
url = "http://127.0.0.1:{backup_port}/hook"
"#
        ),
    )?;
    let data = work.join("notices");
    let settings = [("storage.data_dir", data.display().to_string())];
    let server = launcher.start_with_config(work, &config, &settings, Duration::from_secs(60))?;
    let client = reqwest::Client::new();
    for i in 0..ALERTS {
        let r = client
            .post(server.url("/api/v1/ids/analyze"))
            .json(&serde_json::json!({
                "method": "GET", "path": "/item",
                "query": "id=1%27%20union%20select%20password%20from%20users--",
                "client_ip": format!("203.0.113.{}", i + 1),
            }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "analyze answered {}", r.status());
    }
    // Half the outage, then kill -9 and start again on the same store.
    tokio::time::sleep(Duration::from_secs(outage_seconds / 2)).await;
    server.kill();
    let server = launcher.start_with_config(work, &config, &settings, Duration::from_secs(60))?;
    tokio::time::sleep(Duration::from_secs(outage_seconds - outage_seconds / 2)).await;
    let pending: serde_json::Value = super::json_of(
        &client,
        &server.url("/api/v1/notifications?status=pending&limit=1000"),
    )
    .await;
    let most_attempts = pending["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter_map(|n| n["attempts"].as_u64())
            .max()
            .unwrap_or(0)
    });
    let dead_during: serde_json::Value = super::json_of(
        &client,
        &server.url("/api/v1/notifications?status=dead&limit=1000"),
    )
    .await;
    row.note(format!(
        "after {outage_seconds} s down: {} notices pending (most attempts {most_attempts}), {} dead",
        pending["items"].as_array().map_or(0, |a| a.len()),
        dead_during["items"].as_array().map_or(0, |a| a.len())
    ));

    // The receiver comes back.
    let ops = receiver(tokio::net::TcpListener::bind(("127.0.0.1", ops_port)).await?).await;
    let all = wait_for(Duration::from_secs(60), || async {
        ops.keys.lock().unwrap().len() >= ALERTS
    })
    .await;
    row.require(
        all.is_some(),
        "not every notice arrived within 60 s of the receiver's return",
    );
    let notices: serde_json::Value =
        super::json_of(&client, &server.url("/api/v1/notifications?limit=1000")).await;
    let to_ops: Vec<&serde_json::Value> = notices["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|n| n["notification"]["receiver"] == "ops")
                .collect()
        })
        .unwrap_or_default();
    let status_count = |s: &str| to_ops.iter().filter(|n| n["status"] == s).count() as u64;
    row.notices_produced = Some(to_ops.len() as u64);
    row.notices_delivered = Some(status_count("sent"));
    row.notices_dead = Some(status_count("dead"));
    let keys = ops.keys.lock().unwrap().clone();
    let repeats: usize = keys.values().map(|n| n - 1).sum();
    row.note(format!(
        "delivered {} distinct notices {:.1} s after the receiver returned; {repeats} repeated under the same Idempotency-Key",
        keys.len(),
        all.unwrap_or_default().as_secs_f64()
    ));
    row.require(
        to_ops.len() >= ALERTS,
        format!("{} notices made for {ALERTS} alerts", to_ops.len()),
    );
    row.require(
        status_count("dead") == 0,
        "notices were dead-lettered during the outage",
    );
    row.require(
        status_count("sent") == to_ops.len() as u64,
        "not every notice is marked sent",
    );
    let warned = backup
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains("watchpost.channel_failing"))
        .count();
    row.require(
        warned >= 1,
        "the failing channel did not report itself through its fallback",
    );
    row.note(format!(
        "the fallback got {warned} alert(s) about the failing channel"
    ));
    server.stop()?;
    Ok(row)
}
