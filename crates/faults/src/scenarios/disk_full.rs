//! The data directory's filesystem fills while senders keep sending, then space is freed.
//!
//! Without the reserve (`min_free_mb = 0`) SQLite itself runs out of space mid-write; with
//! it, ingest stops before. Either way: nothing answered 200 is lost after a kill -9,
//! readiness says not ready while writes cannot be taken, and ingest resumes by itself
//! once space is freed.

use super::{status_of, wait_for};
use crate::load::{self, Plan, Tally};
use crate::mount::Tmpfs;
use crate::report::Row;
use crate::server::Launcher;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Size of the filesystem and of the ballast freed to recover.
const FS_MIB: u64 = 40;
const BALLAST_MIB: usize = 12;

pub async fn run(launcher: &Launcher, work: &Path, reserve_mb: u64) -> anyhow::Result<Row> {
    let name = if reserve_mb == 0 {
        "disk full (no reserve)"
    } else {
        "disk full (reserve)"
    };
    let mut row = Row::new(name, "sqlite");
    let mnt = Tmpfs::mount(&work.join(format!("fs-{reserve_mb}")), FS_MIB)?;
    let ballast = mnt.ballast(BALLAST_MIB * 1024 * 1024)?;
    let data = mnt.path.join("data");
    let server = launcher.start(
        work,
        &[
            ("storage.data_dir", data.display().to_string()),
            ("storage.min_free_mb", reserve_mb.to_string()),
        ],
        Duration::from_secs(60),
    )?;
    let client = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let plan = Plan {
        senders: 2,
        batch: 200,
        rate: Some(4000),
        padding: 400,
    };
    let mut senders = load::start(
        client.clone(),
        server.url("/api/v1/events"),
        plan,
        tally.clone(),
        stopped,
    );

    // Fill: until the server refuses.
    let full = wait_for(Duration::from_secs(120), || async {
        tally.refused.load(Ordering::Relaxed) + tally.errors.load(Ordering::Relaxed) > 0
    })
    .await;
    row.require(full.is_some(), "the filesystem never filled");
    row.note(format!(
        "filled after {:.1} s and {} acknowledged events",
        full.unwrap_or_default().as_secs_f64(),
        tally.acked_count()
    ));
    // Full: senders keep sending for ten seconds; readiness must say so.
    let mut ready_codes = std::collections::BTreeMap::new();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        *ready_codes
            .entry(status_of(&client, &server.url("/readyz")).await)
            .or_insert(0) += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let acked_while_full = tally.acked_count();
    row.note(format!(
        "readiness while full: {ready_codes:?}; last refusal: {}",
        tally
            .last_refusal
            .lock()
            .unwrap()
            .chars()
            .take(200)
            .collect::<String>()
    ));
    row.require(
        ready_codes.get(&503).copied().unwrap_or(0) > ready_codes.get(&200).copied().unwrap_or(0),
        "readiness said ready while the disk was full",
    );
    let health: serde_json::Value =
        super::json_of(&client, &server.url("/api/v1/system/health")).await;
    row.note(format!(
        "health while full: {} (store: {})",
        health["status"], health["components"]["store"]["status"]
    ));

    // Free space: ingest resumes by itself.
    std::fs::remove_file(&ballast)?;
    let freed = Instant::now();
    let ok_before = tally.ok_batches.load(Ordering::Relaxed);
    let resumed = wait_for(Duration::from_secs(60), || async {
        tally.ok_batches.load(Ordering::Relaxed) >= ok_before + 5
    })
    .await;
    row.require(
        resumed.is_some(),
        "ingest did not resume within 60 s of space being freed",
    );
    // The load stops (at its rate it would fill the freed space again within seconds):
    // readiness must come back once writes have gone a while without failing.
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    let ready_again = wait_for(Duration::from_secs(30), || async {
        status_of(&client, &server.url("/readyz")).await == 200
    })
    .await;
    row.require(
        ready_again.is_some(),
        "readiness did not come back after space was freed",
    );
    row.note(format!(
        "after freeing {BALLAST_MIB} MiB: ingest resumed in {:.1} s, ready {:.1} s after freeing",
        resumed.unwrap_or_default().as_secs_f64(),
        freed.elapsed().as_secs_f64(),
    ));
    row.note(format!(
        "{acked_while_full} events acknowledged before space was freed"
    ));
    if reserve_mb > 0 {
        let alerts = super::json_of(
            &client,
            &server.url("/api/v1/detections?rule_id=watchpost.storage_reserve"),
        )
        .await;
        let raised = alerts["items"].as_array().map_or(0, |a| a.len());
        row.require(
            raised > 0,
            "no watchpost.storage_reserve detection was raised",
        );
    }

    // kill -9, then count from the store itself.
    server.kill();
    let store = watchpost_store::open(&format!("sqlite://{}/watchpost.db", data.display())).await?;
    load::count(store.as_ref(), &tally)
        .await?
        .into_row(&mut row, &tally);
    row.require(row.refused > 0, "the server never answered 503");
    drop(store);
    Ok(row)
}
