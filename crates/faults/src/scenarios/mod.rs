//! The scenarios, each against a real server, each returning its row of the table.

pub mod agent;
pub mod damage;
pub mod disk_full;
pub mod notices;
pub mod postgres;
pub mod search;
pub mod wal;

use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it is true or `limit` passes; returns how long it took.
pub async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The HTTP status of GET `url` (0 when it could not be reached).
pub async fn status_of(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// GET `url` as JSON (Null when it fails).
pub async fn json_of(client: &reqwest::Client, url: &str) -> serde_json::Value {
    match client
        .get(url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    }
}
