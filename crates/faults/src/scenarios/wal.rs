//! The write-ahead log under steady ingest with searches running beside it stays bounded,
//! and a server stopped with a large WAL starts again, however long replaying it takes.

use crate::load::{self, Plan, Tally};
use crate::report::Row;
use crate::server::Launcher;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The WAL may pass the checkpointer's 64 MiB bound by what arrives while it empties it.
const WAL_CEILING: u64 = 256 * 1024 * 1024;

fn wal_size(data: &Path) -> u64 {
    std::fs::metadata(data.join("watchpost.db-wal")).map_or(0, |m| m.len())
}

/// `seconds` of ingest as fast as the server takes it, with two readers searching
/// all along; the WAL's size sampled every 200 ms.
pub async fn bound(launcher: &Launcher, work: &Path, seconds: u64) -> anyhow::Result<Row> {
    let mut row = Row::new("WAL under load + readers", "sqlite");
    let data = work.join("wal-bound");
    let server = launcher.start(
        work,
        &[("storage.data_dir", data.display().to_string())],
        Duration::from_secs(60),
    )?;
    let client = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let plan = Plan {
        senders: 3,
        batch: 1000,
        rate: None,
        padding: 200,
    };
    let mut senders = load::start(
        client.clone(),
        server.url("/api/v1/events"),
        plan,
        tally.clone(),
        stopped.clone(),
    );
    let searches = Arc::new(AtomicU64::new(0));
    let mut readers = tokio::task::JoinSet::new();
    for path in [
        "/api/v1/events?limit=500",
        "/api/v1/events?q=accepted%20password&limit=200",
    ] {
        let (client, url, stopped, searches) = (
            client.clone(),
            server.url(path),
            stopped.clone(),
            searches.clone(),
        );
        readers.spawn(async move {
            while !*stopped.borrow() {
                if client.get(&url).send().await.is_ok() {
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let started = Instant::now();
    let mut peak = 0u64;
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        let size = wal_size(&data);
        peak = peak.max(size);
        samples.push(size);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    while readers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let stop_took = server.stop()?;
    let left = wal_size(&data);
    row.wal_peak_bytes = Some(peak);
    let store = watchpost_store::open(&format!("sqlite://{}/watchpost.db", data.display())).await?;
    load::count(store.as_ref(), &tally)
        .await?
        .into_row(&mut row, &tally);
    let db_size = std::fs::metadata(data.join("watchpost.db")).map_or(0, |m| m.len());
    row.note(format!(
        "{:.0} events/s for {elapsed:.0} s with {} searches beside; database {:.0} MiB; WAL peak {:.1} MiB, median {:.1} MiB, {:.1} MiB after a clean stop ({:.1} s)",
        row.acknowledged as f64 / elapsed,
        searches.load(Ordering::Relaxed),
        db_size as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        median(&mut samples) as f64 / 1048576.0,
        left as f64 / 1048576.0,
        stop_took.as_secs_f64()
    ));
    row.require(peak <= WAL_CEILING, format!("the WAL reached {peak} bytes"));
    row.require(
        searches.load(Ordering::Relaxed) > 0,
        "no search completed while ingest ran",
    );
    Ok(row)
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// A database left with a WAL of `mib` MiB (written by another program that died before
/// checkpointing), then `watchpost serve` started on it: it must start, and say so.
pub async fn large_wal_startup(launcher: &Launcher, work: &Path, mib: u64) -> anyhow::Result<Row> {
    let mut row = Row::new("start with a large WAL", "sqlite");
    let data = work.join("wal-start");
    // A store with its schema and some events.
    let server = launcher.start(
        work,
        &[("storage.data_dir", data.display().to_string())],
        Duration::from_secs(60),
    )?;
    let client = reqwest::Client::new();
    let (_, body) = load::batch(0, 1000, 100);
    let r = client
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    row.require(r.status().is_success(), "the first events were refused");
    row.acknowledged = 1000;
    server.stop()?;
    // Another writer appends `mib` MiB to the WAL and dies without a checkpoint.
    let db = data.join("watchpost.db");
    let script = format!(
        "import os, sqlite3\n\
         c = sqlite3.connect({db:?}, isolation_level=None)\n\
         c.execute('PRAGMA wal_autocheckpoint=0')\n\
         c.execute('CREATE TABLE IF NOT EXISTS fault_filler (b BLOB)')\n\
         blob = os.urandom(1 << 20)\n\
         for i in range({mib}):\n\
         \x20   c.execute('BEGIN')\n\
         \x20   c.execute('INSERT INTO fault_filler VALUES (?)', (blob,))\n\
         \x20   c.execute('COMMIT')\n\
         os._exit(0)\n",
        db = db.display().to_string()
    );
    let made = std::process::Command::new("python3")
        .args(["-c", &script])
        .status()?;
    anyhow::ensure!(made.success(), "python3 could not write the WAL");
    let wal = wal_size(&data);
    row.wal_peak_bytes = Some(wal);
    let started = Instant::now();
    let server = launcher.start(
        work,
        &[("storage.data_dir", data.display().to_string())],
        Duration::from_secs(900),
    )?;
    let ready = super::wait_for(Duration::from_secs(120), || async {
        super::status_of(&client, &server.url("/readyz")).await == 200
    })
    .await;
    let took = started.elapsed().as_secs_f64();
    row.startup_seconds = Some(took);
    row.require(ready.is_some(), "the server did not become ready");
    row.require(
        server.logged("replaying the write-ahead log"),
        "start-up did not say it was replaying the WAL",
    );
    let page: serde_json::Value =
        super::json_of(&client, &server.url("/api/v1/events?limit=1000")).await;
    row.stored = page["items"].as_array().map_or(0, |a| a.len() as u64);
    row.lost = row.acknowledged.saturating_sub(row.stored);
    row.require(row.lost == 0, "events stored before the WAL were not found");
    row.note(format!(
        "a {:.0} MiB WAL: listening after {:.1} s, ready after {took:.1} s; WAL after start {:.1} MiB",
        wal as f64 / 1048576.0,
        server.started_in.as_secs_f64(),
        wal_size(&data) as f64 / 1048576.0
    ));
    server.stop()?;
    Ok(row)
}
