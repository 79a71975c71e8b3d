//! PostgreSQL under faults: its connections killed during ingest, and its disk filling
//! (the database in a tablespace on a small filesystem). Nothing acknowledged is lost.

use super::{status_of, wait_for};
use crate::load::{self, Plan, Tally};
use crate::mount::Tmpfs;
use crate::report::Row;
use crate::server::Launcher;
use anyhow::{Context, bail};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Runs SQL through `psql` as the administrator.
pub fn psql(admin_url: &str, sql: &str) -> anyhow::Result<String> {
    let out = std::process::Command::new("psql")
        .args([admin_url, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .context("running psql (postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "psql `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `admin_url` with its database replaced by `name`.
pub fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = admin_url.split_once('?').unwrap_or((admin_url, ""));
    let cut = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..cut]);
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// A database of its own for a scenario, dropped afterwards.
struct Database {
    admin: String,
    name: String,
}

impl Database {
    fn create(admin: &str, name: &str, tablespace: Option<&str>) -> anyhow::Result<Database> {
        psql(
            admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        let place = tablespace.map_or(String::new(), |t| format!(" TABLESPACE {t}"));
        psql(admin, &format!("CREATE DATABASE {name}{place}"))?;
        Ok(Database {
            admin: admin.to_string(),
            name: name.to_string(),
        })
    }

    fn url(&self) -> String {
        database_url(&self.admin, &self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Ingest at full speed while every connection the server holds is terminated every
/// 1.5 s.
pub async fn killed_connections(
    launcher: &Launcher,
    work: &Path,
    admin: &str,
    seconds: u64,
) -> anyhow::Result<Row> {
    let mut row = Row::new("connections killed", "postgres");
    let db = Database::create(admin, "wp_fault_kill", None)?;
    let server = launcher.start(
        work,
        &[
            ("storage.database_url", db.url()),
            (
                "storage.data_dir",
                work.join("pg-kill").display().to_string(),
            ),
        ],
        Duration::from_secs(60),
    )?;
    let client = reqwest::Client::new();
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut senders = load::start(
        client.clone(),
        server.url("/api/v1/events"),
        Plan {
            senders: 3,
            batch: 500,
            rate: None,
            padding: 200,
        },
        tally.clone(),
        stopped,
    );
    let started = Instant::now();
    let mut killed = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let n = psql(
            admin,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = 'wp_fault_kill' AND pid <> pg_backend_pid()",
        )?;
        killed += n.parse::<u64>().unwrap_or(0);
    }
    let _ = stop.send(true);
    while senders.join_next().await.is_some() {}
    let ready = wait_for(Duration::from_secs(30), || async {
        status_of(&client, &server.url("/readyz")).await == 200
    })
    .await;
    row.require(ready.is_some(), "not ready again 30 s after the last kill");
    server.kill();
    let store = watchpost_store::open(&db.url()).await?;
    load::count(store.as_ref(), &tally)
        .await?
        .into_row(&mut row, &tally);
    row.note(format!(
        "{killed} connections terminated over {seconds} s; {} batches failed and were sent again",
        tally.errors.load(Ordering::Relaxed) + tally.refused.load(Ordering::Relaxed)
    ));
    drop(store);
    Ok(row)
}

/// The database in a tablespace on a 48 MiB filesystem that fills; space is then freed.
pub async fn disk_full(launcher: &Launcher, work: &Path, admin: &str) -> anyhow::Result<Row> {
    let mut row = Row::new("disk full (tablespace)", "postgres");
    let mnt = Tmpfs::mount(&work.join("pg-fs"), 48)?;
    let location = mnt.path.join("tablespace");
    std::fs::create_dir_all(&location)?;
    let chown = std::process::Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&location)
        .status()?;
    anyhow::ensure!(chown.success(), "chown postgres {}", location.display());
    // The schema and its first pages take room too: leave enough for them.
    let ballast = mnt.ballast(14 * 1024 * 1024)?;
    psql(admin, "DROP DATABASE IF EXISTS wp_fault_full WITH (FORCE)")?;
    psql(admin, "DROP TABLESPACE IF EXISTS wp_fault_ts")?;
    psql(
        admin,
        &format!(
            "CREATE TABLESPACE wp_fault_ts LOCATION '{}'",
            location.display()
        ),
    )?;
    let result = async {
        let db = Database::create(admin, "wp_fault_full", Some("wp_fault_ts"))?;
        let server = launcher.start(
            work,
            &[
                ("storage.database_url", db.url()),
                (
                    "storage.data_dir",
                    work.join("pg-full").display().to_string(),
                ),
            ],
            Duration::from_secs(60),
        )?;
        let client = reqwest::Client::new();
        let tally = Arc::new(Tally::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut senders = load::start(
            client.clone(),
            server.url("/api/v1/events"),
            Plan {
                senders: 2,
                batch: 200,
                rate: Some(4000),
                padding: 400,
            },
            tally.clone(),
            stopped,
        );
        let full = wait_for(Duration::from_secs(180), || async {
            tally.refused.load(Ordering::Relaxed) > 0
        })
        .await;
        row.require(full.is_some(), "the tablespace never filled");
        tokio::time::sleep(Duration::from_secs(3)).await;
        let ready_full = status_of(&client, &server.url("/readyz")).await;
        row.require(
            ready_full == 503,
            format!("readiness answered {ready_full} while the disk was full"),
        );
        row.note(format!(
            "full after {:.1} s; readiness {ready_full}; last refusal: {}",
            full.unwrap_or_default().as_secs_f64(),
            tally
                .last_refusal
                .lock()
                .unwrap()
                .chars()
                .take(160)
                .collect::<String>()
        ));
        std::fs::remove_file(&ballast)?;
        let ok_before = tally.ok_batches.load(Ordering::Relaxed);
        let resumed = wait_for(Duration::from_secs(60), || async {
            tally.ok_batches.load(Ordering::Relaxed) >= ok_before + 5
        })
        .await;
        row.require(
            resumed.is_some(),
            "ingest did not resume after space was freed",
        );
        row.note(format!(
            "ingest resumed {:.1} s after space was freed",
            resumed.unwrap_or_default().as_secs_f64()
        ));
        let _ = stop.send(true);
        while senders.join_next().await.is_some() {}
        server.kill();
        let store = watchpost_store::open(&db.url()).await?;
        load::count(store.as_ref(), &tally)
            .await?
            .into_row(&mut row, &tally);
        drop(store);
        drop(db);
        anyhow::Ok(row)
    }
    .await;
    let _ = psql(admin, "DROP DATABASE IF EXISTS wp_fault_full WITH (FORCE)");
    let _ = psql(admin, "DROP TABLESPACE IF EXISTS wp_fault_ts");
    drop(mnt);
    result
}
