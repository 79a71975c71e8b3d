//! Senders that ship events as an agent would, keeping every id they were told was stored;
//! readers that search while they write; and the count, afterwards, of what the store has.

use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;
use watchpost_store::Store;

/// What the senders saw.
#[derive(Default)]
pub struct Tally {
    /// Ids the server acknowledged (answered 200 for).
    pub acked: Mutex<Vec<Uuid>>,
    /// Every id sent, acknowledged or not.
    pub sent: Mutex<HashSet<Uuid>>,
    pub ok_batches: AtomicU64,
    /// 503 answers: the batch is kept and sent again.
    pub refused: AtomicU64,
    /// Other failures (connection refused, timeouts, other statuses), also retried.
    pub errors: AtomicU64,
    /// The last refusal's message.
    pub last_refusal: Mutex<String>,
}

impl Tally {
    pub fn acked_count(&self) -> u64 {
        self.acked.lock().unwrap().len() as u64
    }
}

/// How the senders send.
#[derive(Clone)]
pub struct Plan {
    pub senders: usize,
    pub batch: usize,
    /// Events per second over all senders; `None`: as fast as the server answers.
    pub rate: Option<u64>,
    /// Characters of filler per event, so that a disk fills at a known pace.
    pub padding: usize,
}

/// Starts the senders; they stop when `stop` turns true.
pub fn start(
    client: reqwest::Client,
    url: String,
    plan: Plan,
    tally: Arc<Tally>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinSet<()> {
    let seq = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..plan.senders {
        let (client, url, plan, tally, stop, seq) = (
            client.clone(),
            url.clone(),
            plan.clone(),
            tally.clone(),
            stop.clone(),
            seq.clone(),
        );
        set.spawn(async move { send(client, url, plan, tally, stop, seq).await });
    }
    set
}

async fn send(
    client: reqwest::Client,
    url: String,
    plan: Plan,
    tally: Arc<Tally>,
    stop: watch::Receiver<bool>,
    seq: Arc<AtomicU64>,
) {
    let pause = plan
        .rate
        .map(|r| Duration::from_secs_f64(plan.batch as f64 * plan.senders as f64 / r as f64));
    let mut pending: Option<(Vec<Uuid>, Vec<u8>)> = None;
    while !*stop.borrow() {
        let (ids, body) = pending.take().unwrap_or_else(|| {
            let first = seq.fetch_add(plan.batch as u64, Ordering::Relaxed);
            batch(first, plan.batch, plan.padding)
        });
        tally.sent.lock().unwrap().extend(ids.iter().copied());
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => {
                tally.ok_batches.fetch_add(1, Ordering::Relaxed);
                tally.acked.lock().unwrap().extend(ids);
                if let Some(p) = pause {
                    tokio::time::sleep(p).await;
                }
            }
            Ok(r) => {
                if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                    tally.refused.fetch_add(1, Ordering::Relaxed);
                    *tally.last_refusal.lock().unwrap() = r.text().await.unwrap_or_default();
                } else {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                }
                // The batch stays and goes again, as a spool's would.
                pending = Some((ids, body));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                pending = Some((ids, body));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A batch of events numbered from `first`: their ids and the JSON body.
pub fn batch(first: u64, n: usize, padding: usize) -> (Vec<Uuid>, Vec<u8>) {
    let now = chrono::Utc::now().to_rfc3339();
    let filler = "lorem ipsum dolor sit amet ".repeat(padding / 27 + 1);
    let mut ids = Vec::with_capacity(n);
    let events: Vec<Value> = (first..first + n as u64)
        .map(|i| {
            let id = Uuid::new_v4();
            ids.push(id);
            json!({
                "@timestamp": now,
                "event": {"id": id, "kind": "event", "category": ["authentication"],
                          "action": "login", "module": "faults"},
                "host": {"name": format!("fault-host-{}", i % 8)},
                "user": {"name": format!("user{}", i % 100)},
                "source": {"ip": format!("198.51.100.{}", i % 250)},
                "message": format!(
                    "event {i}: accepted password for user{} marker{} {}",
                    i % 100,
                    i % MARKERS,
                    &filler[..padding.min(filler.len())]
                ),
            })
        })
        .collect();
    (ids, serde_json::to_vec(&events).expect("events serialise"))
}

/// Each event carries `marker<i % MARKERS>`: a word that matches one event in this many.
pub const MARKERS: u64 = 50_000;

/// Acknowledged ids found in the store, and rows stored more than once.
pub struct Count {
    pub stored: u64,
    pub lost: u64,
    pub duplicated: u64,
}

/// Looks up every acknowledged id in the store (opened directly, after the server is
/// gone) and compares the events table's rows with the distinct ids sent.
pub async fn count(store: &dyn Store, tally: &Tally) -> anyhow::Result<Count> {
    let acked = tally.acked.lock().unwrap().clone();
    let mut stored = 0u64;
    for chunk in acked.chunks(1000) {
        stored += store.get_events(chunk).await?.len() as u64;
    }
    let sent: Vec<Uuid> = tally.sent.lock().unwrap().iter().copied().collect();
    let mut sent_stored = 0u64;
    for chunk in sent.chunks(1000) {
        sent_stored += store.get_events(chunk).await?.len() as u64;
    }
    let rows = store
        .stats()
        .await?
        .tables
        .iter()
        .find(|t| t.table == "events")
        .map_or(0, |t| t.rows as u64);
    Ok(Count {
        stored,
        lost: acked.len() as u64 - stored,
        duplicated: rows.saturating_sub(sent_stored),
    })
}

impl Count {
    /// Writes the senders' and the store's counts into `row`, requiring that nothing
    /// acknowledged was lost and nothing stored twice.
    pub fn into_row(self, row: &mut crate::report::Row, tally: &Tally) {
        row.acknowledged = tally.acked_count();
        row.stored = self.stored;
        row.lost = self.lost;
        row.duplicated = self.duplicated;
        row.refused = tally.refused.load(Ordering::Relaxed);
        row.require(
            self.lost == 0,
            format!("{} acknowledged events lost", self.lost),
        );
        row.require(
            self.duplicated == 0,
            format!("{} events stored twice", self.duplicated),
        );
    }
}
