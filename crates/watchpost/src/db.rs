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

/// Registers a sender (or a revoked one again) and prints its token once.
pub async fn create_sender(
    path: &Option<PathBuf>,
    name: &str,
    kind: &str,
) -> anyhow::Result<ExitCode> {
    let store = open(path).await?;
    let (sender, token) =
        watchpost_server::sender_registry::enroll(store.as_ref(), name, kind).await?;
    eprintln!(
        "registered {kind} `{}`; its token (shown once, store it now):",
        sender.name
    );
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// Gives a sender a new token and prints it once.
pub async fn rotate_sender(
    path: &Option<PathBuf>,
    who: &str,
    grace_minutes: u64,
) -> anyhow::Result<ExitCode> {
    let store = open(path).await?;
    let (sender, token) =
        watchpost_server::sender_registry::rotate(store.as_ref(), who, grace_minutes).await?;
    match sender.previous_valid_until {
        Some(until) => eprintln!(
            "new token for `{}`; the old one works until {} (shown once, store it now):",
            sender.name,
            until.to_rfc3339()
        ),
        None => eprintln!(
            "new token for `{}`; the old one no longer works (shown once, store it now):",
            sender.name
        ),
    }
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// Revokes a sender's tokens.
pub async fn revoke_sender(path: &Option<PathBuf>, who: &str) -> anyhow::Result<ExitCode> {
    let store = open(path).await?;
    let sender = watchpost_server::sender_registry::revoke(store.as_ref(), who).await?;
    println!(
        "revoked {} `{}` ({}); `watchpost agent-token create --name {}` enrolls it again",
        sender.kind, sender.name, sender.id, sender.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Lists registered senders.
pub async fn list_senders(path: &Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let senders = open(path).await?.list_senders().await?;
    println!(
        "{:<24} {:<14} {:<6} {:<10} {:<25} {:<16} status",
        "name", "id", "kind", "version", "last seen", "address"
    );
    for s in senders {
        let status = match (s.revoked_at, s.previous_valid_until) {
            (Some(at), _) => format!("revoked {}", at.to_rfc3339()),
            (None, Some(until)) if until > chrono::Utc::now() => {
                format!("rotated; old token until {}", until.to_rfc3339())
            }
            _ => "active".into(),
        };
        println!(
            "{:<24} {:<14} {:<6} {:<10} {:<25} {:<16} {status}",
            s.name,
            s.id,
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
