//! The shipper: spools what it is given and sends the spool to the server.
//!
//! [`Shipper::send`] only appends to the spool, so a slow or absent server never slows
//! the proxy or agent down. A background task seals the open segment every flush
//! interval, ships sealed segments oldest first (one request per segment, gzip), deletes
//! each once the server acknowledges it, and backs off exponentially with jitter when the
//! server is away or busy (honouring `Retry-After`).

use crate::protocol::{Batch, INGEST_PATH, Record, SenderInfo, Token};
use crate::spool::{Spool, SpoolError, SpoolLimits};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::RngExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where and how to ship.
#[derive(Debug, Clone)]
pub struct ShipperConfig {
    /// The server, as `https://host:port` (or `http://` on a trusted network).
    pub server: String,
    pub token: Token,
    pub sender: SenderInfo,
    pub spool_dir: PathBuf,
    pub limits: SpoolLimits,
    /// How often the open segment is sealed and shipped.
    pub flush_interval: Duration,
    /// The longest wait between retries.
    pub max_backoff: Duration,
}

/// A running shipper. Cloning shares it.
#[derive(Clone)]
pub struct Shipper {
    spool: Arc<Mutex<Spool>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

/// Why a delivery failed, and how long to wait before the next.
enum Failure {
    /// The server is away or busy: retry with backoff (or after `Retry-After`).
    Retry(Option<Duration>),
    /// The server refused the token: keep the spool, retry slowly, say why.
    Refused(String),
}

impl Shipper {
    /// Opens the spool and starts shipping in the background.
    pub fn start(config: ShipperConfig) -> Result<Shipper, SpoolError> {
        // One TLS provider in the whole binary: ring (the build's only one).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let spool = Arc::new(Mutex::new(Spool::open(&config.spool_dir, config.limits)?));
        let task = tokio::spawn(run(config, spool.clone()));
        Ok(Shipper {
            spool,
            task: Arc::new(task),
        })
    }

    /// Spools a record for shipping. Fails only when the disk does.
    pub fn send(&self, record: Record) -> Result<(), SpoolError> {
        self.spool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .append(&record)
    }

    /// Seals what is spooled so the next round ships it (on shutdown, say).
    pub fn flush(&self) -> Result<(), SpoolError> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner()).seal()
    }

    /// Seals what is spooled and waits up to `limit` for the background task to ship
    /// it, so that a sender's last records (an agent saying it is being stopped) arrive
    /// now rather than at its next start. Whatever is left stays spooled.
    pub async fn drain(&self, limit: Duration) -> Result<(), SpoolError> {
        self.flush()?;
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            let pending = self
                .spool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .oldest_segment()?;
            if pending.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops the background task; what is spooled stays for the next start.
    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn run(config: ShipperConfig, spool: Arc<Mutex<Spool>>) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(format!(
            "watchpost-{}/{}",
            config.sender.kind, config.sender.version
        ))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "shipper cannot build its HTTP client");
            return;
        }
    };
    let url = format!("{}{INGEST_PATH}", config.server.trim_end_matches('/'));
    let mut failures: u32 = 0;
    // The batch being delivered and its segment, kept across retries: while the server is
    // away the segment is not read and parsed again for every attempt. One the spool's
    // bound has deleted meanwhile is counted as dropped and not sent.
    let mut pending: Option<(Batch, PathBuf)> = None;
    loop {
        let (batch, segment) = match pending.take().filter(|(_, segment)| segment.exists()) {
            Some(kept) => kept,
            None => match next_batch(&config, &spool) {
                Ok(Some(batch)) => batch,
                Ok(None) => {
                    failures = 0;
                    tokio::time::sleep(config.flush_interval).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "shipper cannot read its spool");
                    tokio::time::sleep(config.max_backoff).await;
                    continue;
                }
            },
        };
        let sequence = batch.sequence;
        match deliver(&client, &url, &config.token, &batch).await {
            Ok(()) => {
                failures = 0;
                let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
                if let Err(e) = spool.remove(sequence) {
                    tracing::error!(error = %e, "shipped segment could not be removed");
                }
                tracing::debug!(sequence, records = batch.records.len(), "batch shipped");
            }
            Err(failure) => {
                pending = Some((batch, segment));
                failures = failures.saturating_add(1);
                let wait = match failure {
                    Failure::Retry(Some(after)) => after.min(config.max_backoff),
                    Failure::Retry(None) => backoff(failures, config.max_backoff),
                    Failure::Refused(why) => {
                        tracing::error!(server = %config.server, %why, "server refused the sender token; records stay spooled");
                        config.max_backoff
                    }
                };
                tracing::warn!(server = %config.server, sequence, attempt = failures, wait_ms = wait.as_millis() as u64, "server unreachable, records spooled");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Seals what is open and reads the oldest sealed segment as a batch. Only finding the
/// segment holds the spool; reading and parsing it does not, so the agent's capture loop,
/// which appends to the spool, never waits on a segment being read (sealed segments do not
/// change; one the spool's bound deleted meanwhile is skipped).
fn next_batch(
    config: &ShipperConfig,
    spool: &Mutex<Spool>,
) -> Result<Option<(Batch, PathBuf)>, SpoolError> {
    loop {
        let (oldest, dropped) = {
            let mut spool = spool.lock().unwrap_or_else(|p| p.into_inner());
            spool.seal()?;
            (spool.oldest_segment()?, spool.dropped())
        };
        let Some((sequence, path)) = oldest else {
            return Ok(None);
        };
        match crate::spool::read_segment(&path) {
            Ok(records) => {
                let batch = Batch {
                    sender: config.sender.clone(),
                    sequence,
                    records,
                    dropped,
                };
                return Ok(Some((batch, path)));
            }
            Err(SpoolError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Exponential backoff from 500 ms, capped, with up to half of it random so that many
/// senders do not return at once.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base =
        Duration::from_millis(500).saturating_mul(1u32 << failures.min(16).saturating_sub(1));
    let base = base.min(max);
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 2);
    (base / 2 + Duration::from_millis(jitter)).max(Duration::from_millis(100))
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    token: &Token,
    batch: &Batch,
) -> Result<(), Failure> {
    let json = serde_json::to_vec(batch).expect("batches serialize");
    let mut gz = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
    gz.write_all(&json).expect("writing to memory");
    let body = gz.finish().expect("writing to memory");
    let response = client
        .post(url)
        .bearer_auth(token.to_string())
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            tracing::debug!(error = %e, "delivery failed");
            Failure::Retry(None)
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let why = response.text().await.unwrap_or_default();
        return Err(Failure::Refused(format!("{status}: {why}")));
    }
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    tracing::debug!(%status, "server did not accept the batch");
    Err(Failure::Retry(retry_after))
}
