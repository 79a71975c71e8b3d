//! `watchpost bench incidents`: alerts grouped into incidents at a fixed rate, through the
//! server's incident desk (the correlator and the incident writes to SQLite), over a pool
//! of attacker addresses. Reports how long assigning a batch of alerts to incidents takes
//! (p50, p99, max: every alert of a batch waits for the whole batch) and what the index
//! costs in memory.

use crate::proc_usage::status_kib;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use uuid::Uuid;
use watchpost_core::{Alert, AttackTags, Detection, Entity, Severity};
use watchpost_server::incidents::{IncidentDesk, settings};

#[derive(clap::Args)]
pub struct IncidentBenchArgs {
    /// Alerts per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// Attacker addresses the alerts are spread over.
    #[arg(long, default_value_t = 100_000)]
    entities: u32,
    /// Alerts handed over together, gathered over this many milliseconds (the alert desk
    /// folds in batches).
    #[arg(long, default_value_t = 10)]
    batch_ms: u64,
    /// End with one JSON line of the figures.
    #[arg(long)]
    json: bool,
    /// Exit 1 when the p99 batch assignment time is above this many milliseconds.
    #[arg(long)]
    max_p99_ms: Option<f64>,
}

/// The web rules the synthetic attackers trip, with their tactics.
const RULES: &[(&str, &str)] = &[
    ("web.sqli", "attack.initial-access"),
    ("web.xss", "attack.initial-access"),
    ("web.path_traversal", "attack.initial-access"),
    ("web.scanner", "attack.reconnaissance"),
    ("web.bruteforce", "attack.credential-access"),
];

pub async fn incidents(args: IncidentBenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.rate > 0 && args.seconds > 0 && args.entities > 0 && args.batch_ms > 0,
        "--rate, --seconds, --entities and --batch-ms must be positive"
    );
    let temp = std::env::temp_dir().join(format!("watchpost-bench-{}", Uuid::new_v4().simple()));
    let result = run(&args, &temp).await;
    let _ = std::fs::remove_dir_all(&temp);
    result
}

async fn run(args: &IncidentBenchArgs, temp: &std::path::Path) -> anyhow::Result<ExitCode> {
    let store = watchpost_store::open(&format!("sqlite://{}/bench.db", temp.display())).await?;
    let desk = IncidentDesk::start(
        store.clone(),
        Default::default(),
        settings(&watchpost_config::IncidentsConfig::default()),
        false,
        None,
    )
    .await;
    let pid = std::process::id();
    let rss_before = status_kib(pid, "VmRSS").unwrap_or(0);
    let per_batch = ((u64::from(args.rate) * args.batch_ms) / 1000).max(1) as usize;
    let batches = u64::from(args.seconds) * 1000 / args.batch_ms;
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut took = Vec::with_capacity(batches as usize);
    let started = Instant::now();
    for b in 0..batches {
        let due = started + Duration::from_millis(b * args.batch_ms);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
        let mut detections = Vec::with_capacity(per_batch);
        let mut alerts = Vec::with_capacity(per_batch);
        for _ in 0..per_batch {
            let n = random.next() % u64::from(args.entities);
            let (rule, tactic) = RULES[(random.next() % RULES.len() as u64) as usize];
            let mut d = Detection::new(rule, rule, Severity::High, "web");
            d.entity = Some(Entity::Ip {
                ip: format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255),
            });
            d.host = Some("shop".into());
            d.attack = AttackTags::from_sigma_tags([tactic]);
            let mut alert = Alert::from_detection(&d, BTreeMap::new());
            // One alert per rule and address, as the alert desk folds them.
            alert.id = Uuid::from_u128(
                u128::from(n) << 8 | (RULES.iter().position(|r| r.0 == rule).unwrap_or(0) as u128),
            );
            detections.push(d);
            alerts.push(alert);
        }
        let t = Instant::now();
        desk.observe(&detections, &alerts).await;
        took.push(t.elapsed());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = status_kib(pid, "VmRSS").unwrap_or(0);
    let peak = status_kib(pid, "VmHWM").unwrap_or(0);
    let tracked = desk.tracked().await;
    let stored = store.query_incidents(None, None, 100_000).await?.len();
    took.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| ms(took[((took.len() as f64 * q) as usize).min(took.len() - 1)]);
    let (p50, p99, max) = (
        at(0.50),
        at(0.99),
        ms(*took.last().unwrap_or(&Duration::ZERO)),
    );
    let alerts_sent = batches as usize * per_batch;
    let growth_mib = rss_after.saturating_sub(rss_before) as f64 / 1024.0;
    println!(
        "{alerts_sent} alerts in {elapsed:.1} s ({:.0}/s) over {} addresses, batches of {per_batch}: \
         assignment per batch p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms; \
         {tracked} incidents indexed, {stored} stored; RSS grew {growth_mib:.1} MiB (peak {:.1} MiB)",
        alerts_sent as f64 / elapsed,
        args.entities,
        peak as f64 / 1024.0
    );
    if args.json {
        println!(
            "{}",
            serde_json::json!({"alerts": alerts_sent, "seconds": elapsed, "entities": args.entities,
                "batch": per_batch, "p50_ms": p50, "p99_ms": p99, "max_ms": max,
                "indexed": tracked, "stored": stored, "rss_growth_mib": growth_mib,
                "peak_rss_mib": peak as f64 / 1024.0})
        );
    }
    if let Some(limit) = args.max_p99_ms
        && p99 > limit
    {
        println!("FAIL: p99 {p99:.2} ms is above {limit} ms");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A small deterministic generator: the same run every time.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
