//! `watchpost metrics series`: a host's metric over time, from the downsampled series in
//! the store (per-minute rollups, per-hour for whole-hour steps).

use crate::db::open;
use chrono::{Duration, Utc};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SeriesArgs {
    /// The host, as its events name it.
    #[arg(long)]
    pub host: String,
    /// `cpu.percent`, `memory.percent`, `swap.percent`, `load.1`, `processes`,
    /// `disk.used_percent:/`, `net.rx_bps:eth0`…
    #[arg(long)]
    pub metric: String,
    /// How far back: `90m`, `24h`, `30d`.
    #[arg(long, default_value = "24h", value_parser = watchpost_core::time::parse_span)]
    pub since: Duration,
    /// The width of each point: `1m`, `5m`, `1h` (at least a minute).
    #[arg(long, default_value = "5m", value_parser = watchpost_core::time::parse_span)]
    pub step: Duration,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn series(path: &Option<PathBuf>, args: &SeriesArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.step >= Duration::minutes(1),
        "--step: the finest series is per minute"
    );
    let store = open(path).await?;
    let to = Utc::now();
    let from = to - args.since;
    let points = store
        .metric_series(&args.host, &args.metric, from, to, args.step.num_seconds())
        .await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"host": args.host, "metric": args.metric,
                "step_seconds": args.step.num_seconds(), "points": points})
        );
        return Ok(ExitCode::SUCCESS);
    }
    if points.is_empty() {
        println!(
            "no samples of {} on {} in that range",
            args.metric, args.host
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:>12} {:>12} {:>12} {:>8}",
        "at (UTC)", "avg", "min", "max", "samples"
    );
    for p in points {
        println!(
            "{:<20} {:>12.2} {:>12.2} {:>12.2} {:>8}",
            p.at.format("%Y-%m-%d %H:%M"),
            p.avg,
            p.min,
            p.max,
            p.samples
        );
    }
    Ok(ExitCode::SUCCESS)
}
