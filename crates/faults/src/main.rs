//! `watchpost-faults`: Watchpost's fault-injection suite.
//!
//! Each scenario runs a real `watchpost serve`, does to it what an operator's worst week
//! would (a full disk, a WAL that grows under load, damaged storage, a receiver down for a
//! long time, lost PostgreSQL connections, search over many events), and checks the
//! guarantees of `docs/reliability.md`: nothing acknowledged is lost or stored twice, the
//! server says when it cannot write, and it recovers by itself. It prints a table and
//! exits non-zero when a guarantee broke. Mounting the small filesystems needs root.
//!
//! ```text
//! cargo build --release -p watchpost -p watchpost-faults
//! sudo target/release/watchpost-faults --binary target/release/watchpost
//! ```

mod load;
mod mount;
mod report;
mod scenarios;
mod server;

use clap::Parser;
use report::Row;
use server::Launcher;
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Fault injection against a real watchpost server")]
struct Args {
    /// The `watchpost` binary to run.
    #[arg(long, default_value = "target/release/watchpost")]
    binary: PathBuf,
    /// An administrator's PostgreSQL URL (databases and a tablespace are made and dropped).
    #[arg(
        long,
        env = "TEST_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Scenarios to run (all when none is given): disk-full, wal, wal-startup, damage,
    /// notices, search, agent-outage, pg-kill, pg-disk-full, pg-search.
    #[arg(long = "only")]
    only: Vec<String>,
    /// Seconds of ingest while the WAL is watched.
    #[arg(long, default_value_t = 60)]
    wal_seconds: u64,
    /// Size of the WAL left for the start-up scenario.
    #[arg(long, default_value_t = 1024)]
    wal_mib: u64,
    /// Events stored before searching (SQLite; PostgreSQL gets half).
    #[arg(long, default_value_t = 1_000_000)]
    search_events: u64,
    /// Seconds the webhook receiver stays down.
    #[arg(long, default_value_t = 45)]
    outage_seconds: u64,
    /// Short-lived processes per burst in the agent scenario.
    #[arg(long, default_value_t = 200)]
    agent_processes: usize,
    /// Seconds of ingest while PostgreSQL connections are killed.
    #[arg(long, default_value_t = 20)]
    kill_seconds: u64,
    /// Also write the table as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

const ALL: &[&str] = &[
    "disk-full",
    "wal",
    "wal-startup",
    "damage",
    "notices",
    "search",
    "agent-outage",
    "pg-kill",
    "pg-disk-full",
    "pg-search",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // reqwest is built without a TLS provider of its own (the build has one: ring).
    let _ = rustls::crypto::ring::default_provider().install_default();
    for name in &args.only {
        anyhow::ensure!(
            ALL.contains(&name.as_str()),
            "--only {name}: no such scenario (one of {})",
            ALL.join(", ")
        );
    }
    let binary = std::fs::canonicalize(&args.binary)
        .map_err(|e| anyhow::anyhow!("--binary {}: {e}", args.binary.display()))?;
    let launcher = Launcher { binary };
    let work = tempfile::Builder::new()
        .prefix("watchpost-faults-")
        .tempdir()?;
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    let mut record = |name: &str, result: anyhow::Result<Row>| {
        let row = result.unwrap_or_else(|e| {
            let mut row = Row::new(name, "-");
            row.failures.push(format!("{e:#}"));
            row
        });
        eprintln!("{}", report::table(std::slice::from_ref(&row)));
        rows.push(row);
    };
    let w = work.path();
    let l = &launcher;
    if wanted("disk-full") {
        record(
            "disk full (no reserve)",
            scenarios::disk_full::run(l, w, 0).await,
        );
        record(
            "disk full (reserve)",
            scenarios::disk_full::run(l, w, 8).await,
        );
    }
    if wanted("wal") {
        record(
            "WAL under load",
            scenarios::wal::bound(l, w, args.wal_seconds).await,
        );
    }
    if wanted("wal-startup") {
        record(
            "start with a large WAL",
            scenarios::wal::large_wal_startup(l, w, args.wal_mib).await,
        );
    }
    if wanted("damage") {
        record("altered rows", scenarios::damage::altered_rows(l, w).await);
        record(
            "damaged pages",
            scenarios::damage::damaged_pages(l, w).await,
        );
    }
    if wanted("notices") {
        record(
            "receiver down",
            scenarios::notices::run(l, w, args.outage_seconds).await,
        );
    }
    if wanted("search") {
        let data = w.join("search").display().to_string();
        record(
            "search at scale",
            scenarios::search::run(
                l,
                w,
                "sqlite",
                &[("storage.data_dir", data)],
                args.search_events,
            )
            .await,
        );
    }
    if wanted("agent-outage") {
        // The agent's default (eBPF where built in), and the proc connector it falls back to.
        for source in ["auto", "proc-connector"] {
            record(
                "short processes, server away",
                scenarios::agent::run(l, w, args.agent_processes, source).await,
            );
        }
    }
    let pg = &args.postgres;
    if wanted("pg-kill") {
        record(
            "connections killed",
            scenarios::postgres::killed_connections(l, w, pg, args.kill_seconds).await,
        );
    }
    if wanted("pg-disk-full") {
        record(
            "disk full (tablespace)",
            scenarios::postgres::disk_full(l, w, pg).await,
        );
    }
    if wanted("pg-search") {
        let result = async {
            scenarios::postgres::psql(pg, "DROP DATABASE IF EXISTS wp_fault_search WITH (FORCE)")?;
            scenarios::postgres::psql(pg, "CREATE DATABASE wp_fault_search")?;
            let url = scenarios::postgres::database_url(pg, "wp_fault_search");
            let data = w.join("pg-search").display().to_string();
            let row = scenarios::search::run(
                l,
                w,
                "postgres",
                &[("storage.database_url", url), ("storage.data_dir", data)],
                args.search_events / 2,
            )
            .await;
            scenarios::postgres::psql(pg, "DROP DATABASE IF EXISTS wp_fault_search WITH (FORCE)")?;
            row
        }
        .await;
        record("search at scale", result);
    }

    println!("\n{}", report::table(&rows));
    if let Some(path) = &args.json {
        let all: Vec<_> = rows.iter().map(Row::json).collect();
        std::fs::write(path, serde_json::to_string_pretty(&all)?)?;
    }
    let failed = rows.iter().filter(|r| !r.failures.is_empty()).count();
    if failed > 0 {
        anyhow::bail!("{failed} of {} scenarios broke a guarantee", rows.len());
    }
    Ok(())
}
