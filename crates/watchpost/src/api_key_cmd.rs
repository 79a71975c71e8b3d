//! `watchpost api-key create|list|revoke`: API keys managed on the server's own machine,
//! through its store and the key secret in its data directory (the same as
//! `/api/v1/api-keys`, without needing a key to begin with).

use crate::cli::load_config;
use anyhow::Context;
use chrono::{Duration, Utc};
use std::path::PathBuf;
use std::process::ExitCode;
use watchpost_server::auth::{KeyRing, Role};

/// Longest validity accepted: ten years.
const MAX_EXPIRY_DAYS: i64 = 3650;

/// Makes a key and prints it once.
pub async fn create(
    config: &Option<PathBuf>,
    name: &str,
    role: &str,
    expires_in_days: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        anyhow::bail!("--name: give 1 to 100 printable characters");
    }
    let role: Role = role
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    let expires_at = match expires_in_days {
        None => None,
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
            Some(Utc::now() + Duration::days(days))
        }
        Some(days) => {
            anyhow::bail!("--expires-in-days: {days} is out of range (1 to {MAX_EXPIRY_DAYS})")
        }
    };
    let data_dir = load_config(config, Vec::new())?.get().data_dir();
    let ring = KeyRing::open(&data_dir).context("opening the API key secret")?;
    let store = crate::db::open(config).await?;
    let new = ring.issue(name, role, expires_at);
    store.insert_api_key(&new.record).await?;
    eprintln!(
        "made {} key `{name}` ({}); the key (shown once, store it now):",
        role.as_str(),
        new.record.id
    );
    println!("{}", new.text);
    Ok(ExitCode::SUCCESS)
}

/// Lists keys: id, name, role, expiry and last use (never the keys).
pub async fn list(config: &Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let keys = crate::db::open(config).await?.list_api_keys().await?;
    println!(
        "{:<14} {:<24} {:<8} {:<26} last used",
        "id", "name", "role", "expires"
    );
    for k in keys {
        println!(
            "{:<14} {:<24} {:<8} {:<26} {}",
            k.id,
            k.name,
            k.role,
            k.expires_at.map_or("never".to_string(), |t| t.to_rfc3339()),
            k.last_used_at
                .map_or("never".to_string(), |t| t.to_rfc3339()),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes a key; it stops working at once.
pub async fn revoke(config: &Option<PathBuf>, id: &str) -> anyhow::Result<ExitCode> {
    let id = id.strip_prefix("wpk_").unwrap_or(id);
    let id = id.split('_').next().unwrap_or(id);
    if crate::db::open(config).await?.delete_api_key(id).await? {
        println!("revoked {id}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("no API key has the id `{id}` (watchpost api-key list)");
        Ok(ExitCode::FAILURE)
    }
}
