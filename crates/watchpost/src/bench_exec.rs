//! `watchpost bench exec-capture`: spawns thousands of short-lived processes as fast as
//! possible and counts how many each exec source recorded, and how many of those with
//! their whole command line (the rest are marked partial: the process was gone before
//! `/proc` could be read).

use clap::Args;
use serde_json::json;
use std::collections::HashSet;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use watchpost_host::{ExecCapture, SourceChoice};

#[derive(Args)]
pub struct ExecCaptureArgs {
    /// Processes to spawn.
    #[arg(long, default_value_t = 2000)]
    pub processes: usize,
    /// Sources to measure, one after the other (ebpf needs the `ebpf` build feature).
    #[arg(long = "source", default_values = ["proc-connector", "proc-poll"])]
    pub sources: Vec<SourceChoice>,
    /// End with one JSON line of the figures.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when the proc connector records less than this percentage of the processes.
    #[arg(long)]
    pub min_connector_recorded: Option<f64>,
    /// Exit 1 when the eBPF source records less than this percentage of the processes
    /// with their complete argv.
    #[arg(long)]
    pub min_ebpf_complete: Option<f64>,
}

/// What one source recorded.
struct Figures {
    source: &'static str,
    recorded: usize,
    complete: usize,
}

pub fn run(args: &ExecCaptureArgs) -> anyhow::Result<ExitCode> {
    let mut all = Vec::new();
    for choice in &args.sources {
        all.push(measure(choice.clone(), args.processes)?);
    }
    let mut failed = false;
    let percent = |n: usize| 100.0 * n as f64 / args.processes.max(1) as f64;
    for f in &all {
        println!(
            "{:<15} {} processes: {} recorded ({:.2} %), {} with complete argv ({:.2} %)",
            f.source,
            args.processes,
            f.recorded,
            percent(f.recorded),
            f.complete,
            percent(f.complete)
        );
        if f.source == "proc-connector"
            && let Some(min) = args.min_connector_recorded
            && percent(f.recorded) < min
        {
            println!(
                "FAIL: the proc connector recorded {:.2} %, below {min} %",
                percent(f.recorded)
            );
            failed = true;
        }
        if f.source == "ebpf"
            && let Some(min) = args.min_ebpf_complete
            && percent(f.complete) < min
        {
            println!(
                "FAIL: the eBPF source recorded {:.2} % with complete argv, below {min} %",
                percent(f.complete)
            );
            failed = true;
        }
    }
    if args.json {
        let by_source: serde_json::Map<String, serde_json::Value> = all
            .iter()
            .map(|f| {
                (
                    f.source.to_string(),
                    json!({"recorded": f.recorded, "complete_argv": f.complete}),
                )
            })
            .collect();
        println!(
            "{}",
            json!({"processes": args.processes, "by_source": by_source})
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn measure(choice: SourceChoice, processes: usize) -> anyhow::Result<Figures> {
    let mut capture = ExecCapture::start(choice)?;
    let source = capture.source_name();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    let collector = std::thread::spawn(move || {
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
            for event in capture.next_events(Duration::from_millis(50)) {
                let _ = tx.send(event);
            }
        }
    });
    // Spawn as fast as possible: a window of children in flight, reaped as they end.
    let marker = format!("wp-bench-{}", std::process::id());
    let mut pids = HashSet::new();
    let mut running = Vec::new();
    for i in 0..processes {
        let child = Command::new("/bin/true")
            .arg(format!("{marker}-{i}"))
            .stdout(Stdio::null())
            .spawn()?;
        pids.insert(i64::from(child.id()));
        running.push(child);
        if running.len() >= 64 {
            for mut c in running.drain(..) {
                c.wait()?;
            }
        }
    }
    for mut c in running {
        c.wait()?;
    }
    // Let the source catch up, then stop.
    let mut recorded = HashSet::new();
    let mut complete = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && recorded.len() < pids.len() {
        if let Ok(event) = rx.recv_timeout(Duration::from_millis(100)) {
            let Some(process) = event.process else {
                continue;
            };
            let Some(pid) = process.pid.filter(|p| pids.contains(p)) else {
                continue;
            };
            recorded.insert(pid);
            if process.args.iter().any(|a| a.starts_with(&marker)) {
                complete.insert(pid);
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = collector.join();
    Ok(Figures {
        source,
        recorded: recorded.len(),
        complete: complete.len(),
    })
}
