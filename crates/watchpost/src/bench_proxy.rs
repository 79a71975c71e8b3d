//! `watchpost bench proxy`: the latency `watchpost proxy` adds in front of a loopback
//! upstream, under an open-loop load at a fixed rate.
//!
//! The upstream runs in this process; the proxy runs as a second process (the real
//! binary, as users run it). The same schedule of requests is sent once straight to the
//! upstream and once through the proxy; latency is measured from each request's scheduled
//! start, so that a stall delays every request behind it (no coordinated omission).
//!
//! Latency on a shared machine moves with its neighbours; the CPU time the proxy process
//! spends per request (from `/proc`) moves much less, so each round prints it too.

use crate::proc_usage::cpu_time;
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ProxyBenchArgs {
    /// Requests per second.
    #[arg(long, default_value_t = 5000)]
    pub rate: u32,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 5)]
    pub seconds: u32,
    /// Rounds (direct, then through the proxy); the median round is checked.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Fail (exit 1) when the proxy adds more than this many milliseconds at p99 in the
    /// median round.
    #[arg(long)]
    pub max_added_p99_ms: Option<f64>,
    /// The proxy's `--threads` (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub proxy_threads: usize,
}

/// Browser-like requests, cycled: searches, product pages, an API call with a cookie.
const PATHS: &[&str] = &[
    "/search?q=winter+boots&page=2&sort=price_asc",
    "/products/81723?ref=home&utm_source=newsletter",
    "/api/cart/items?session_id=4f19b6a2c0&currency=EUR",
    "/static/app.3f9a1c.js",
    "/account/orders?status=shipped&from=2026-10-01",
];

pub async fn proxy(args: ProxyBenchArgs) -> anyhow::Result<ExitCode> {
    let upstream = start_upstream().await?;
    let proxy_addr = free_port()?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "proxy",
            "--listen",
            &proxy_addr.to_string(),
            "--upstream",
            &format!("http://{upstream}"),
            "--detections",
            "/dev/null",
            "--threads",
            &args.proxy_threads.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    wait_for(proxy_addr).await?;
    // Warm both paths (connection pools, allocator) before measuring.
    let warm = ProxyBenchArgs {
        rate: args.rate,
        seconds: 1,
        runs: 1,
        max_added_p99_ms: None,
        proxy_threads: args.proxy_threads,
    };
    load(upstream, &warm).await?;
    load(proxy_addr, &warm).await?;
    let p = |v: &[u64], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)] as f64 / 1000.0;
    println!(
        "{} requests/s for {} s each way, {} round(s); this machine runs the load, the upstream and the proxy",
        args.rate, args.seconds, args.runs
    );
    let proxy_pid = child.id().unwrap_or_default();
    let mut rounds = Vec::new();
    let mut cpu_per_request = Vec::new();
    for round in 1..=args.runs.max(1) {
        let direct = load(upstream, &args).await?;
        let cpu_before = cpu_time(proxy_pid);
        let proxied = load(proxy_addr, &args).await?;
        let cpu_after = cpu_time(proxy_pid);
        for (name, r) in [("direct", &direct), ("through proxy", &proxied)] {
            println!(
                "round {round} {name:<14} p50 {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  max {:.3} ms  errors {}",
                p(&r.latencies, 0.50),
                p(&r.latencies, 0.90),
                p(&r.latencies, 0.99),
                p(&r.latencies, 1.0),
                r.errors
            );
        }
        let added_p50 = p(&proxied.latencies, 0.50) - p(&direct.latencies, 0.50);
        let added_p99 = p(&proxied.latencies, 0.99) - p(&direct.latencies, 0.99);
        println!("round {round} added by the proxy: p50 {added_p50:.3} ms, p99 {added_p99:.3} ms");
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            let micros = |seconds: f64| seconds * 1e6 / proxied.latencies.len().max(1) as f64;
            let user = micros(after.user - before.user);
            let system = micros(after.system - before.system);
            println!(
                "round {round} proxy CPU per request: {:.0} µs (user {user:.0}, system {system:.0})",
                user + system
            );
            cpu_per_request.push(user + system);
        }
        if proxied.errors > 0 {
            child.kill().await.ok();
            eprintln!("FAIL: {} requests through the proxy failed", proxied.errors);
            return Ok(ExitCode::FAILURE);
        }
        rounds.push((added_p99, added_p50));
    }
    child.kill().await.ok();
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (added_p99, added_p50) = rounds[rounds.len() / 2];
    println!("median round: added p50 {added_p50:.3} ms, p99 {added_p99:.3} ms");
    if !cpu_per_request.is_empty() {
        cpu_per_request.sort_by(f64::total_cmp);
        println!(
            "median proxy CPU per request: {:.0} µs",
            cpu_per_request[cpu_per_request.len() / 2]
        );
    }
    if let Some(max) = args.max_added_p99_ms.filter(|m| added_p99 > *m) {
        eprintln!("FAIL: the proxy adds {added_p99:.3} ms at p99, above {max} ms");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A minimal upstream answering every request with a small body.
async fn start_upstream() -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"{\"ok\":true,\"items\":[1,2,3]}"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

async fn wait_for(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("the proxy did not start listening on {addr}")
}

struct LoadResult {
    /// Microseconds from each request's scheduled start to its response's end, sorted.
    latencies: Vec<u64>,
    errors: u64,
}

/// Sends `rate` requests per second for `seconds` to `target`, each at its scheduled time.
async fn load(target: SocketAddr, args: &ProxyBenchArgs) -> anyhow::Result<LoadResult> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build(connector);
    let total = u64::from(args.rate) * u64::from(args.seconds);
    let interval = Duration::from_nanos(1_000_000_000 / u64::from(args.rate.max(1)));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let uri: http::Uri =
            format!("http://{target}{}", PATHS[i as usize % PATHS.len()]).parse()?;
        tasks.push(tokio::spawn(async move {
            let request = http::Request::get(uri)
                .header("host", "shop.example")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                )
                .header("accept", "text/html,application/xhtml+xml")
                .header("cookie", "session=4f19b6a2c0; theme=dark")
                .body(Empty::<Bytes>::new())
                .expect("a static request builds");
            let ok = match client.request(request).await {
                Ok(response) => {
                    response.status().is_success() && response.into_body().collect().await.is_ok()
                }
                Err(_) => false,
            };
            (ok, scheduled.elapsed().as_micros() as u64)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for t in tasks {
        let (ok, micros) = t.await?;
        if ok {
            latencies.push(micros);
        } else {
            errors += 1;
        }
    }
    latencies.sort_unstable();
    if latencies.is_empty() {
        anyhow::bail!("no request to {target} succeeded");
    }
    Ok(LoadResult { latencies, errors })
}
