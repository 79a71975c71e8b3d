//! `watchpost bench ingest`: sustained event ingest into a store, in batches.

use clap::Args;
use std::process::ExitCode;
use std::time::Instant;
use watchpost_core::Event;

#[derive(Args)]
pub struct IngestArgs {
    /// Store to write to. Default: a fresh SQLite file in a temporary directory.
    /// For PostgreSQL give a URL to an empty database you can discard.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Events to write in all.
    #[arg(long, default_value_t = 200_000)]
    pub events: usize,
    /// Events per batch (one transaction each).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Producers writing batches at once, as several agents or API clients would. Each
    /// prepares its next batch while another's is being written.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Timed runs; each is printed and the best is checked against `--min-rate`.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Fail (exit 1) when the best rate is below this many events per second.
    #[arg(long)]
    pub min_rate: Option<f64>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A realistic mix: process executions with parents, network connections, logons.
pub(crate) fn synthetic_event(i: usize) -> Event {
    let host = format!("host-{:02}", i % 40);
    let value = match i % 3 {
        0 => serde_json::json!({
            "event": {"category": ["process"], "action": "exec", "module": "agent"},
            "host": {"name": host},
            "process": {"pid": 10_000 + i, "name": "curl", "executable": "/usr/bin/curl",
                        "command_line": format!("curl -fsSL https://updates.example.com/pkg/{i}.tar.gz -o /tmp/{i}.tgz"),
                        "parent": {"pid": 900 + i % 50, "name": "bash", "executable": "/usr/bin/bash"}},
            "user": {"name": "deploy"}
        }),
        1 => serde_json::json!({
            "event": {"category": ["network"], "action": "connection-opened", "module": "agent"},
            "host": {"name": host},
            "source": {"ip": format!("10.0.{}.{}", i % 200, i % 250), "port": 40_000 + i % 20_000},
            "destination": {"ip": "203.0.113.10", "port": 443},
            "network": {"transport": "tcp", "direction": "outbound"},
            "process": {"pid": 2000 + i % 300, "name": "nginx"}
        }),
        _ => serde_json::json!({
            "event": {"category": ["authentication"], "action": "logon-failed", "module": "sshd"},
            "host": {"name": host},
            "source": {"ip": format!("198.51.100.{}", i % 250)},
            "user": {"name": format!("user{}", i % 97)},
            "message": format!("Failed password for user{} from 198.51.100.{} port 22 ssh2", i % 97, i % 250)
        }),
    };
    let mut event =
        Event::from_json(value).unwrap_or_else(|_| Event::new(chrono::Utc::now(), "bench"));
    event.timestamp = chrono::Utc::now() - chrono::Duration::milliseconds(i as i64);
    event
}

/// The outcome of one timed run.
struct RunResult {
    backend: &'static str,
    seconds: f64,
    rate: f64,
    slowest_ms: f64,
}

pub async fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.batch > 0 && args.events > 0 && args.runs > 0,
        "--events, --batch and --runs must be positive"
    );
    let temp =
        std::env::temp_dir().join(format!("watchpost-bench-{}", uuid::Uuid::new_v4().simple()));
    let mut results = Vec::with_capacity(args.runs);
    for run in 1..=args.runs {
        // SQLite gets a fresh file per run; a given database URL is shared by the runs.
        let url = args
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/bench-{run}.db", temp.display()));
        let result = one_run(&args, &url).await;
        let _ = std::fs::remove_dir_all(&temp);
        let result = result?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"run": run, "backend": result.backend, "events": args.events, "batch": args.batch,
                    "concurrency": args.concurrency.max(1), "seconds": result.seconds,
                    "events_per_second": result.rate.round(), "slowest_batch_ms": result.slowest_ms})
            );
        } else {
            println!(
                "{}: {} events in batches of {}, {} producer(s), in {:.2} s = {:.0} events/s (slowest batch {:.1} ms)",
                result.backend,
                args.events,
                args.batch,
                args.concurrency.max(1),
                result.seconds,
                result.rate,
                result.slowest_ms
            );
        }
        results.push(result);
    }
    let best = results.iter().map(|r| r.rate).fold(0.0, f64::max);
    let backend = results.first().map_or("", |r| r.backend);
    if args.runs > 1 {
        println!("{backend}: best of {} runs: {best:.0} events/s", args.runs);
    }
    if let Some(floor) = args.min_rate.filter(|floor| best < *floor) {
        eprintln!(
            "FAIL: {backend} ingest {best:.0} events/s is below the floor of {floor:.0} events/s"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `args.events` fresh events into the store at `url` and times it.
async fn one_run(args: &IngestArgs, url: &str) -> anyhow::Result<RunResult> {
    let store = watchpost_store::open(url).await?;
    let before = store.stats().await?.tables.first().map_or(0, |t| t.rows);
    let concurrency = args.concurrency.max(1);
    let events: Vec<Event> = (0..args.events).map(synthetic_event).collect();
    let batches: Vec<Vec<Event>> = events.chunks(args.batch).map(<[Event]>::to_vec).collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(batches.into_iter()));
    let started = Instant::now();
    let mut producers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (store, queue) = (store.clone(), queue.clone());
        producers.spawn(async move {
            let mut slowest = std::time::Duration::ZERO;
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow::anyhow!("queue poisoned"))?
                    .next();
                let Some(batch) = next else {
                    return anyhow::Ok(slowest);
                };
                let t = Instant::now();
                store.insert_events(&batch).await?;
                slowest = slowest.max(t.elapsed());
            }
        });
    }
    let mut slowest = std::time::Duration::ZERO;
    while let Some(result) = producers.join_next().await {
        slowest = slowest.max(result??);
    }
    let elapsed = started.elapsed();
    let after = store.stats().await?.tables.first().map_or(0, |t| t.rows);
    anyhow::ensure!(
        (after - before) as usize == args.events,
        "{} of {} events reached the store",
        after - before,
        args.events
    );
    Ok(RunResult {
        backend: store.backend().as_str(),
        seconds: elapsed.as_secs_f64(),
        rate: args.events as f64 / elapsed.as_secs_f64(),
        slowest_ms: slowest.as_secs_f64() * 1000.0,
    })
}
