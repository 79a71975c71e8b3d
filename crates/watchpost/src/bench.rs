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
    /// Fail (exit 1) when the rate is below this many events per second.
    #[arg(long)]
    pub min_rate: Option<f64>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A realistic mix: process executions with parents, network connections, logons.
fn synthetic_event(i: usize) -> Event {
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

pub async fn ingest(args: IngestArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.batch > 0 && args.events > 0,
        "--events and --batch must be positive"
    );
    let temp =
        std::env::temp_dir().join(format!("watchpost-bench-{}", uuid::Uuid::new_v4().simple()));
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", temp.display()));
    let store = watchpost_store::open(&url).await?;
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
    let rate = args.events as f64 / elapsed.as_secs_f64();
    let stored = store.stats().await?.tables.first().map_or(0, |t| t.rows);
    anyhow::ensure!(
        stored as usize >= args.events,
        "only {stored} of {} events are in the store",
        args.events
    );
    let backend = store.backend().as_str();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"backend": backend, "events": args.events, "batch": args.batch, "concurrency": concurrency,
                "seconds": elapsed.as_secs_f64(), "events_per_second": rate.round(),
                "slowest_batch_ms": slowest.as_secs_f64() * 1000.0})
        );
    } else {
        println!(
            "{backend}: {} events in batches of {}, {concurrency} producer(s), in {:.2} s = {:.0} events/s (slowest batch {:.1} ms)",
            args.events,
            args.batch,
            elapsed.as_secs_f64(),
            rate,
            slowest.as_secs_f64() * 1000.0
        );
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&temp);
    if let Some(floor) = args.min_rate.filter(|floor| rate < *floor) {
        eprintln!(
            "FAIL: {backend} ingest {rate:.0} events/s is below the floor of {floor:.0} events/s"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
