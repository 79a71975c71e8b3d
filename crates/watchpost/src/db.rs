//! `watchpost db migrate` and `watchpost db stats`.

use crate::cli::load_config;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

pub(crate) async fn open(
    path: &Option<PathBuf>,
) -> anyhow::Result<std::sync::Arc<dyn watchpost_store::Store>> {
    let url = load_config(path, Vec::new())?.get().database_url();
    watchpost_store::open(&url)
        .await
        .with_context(|| format!("opening the store at {}", watchpost_config::mask_url(&url)))
}

/// Opens the store, which applies pending migrations, and reports the schema version.
pub async fn migrate(path: &Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let store = open(path).await?;
    let stats = store.stats().await?;
    println!(
        "{} store is at schema version {}",
        stats.backend.as_str(),
        stats.schema_version
    );
    Ok(ExitCode::SUCCESS)
}

/// Registers a sender and prints its token once.
pub async fn create_sender(
    path: &Option<PathBuf>,
    name: &str,
    kind: &str,
) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        anyhow::bail!("--name: give 1 to 128 printable characters");
    }
    let store = open(path).await?;
    if store.list_senders().await?.iter().any(|s| s.name == name) {
        anyhow::bail!("--name: a sender named `{name}` is already registered");
    }
    let token = watchpost_ship::Token::generate();
    store
        .insert_sender(&watchpost_store::Sender {
            id: token.id.clone(),
            name: name.to_string(),
            kind: kind.to_string(),
            secret_hash: watchpost_ship::secret_hash(&token.secret),
            created_at: chrono::Utc::now(),
            last_seen: None,
            version: None,
            address: None,
        })
        .await?;
    eprintln!("registered {kind} `{name}`; its token (shown once, store it now):");
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// Lists registered senders.
pub async fn list_senders(path: &Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let senders = open(path).await?.list_senders().await?;
    println!(
        "{:<24} {:<6} {:<10} {:<25} address",
        "name", "kind", "version", "last seen"
    );
    for s in senders {
        println!(
            "{:<24} {:<6} {:<10} {:<25} {}",
            s.name,
            s.kind,
            s.version.as_deref().unwrap_or("-"),
            s.last_seen.map_or("never".to_string(), |t| t.to_rfc3339()),
            s.address.as_deref().unwrap_or("-"),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints row counts and sizes.
pub async fn stats(path: &Option<PathBuf>, json: bool) -> anyhow::Result<ExitCode> {
    let stats = open(path).await?.stats().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "backend: {}   schema version: {}",
        stats.backend.as_str(),
        stats.schema_version
    );
    println!("{:<12} {:>12} {:>12}", "table", "rows", "size");
    for t in &stats.tables {
        println!(
            "{:<12} {:>12} {:>12}",
            t.table,
            t.rows,
            t.bytes.map_or("-".into(), human_bytes)
        );
    }
    println!(
        "{:<12} {:>12} {:>12}",
        "total",
        "",
        stats.total_bytes.map_or("-".into(), human_bytes)
    );
    Ok(ExitCode::SUCCESS)
}

fn human_bytes(n: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
