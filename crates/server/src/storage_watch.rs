//! The store's health as the server acts on it: ingest refused before the disk fills,
//! readiness and health that say when writes fail or damage was found, an alert when either
//! begins, and the full integrity check on its schedule.
//!
//! Ingest stops at `storage.min_free_mb` of free space rather than at a full disk: the
//! space left is what the alert about it, the notices, and the alert pipeline's own state
//! need, and senders hold their batches in their spools meanwhile (a 503 is retried).

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use serde_json::json;
use std::path::Path;
use std::time::Duration;
use watchpost_core::{Detection, Severity};
use watchpost_store::Backend;

/// How often the watcher looks.
const EVERY: Duration = Duration::from_secs(5);
/// What a refused sender is told to wait before trying again.
const RETRY_AFTER_SECONDS: u64 = 10;

/// Free bytes for unprivileged writers on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(dir).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Why ingest is refused now, if it is: a damaged store, or free space below the reserve.
pub fn ingest_refusal(state: &AppState) -> Option<String> {
    if let Some(reason) = state.store.condition().damage.map(|d| d.reason) {
        return Some(format!(
            "the store is damaged ({reason}); ingest is refused until it is repaired"
        ));
    }
    space_shortfall(state)
}

/// Free space below `storage.min_free_mb` (SQLite only: a PostgreSQL server's disk is its
/// own to watch).
fn space_shortfall(state: &AppState) -> Option<String> {
    if state.store.backend() != Backend::Sqlite {
        return None;
    }
    let config = state.config.get();
    let reserve = config.storage.min_free_mb.saturating_mul(1024 * 1024);
    let free = free_bytes(&config.data_dir())?;
    (free < reserve).then(|| {
        format!(
            "free space on the data directory's filesystem is {} MiB, below the {} MiB reserve \
             (storage.min_free_mb); ingest resumes when space is freed",
            free / (1024 * 1024),
            config.storage.min_free_mb
        )
    })
}

/// The 503 a sender gets while ingest is refused; it keeps the batch and retries.
pub fn refuse_ingest(state: &AppState) -> Result<(), ApiError> {
    match ingest_refusal(state) {
        None => Ok(()),
        Some(reason) => {
            state.metrics.ingest_error("storage", 1);
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                reason,
            )
            .with_details(json!({ "retry_after_seconds": RETRY_AFTER_SECONDS })))
        }
    }
}

/// Why the server is not ready, from the store's condition and the reserve.
pub fn not_ready_reason(state: &AppState) -> Option<String> {
    let condition = state.store.condition();
    condition
        .unwritable_reason()
        .or_else(|| condition.recently_unwritable(chrono::Utc::now(), READY_AFTER_CALM))
        .or_else(|| ingest_refusal(state))
}

/// How long writes must go without a failure before the server says it is ready again
/// (ingest is taken again at once: each batch is its own test).
const READY_AFTER_CALM: chrono::Duration = chrono::Duration::seconds(5);

/// Runs until aborted: gauges every few seconds, an alert when the store starts failing
/// writes, runs short of space or is found damaged, and the full integrity check every
/// `storage.integrity_check_hours`; applies a reloaded `storage.query_timeout_seconds`.
pub async fn run(state: AppState) {
    let mut was = Trouble::default();
    let mut last_full_check = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(EVERY).await;
        let now = Trouble::read(&state);
        now.set_gauges(&state);
        for detection in now.begun_since(&was) {
            if let Err(e) = state.alerts.record(&[detection]).await {
                tracing::error!(error = %e, "an alert about the store could not be recorded");
            }
        }
        was = now;
        let storage = state.config.get().storage.clone();
        // A reload's new bound takes effect here.
        state
            .store
            .set_query_timeout(Duration::from_secs(storage.query_timeout_seconds));
        let hours = storage.integrity_check_hours;
        if hours > 0 && last_full_check.elapsed() >= Duration::from_secs(hours * 3600) {
            last_full_check = tokio::time::Instant::now();
            match state.store.check_integrity(true).await {
                Ok(report) if !report.ok => {
                    tracing::error!(findings = ?report.findings, "the full integrity check found damage")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the full integrity check could not run"),
            }
        }
    }
}

/// What is wrong with storage at one look.
#[derive(Default)]
struct Trouble {
    write_failure: Option<String>,
    damage: Option<String>,
    short_of_space: Option<String>,
}

impl Trouble {
    fn read(state: &AppState) -> Trouble {
        let condition = state.store.condition();
        Trouble {
            write_failure: condition.write_failure.map(|f| f.reason),
            damage: condition.damage.map(|d| d.reason),
            // Space alone: damage has its own alert (this read the damage as a shortage
            // of space, and raised both).
            short_of_space: space_shortfall(state),
        }
    }

    fn set_gauges(&self, state: &AppState) {
        let gauges = &state.metrics.storage;
        let writable = self.write_failure.is_none() && self.short_of_space.is_none();
        gauges.writable.set(i64::from(writable));
        gauges.damaged.set(i64::from(self.damage.is_some()));
        gauges
            .wal_bytes
            .set(state.store.wal_bytes().unwrap_or(0) as i64);
        if let Some(free) = free_bytes(&state.config.get().data_dir()) {
            gauges.free_bytes.set(free as i64);
        }
    }

    /// A detection for each problem present now and absent at the last look.
    fn begun_since(&self, before: &Trouble) -> Vec<Detection> {
        let mut out = Vec::new();
        let began =
            |now: &Option<String>, then: &Option<String>| now.clone().filter(|_| then.is_none());
        if let Some(why) = began(&self.damage, &before.damage) {
            out.push(detection(
                "watchpost.store_damaged",
                "The store is damaged",
                Severity::Critical,
                why,
            ));
        }
        if let Some(why) = began(&self.write_failure, &before.write_failure) {
            out.push(detection(
                "watchpost.store_unwritable",
                "The store cannot write",
                Severity::High,
                why,
            ));
        }
        if let Some(why) = began(&self.short_of_space, &before.short_of_space) {
            out.push(detection(
                "watchpost.storage_reserve",
                "Ingest refused: the data directory is short of space",
                Severity::High,
                why,
            ));
        }
        out
    }
}

fn detection(rule: &str, title: &str, severity: Severity, why: String) -> Detection {
    let mut d = Detection::new(rule, title, severity, "server");
    d.category = Some("host".into());
    d.summary = format!("{title}: {why}");
    d.evidence = json!({ "reason": why });
    d
}
