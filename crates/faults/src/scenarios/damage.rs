//! Storage damaged behind the server's back: bytes changed inside stored events, and pages
//! overwritten. Altered events must never be served as if stored so; damage must show in
//! readiness and health, raise an alert, and stop ingest.

use super::{json_of, status_of, wait_for};
use crate::load;
use crate::report::Row;
use crate::server::{Launcher, Server};
use std::path::Path;
use std::time::Duration;

/// Events stored before the damage.
const EVENTS: usize = 1000;
/// Events altered in place.
const ALTERED: usize = 20;

async fn store_events(launcher: &Launcher, work: &Path, data: &Path) -> anyhow::Result<()> {
    let server = launcher.start(
        work,
        &[("storage.data_dir", data.display().to_string())],
        Duration::from_secs(60),
    )?;
    let (_, body) = load::batch(0, EVENTS, 100);
    let r = reqwest::Client::new()
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "the events were refused: {}",
        r.status()
    );
    // A clean stop empties the WAL into the database file, where the damage goes.
    server.stop()?;
    Ok(())
}

fn restart(launcher: &Launcher, work: &Path, data: &Path) -> anyhow::Result<Server> {
    launcher.start(
        work,
        &[("storage.data_dir", data.display().to_string())],
        Duration::from_secs(60),
    )
}

/// `accepted` becomes `rejected` (same length) inside `ALTERED` stored events.
pub async fn altered_rows(launcher: &Launcher, work: &Path) -> anyhow::Result<Row> {
    let mut row = Row::new("altered rows", "sqlite");
    let data = work.join("damage-rows");
    store_events(launcher, work, &data).await?;
    row.acknowledged = EVENTS as u64;
    let file = data.join("watchpost.db");
    let mut bytes = std::fs::read(&file)?;
    let needle = b"accepted password";
    let mut altered = 0;
    let mut at = 0;
    while altered < ALTERED {
        let Some(i) = bytes[at..].windows(needle.len()).position(|w| w == needle) else {
            break;
        };
        bytes[at + i..at + i + 8].copy_from_slice(b"rejected");
        at += i + needle.len();
        altered += 1;
    }
    anyhow::ensure!(altered == ALTERED, "found only {altered} events to alter");
    std::fs::write(&file, bytes)?;

    let server = restart(launcher, work, &data)?;
    let client = reqwest::Client::new();
    let answer = client
        .get(server.url("/api/v1/events?limit=1000"))
        .send()
        .await?;
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    let served_altered = body["items"].as_array().map_or(0, |items| {
        items
            .iter()
            .filter(|e| e.to_string().contains("rejected password"))
            .count()
    });
    row.stored = body["items"].as_array().map_or(0, |a| a.len() as u64);
    row.require(
        served_altered == 0,
        format!("{served_altered} altered events served as stored"),
    );
    row.require(
        status == 503,
        format!("reading the damaged events answered {status}"),
    );
    row.note(format!(
        "reading them: {status} {}",
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>()
    ));
    judge_damaged_server(&mut row, &client, &server, true).await;
    // The full check names every altered row.
    drop(server);
    let store = watchpost_store::open(&format!("sqlite://{}/watchpost.db", data.display())).await?;
    let report = store.check_integrity(true).await?;
    let named = report
        .findings
        .iter()
        .filter(|f| f.contains("does not match its checksum"))
        .count();
    // Some of the bytes changed may have been stale copies in free pages: the rows that
    // now hold the change are counted by another reader.
    let live = live_altered(&data.join("watchpost.db"))?;
    row.require(live > 0, "no stored event holds the change");
    row.require(
        named == live,
        format!("the full check named {named} of {live} altered rows"),
    );
    row.note(format!(
        "{ALTERED} byte runs changed, {live} of them in live rows; the full check named {named} in {} ms",
        report.duration_ms
    ));
    Ok(row)
}

/// Events whose stored document holds the change, counted by Python's sqlite3.
fn live_altered(db: &Path) -> anyhow::Result<usize> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             print(c.execute(\"SELECT count(*) FROM events WHERE doc LIKE '%rejected password%'\").fetchone()[0])",
        ])
        .arg(db)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

/// Nine pages spread over the file overwritten with a constant.
pub async fn damaged_pages(launcher: &Launcher, work: &Path) -> anyhow::Result<Row> {
    let mut row = Row::new("damaged pages", "sqlite");
    let data = work.join("damage-pages");
    store_events(launcher, work, &data).await?;
    row.acknowledged = EVENTS as u64;
    let file = data.join("watchpost.db");
    let mut bytes = std::fs::read(&file)?;
    let len = bytes.len();
    for tenth in 1..10 {
        let start = (len * tenth / 10) & !4095;
        let end = (start + 4096).min(len);
        bytes[start..end].fill(0x5a);
    }
    std::fs::write(&file, bytes)?;
    let server = restart(launcher, work, &data)?;
    let client = reqwest::Client::new();
    judge_damaged_server(&mut row, &client, &server, false).await;
    Ok(row)
}

/// Readiness, health, the alert and ingest on a server whose store is damaged.
async fn judge_damaged_server(
    row: &mut Row,
    client: &reqwest::Client,
    server: &Server,
    alert_required: bool,
) {
    let ready = status_of(client, &server.url("/readyz")).await;
    row.require(
        ready == 503,
        format!("readiness answered {ready} on a damaged store"),
    );
    let health = json_of(client, &server.url("/api/v1/system/health")).await;
    let damage = health["components"]["store"]["damage"]["reason"].clone();
    row.require(!damage.is_null(), "health does not report the damage");
    row.note(format!(
        "health: {} — {}",
        health["status"],
        damage
            .as_str()
            .unwrap_or("")
            .chars()
            .take(160)
            .collect::<String>()
    ));
    let (_, body) = load::batch(10_000, 10, 10);
    let ingest = client
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    row.require(
        ingest == 503,
        format!("ingest into the damaged store answered {ingest}"),
    );
    if ingest == 503 {
        row.refused += 1;
    }
    let alerted = wait_for(Duration::from_secs(15), || async {
        let found = json_of(
            client,
            &server.url("/api/v1/detections?rule_id=watchpost.store_damaged"),
        )
        .await;
        found["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    if alert_required {
        row.require(
            alerted.is_some(),
            "no watchpost.store_damaged alert within 15 s",
        );
    }
    row.note(format!(
        "alert watchpost.store_damaged: {}",
        alerted.map_or("not raised".into(), |d| format!(
            "after {:.1} s",
            d.as_secs_f64()
        ))
    ));
}
