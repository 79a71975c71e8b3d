//! `watchpost db migrate` and `watchpost db stats`.

use crate::cli::load_config;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

async fn open(
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
