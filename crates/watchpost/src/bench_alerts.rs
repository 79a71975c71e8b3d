//! `watchpost bench alerts`: detection to webhook delivered, through the server's own alert
//! desk (fold into an alert, the pipeline with `group_wait = 0`, the outbox in SQLite, the
//! delivery worker) to a loopback receiver, at a fixed rate. Latency is measured from each
//! detection's scheduled send time, so a backlog counts against it.

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;
use watchpost_config::{Config, ConfigHandle};
use watchpost_core::{Detection, Entity, Severity};
use watchpost_server::alerting::AlertDesk;

#[derive(clap::Args)]
pub struct AlertBenchArgs {
    /// Detections per second, each a new alert.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    #[arg(long, default_value_t = 10)]
    seconds: u32,
    /// Spread the detections over this many entities (0: every detection is a new alert).
    /// Repeats fold into their alert without a new notice: a sustained-load run with a
    /// bounded set of alerts, to watch throughput and memory.
    #[arg(long, default_value_t = 0)]
    entities: usize,
    /// Hand the detections over in batches gathered over this many milliseconds, the way
    /// the ingest writers do (0: each detection on its own, the strict case). Latency still
    /// counts from each detection's own scheduled time, so the gathering wait is included.
    #[arg(long, default_value_t = 0)]
    batch_ms: u64,
    /// End with one JSON line of the figures.
    #[arg(long)]
    json: bool,
    /// Exit 1 when the p99 latency is above this many milliseconds.
    #[arg(long)]
    max_p99_ms: Option<f64>,
}

/// When each detection's notice arrived, by detection id.
type Arrivals = Arc<Mutex<HashMap<Uuid, Instant>>>;

pub async fn alerts(args: AlertBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.rate > 0 && args.seconds > 0,
        "--rate and --seconds must be positive"
    );
    let arrivals: Arrivals = Arc::default();
    let receiver = start_receiver(Arc::clone(&arrivals)).await?;
    let temp = std::env::temp_dir().join(format!("watchpost-bench-{}", Uuid::new_v4().simple()));
    let result = run(&args, receiver, &arrivals, &temp).await;
    let _ = std::fs::remove_dir_all(&temp);
    result
}

async fn run(
    args: &AlertBenchArgs,
    receiver: SocketAddr,
    arrivals: &Arrivals,
    temp: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    let store = watchpost_store::open(&format!("sqlite://{}/bench.db", temp.display())).await?;
    let total = (args.rate * args.seconds) as usize;
    let alerting = toml::from_str(&format!(
        r#"
        alert_cooldown_seconds = 0
        max_alerts_per_hour = {budget}
        [route]
        receiver = "bench"
        group_by = ["..."]
        group_wait_seconds = 0
        [[channels]]
        name = "bench"
        type = "webhook"
        url = "http://{receiver}/hook"
        "#,
        budget = total + 1
    ))?;
    let config = Config {
        alerting,
        ..Config::default()
    };
    let desk = AlertDesk::start(store, &config.alerting, Default::default()).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = desk.run(ConfigHandle::new(config, None), stopped);

    let rss_before = rss_kib();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut scheduled = HashMap::with_capacity(total);
    let mut senders = tokio::task::JoinSet::new();
    let window = Duration::from_millis(args.batch_ms);
    let mut batch: Vec<Detection> = Vec::new();
    let mut batch_end = start + window;
    for i in 0..total {
        let at = start + interval * i as u32;
        if args.batch_ms > 0 && at >= batch_end && !batch.is_empty() {
            tokio::time::sleep_until(batch_end.into()).await;
            let desk = Arc::clone(&desk);
            let ready = std::mem::take(&mut batch);
            senders.spawn(async move { desk.record(&ready).await });
            while batch_end <= at {
                batch_end += window;
            }
        }
        if args.batch_ms == 0 {
            tokio::time::sleep_until(at.into()).await;
        }
        let mut d = Detection::new("bench.alert", "Benchmark alert", Severity::High, "bench");
        let e = if args.entities > 0 {
            i % args.entities
        } else {
            i
        };
        d.entity = Some(Entity::Ip {
            ip: format!("10.{}.{}.{}", e >> 16 & 255, e >> 8 & 255, e & 255),
        });
        d.timestamp = Utc::now();
        scheduled.insert(d.id, at);
        if args.batch_ms > 0 {
            batch.push(d);
            continue;
        }
        let desk = Arc::clone(&desk);
        senders.spawn(async move { desk.record(&[d]).await });
    }
    if !batch.is_empty() {
        tokio::time::sleep_until(batch_end.into()).await;
        let desk = Arc::clone(&desk);
        senders.spawn(async move { desk.record(&batch).await });
    }
    while let Some(r) = senders.join_next().await {
        r??;
    }
    let recorded_in = start.elapsed().as_secs_f64();
    let expected = if args.entities > 0 {
        args.entities.min(total)
    } else {
        total
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap_or_else(|p| p.into_inner()).len() < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }

    let arrived = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut latencies: Vec<f64> = scheduled
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|got| got.duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (p50, p99, max) = (
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    let recorded_rate = total as f64 / recorded_in;
    let rss_after = rss_kib();
    println!(
        "{total} detections at {}/s onto {expected} alerts, recorded at {recorded_rate:.0}/s; {} notices delivered; detection to webhook p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms; RSS {} → {} MiB",
        args.rate,
        latencies.len(),
        rss_before / 1024,
        rss_after / 1024
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"detections": total, "rate": args.rate, "alerts": expected,
                "recorded_per_second": recorded_rate.round(), "delivered": latencies.len(),
                "p50_ms": p50, "p99_ms": p99, "max_ms": max,
                "rss_kib_before": rss_before, "rss_kib_after": rss_after})
        );
    }
    if latencies.len() < expected {
        eprintln!(
            "FAIL: {} of {expected} notices never arrived",
            expected - latencies.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some(limit) = args.max_p99_ms.filter(|m| p99 > *m) {
        eprintln!("FAIL: p99 {p99:.1} ms is above {limit} ms");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// This process's resident memory in KiB (Linux), 0 where unknown.
fn rss_kib() -> u64 {
    crate::proc_usage::status_kib(std::process::id(), "VmRSS").unwrap_or(0)
}

/// A webhook receiver that notes when each detection's notice arrived.
async fn start_receiver(arrivals: Arrivals) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let arrivals = Arc::clone(&arrivals);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let arrivals = Arc::clone(&arrivals);
                        async move {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let now = Instant::now();
                            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                                let mut seen = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                                for a in v["alerts"].as_array().into_iter().flatten() {
                                    if let Some(id) = a["last_detection_id"]
                                        .as_str()
                                        .and_then(|s| Uuid::parse_str(s).ok())
                                    {
                                        seen.entry(id).or_insert(now);
                                    }
                                }
                            }
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
