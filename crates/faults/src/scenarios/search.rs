//! Free-text search over many events: the full-text index answers in milliseconds where a
//! scan took seconds, finds exactly what it should, and stays in step with ingest.

use crate::load::{self, MARKERS, Plan, Tally};
use crate::report::Row;
use crate::server::Launcher;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ingests `events`, then times searches. `settings` picks the backend.
pub async fn run(
    launcher: &Launcher,
    work: &Path,
    backend: &'static str,
    settings: &[(&str, String)],
    events: u64,
) -> anyhow::Result<Row> {
    let mut row = Row::new("search at scale", backend);
    let server = launcher.start(work, settings, Duration::from_secs(120))?;
    let client = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut senders = load::start(
        client.clone(),
        server.url("/api/v1/events"),
        Plan {
            senders: 3,
            batch: 1000,
            rate: None,
            padding: 100,
        },
        tally.clone(),
        stopped,
    );
    let started = Instant::now();
    super::wait_for(Duration::from_secs(1800), || async {
        tally.acked_count() >= events
    })
    .await;
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    let ingest_seconds = started.elapsed().as_secs_f64();
    row.acknowledged = tally.acked_count();
    // SQLite indexes behind ingest: the rare word's count is exact once it has caught up
    // (until then the newest rows are matched as a substring).
    let caught_up = super::wait_for(Duration::from_secs(300), || async {
        let health = super::json_of(&client, &server.url("/api/v1/system/health")).await;
        health["components"]["store"]["text_index_lag"]
            .as_i64()
            .is_none_or(|lag| lag <= 0)
    })
    .await;
    row.require(
        caught_up.is_some(),
        "the full-text index did not catch up within 5 minutes",
    );
    let caught_up_after = started.elapsed().as_secs_f64();
    // marker7 is in every event numbered 7 mod MARKERS: at least one per MARKERS events
    // acknowledged, at most one per MARKERS sent (and one more).
    let sent = tally.sent.lock().unwrap().len() as u64;
    let expected_rare = (row.acknowledged / MARKERS)..=(sent / MARKERS + 1);
    let mut times = Vec::new();
    for (label, query) in [
        ("a rare word", "q=marker7&limit=100"),
        ("a phrase in every event", "q=accepted%20password&limit=100"),
        ("a word and a host", "q=marker8&host=fault-host-0&limit=100"),
        ("no such word", "q=zebra&limit=100"),
    ] {
        let mut runs = Vec::new();
        let mut hits = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let page: serde_json::Value =
                super::json_of(&client, &server.url(&format!("/api/v1/events?{query}"))).await;
            runs.push(t.elapsed());
            hits = page["items"].as_array().map_or(0, |a| a.len());
        }
        runs.sort();
        let median = runs[2];
        times.push(format!(
            "{label}: {:.1} ms ({hits} hits)",
            median.as_secs_f64() * 1000.0
        ));
        // A phrase in every event asks the index for every row: it is timed, not bounded
        // here (the statement timeout bounds it on PostgreSQL).
        if label != "a phrase in every event" {
            row.require(
                median <= Duration::from_secs(1),
                format!("searching {label} took {median:?}"),
            );
        }
        if label == "a rare word" {
            row.require(
                expected_rare.contains(&(hits as u64)),
                format!("a rare word found {hits} events, expected {expected_rare:?}"),
            );
        }
        if label == "no such word" {
            row.require(hits == 0, "a word in no event was found");
        }
    }
    row.stored = row.acknowledged;
    row.note(format!(
        "{} events in {ingest_seconds:.0} s ({:.0}/s), all indexed after {caught_up_after:.0} s; median of 5: {}",
        row.acknowledged,
        row.acknowledged as f64 / ingest_seconds,
        times.join("; ")
    ));
    server.stop()?;
    Ok(row)
}
