//! `watchpost bench agent`: what the agent costs its host. Runs `watchpost agent` (this
//! binary) writing to /dev/null with metrics every second, for a while, optionally under a
//! load of short processes started at a steady rate (a busy build or web host), and reads
//! its CPU time and peak memory from `/proc`.

use crate::proc_usage::{cpu_time, status_kib};
use clap::Args;
use serde_json::json;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct AgentCostArgs {
    /// How long to run the agent.
    #[arg(long, default_value_t = 300)]
    pub seconds: u64,
    /// End with one JSON line of the figures.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when the agent uses more than this percentage of one core on average.
    #[arg(long)]
    pub max_cpu_percent: Option<f64>,
    /// Exit 1 when the agent's peak resident memory is above this many MiB.
    #[arg(long)]
    pub max_rss_mib: Option<f64>,
    /// Start this many short processes (`/bin/true` with a distinct argument) per second
    /// while the agent runs.
    #[arg(long, default_value_t = 0)]
    pub execs_per_second: u32,
}

pub fn run(args: &AgentCostArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile_dir()?;
    let config = dir.join("watchpost.toml");
    std::fs::write(&config, "[monitoring]\nmonitor_interval = 1\n")?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--config", config.to_str().unwrap_or_default(), "agent"])
        .args(["--output", "/dev/null", "--heartbeat-seconds", "1"])
        .args([
            "--state-dir",
            dir.join("state").to_str().unwrap_or_default(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let started = Instant::now();
    let run_for = Duration::from_secs(args.seconds);
    let load = (args.execs_per_second > 0).then(|| {
        let rate = args.execs_per_second;
        std::thread::spawn(move || exec_load(rate, run_for))
    });
    std::thread::sleep(run_for);
    let started_processes = load.and_then(|l| l.join().ok()).unwrap_or(0);
    let cpu = cpu_time(pid);
    let peak_kib = status_kib(pid, "VmHWM");
    let elapsed = started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let (Some(cpu), Some(peak_kib)) = (cpu, peak_kib) else {
        anyhow::bail!(
            "the agent exited early (it needs root for the proc connector, or use a build with a working /proc)"
        );
    };
    let cpu_percent = 100.0 * cpu.total() / elapsed;
    let rss_mib = peak_kib as f64 / 1024.0;
    let exec_rate = started_processes as f64 / elapsed;
    println!(
        "agent for {elapsed:.0} s (metrics every 1 s, exec capture, file integrity) under {exec_rate:.0} execs/s: {cpu_percent:.3} % of one core on average, peak RSS {rss_mib:.1} MiB"
    );
    let mut failed = false;
    if let Some(max) = args.max_cpu_percent
        && cpu_percent > max
    {
        println!("FAIL: {cpu_percent:.3} % of a core is above {max} %");
        failed = true;
    }
    if let Some(max) = args.max_rss_mib
        && rss_mib > max
    {
        println!("FAIL: peak RSS {rss_mib:.1} MiB is above {max} MiB");
        failed = true;
    }
    if args.json {
        println!(
            "{}",
            json!({"seconds": elapsed, "execs_per_second": exec_rate, "cpu_percent": cpu_percent, "peak_rss_mib": rss_mib})
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Starts `rate` processes a second for `duration` (in ticks of 10 ms, waiting for each
/// tick's before the next), and returns how many were started.
fn exec_load(rate: u32, duration: Duration) -> u64 {
    let tick = Duration::from_millis(10);
    let per_tick = (rate as f64 / 100.0).ceil() as u32;
    let started = Instant::now();
    let mut count = 0u64;
    let mut next = started;
    while started.elapsed() < duration {
        let children: Vec<_> = (0..per_tick)
            .filter_map(|_| {
                count += 1;
                Command::new("/bin/true")
                    .arg(format!("wp-bench-load-{count}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .ok()
            })
            .collect();
        for mut child in children {
            let _ = child.wait();
        }
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    count
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("watchpost-bench-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
