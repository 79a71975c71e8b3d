//! What a store knows of its own health: whether its writes are failing (a full disk, an
//! I/O error, a lost connection), whether damage was found, and what the last integrity
//! check said.
//!
//! Writes report their outcome here as they finish, and so do reads that meet damage;
//! readiness, health and ingest read it. A write failure clears by itself with the next
//! write that commits (space came back); damage stays until the store is reopened on a
//! repaired database, and while it stays, ingested data is refused: a write into a
//! damaged b-tree can spread the damage.

use crate::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Mutex;

/// A problem the store has, since when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub reason: String,
    pub since: DateTime<Utc>,
}

/// The outcome of an integrity check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntegrityReport {
    /// `quick` (at start: structure, no index contents) or `full` (in the background).
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub ok: bool,
    /// What the database reported, at most [`MAX_FINDINGS`] lines.
    pub findings: Vec<String>,
    pub duration_ms: u64,
}

/// Lines of an integrity check's output kept.
pub const MAX_FINDINGS: usize = 20;

/// A snapshot of the store's health.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StoreCondition {
    /// The most recent write failed for a reason later writes share.
    pub write_failure: Option<Problem>,
    /// Damage found by an integrity check, by the database, or by a record whose checksum
    /// does not match.
    pub damage: Option<Problem>,
    pub last_integrity_check: Option<IntegrityReport>,
    /// When a write last failed for such a reason, even if one committed since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_write_failure: Option<DateTime<Utc>>,
}

impl StoreCondition {
    /// Why the store should not be counted on yet although its last write committed:
    /// writes failed less than `calm` ago. On a full disk, small writes (an update that
    /// fits a page's free space) commit between the batches that fail; readiness must not
    /// flap to ready on each of them.
    pub fn recently_unwritable(
        &self,
        now: DateTime<Utc>,
        calm: chrono::Duration,
    ) -> Option<String> {
        let at = self.last_write_failure?;
        let ago = now - at;
        (ago < calm).then(|| {
            format!(
                "the store's writes failed {:.1} s ago (ready after {} s without a failure)",
                ago.num_milliseconds() as f64 / 1000.0,
                calm.num_seconds()
            )
        })
    }

    /// Why the store cannot be counted on to write now, if it cannot.
    pub fn unwritable_reason(&self) -> Option<String> {
        if let Some(d) = &self.damage {
            return Some(format!("the store is damaged: {}", d.reason));
        }
        self.write_failure
            .as_ref()
            .map(|f| format!("the store's writes are failing: {}", f.reason))
    }
}

/// What kind of trouble an error shows, when it shows any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Writes fail for a while: full disk, I/O error, unreachable or overloaded database.
    Unwritable,
    /// The database's files are damaged.
    Damage,
}

impl StoreError {
    /// Classifies this error: a full disk or an I/O error says writes will keep failing
    /// for a while, corruption says the data is damaged; other errors (a constraint, a bad
    /// cursor) belong to one request and say nothing of the store.
    pub fn trouble(&self) -> Option<Trouble> {
        match self {
            StoreError::Damaged(_)
            | StoreError::DamagedAtOpen { .. }
            | StoreError::ChecksumMismatch { .. } => Some(Trouble::Damage),
            StoreError::Unwritable(_) => Some(Trouble::Unwritable),
            StoreError::Database(e) | StoreError::Migration { source: e, .. } => sqlx_trouble(e),
            _ => None,
        }
    }
}

pub(crate) fn sqlx_trouble(e: &sqlx::Error) -> Option<Trouble> {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(Trouble::Unwritable),
        sqlx::Error::Database(db) => database_code_trouble(
            db.code().as_deref()?,
            db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some(),
        ),
        _ => None,
    }
}

/// SQLite reports (extended) numeric result codes, PostgreSQL five-character SQLSTATEs.
fn database_code_trouble(code: &str, sqlite: bool) -> Option<Trouble> {
    if sqlite {
        return match code.parse::<i64>().ok()? & 0xff {
            // SQLITE_CORRUPT, SQLITE_NOTADB
            11 | 26 => Some(Trouble::Damage),
            // SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_BUSY
            10 | 13 | 14 | 8 | 5 => Some(Trouble::Unwritable),
            _ => None,
        };
    }
    match code {
        // data_corrupted, index_corrupted
        "XX001" | "XX002" => Some(Trouble::Damage),
        // insufficient resources (disk full, out of memory), I/O error, the server shutting
        // down (a statement cancelled by its timeout, 57014, belongs to its request)
        c if c.starts_with("53") || c == "58030" || c.starts_with("57P") => {
            Some(Trouble::Unwritable)
        }
        _ => None,
    }
}

/// The store's condition behind a lock, updated as operations finish.
#[derive(Debug, Default)]
pub(crate) struct ConditionCell(Mutex<StoreCondition>);

impl ConditionCell {
    pub fn get(&self) -> StoreCondition {
        self.lock().clone()
    }

    /// Records a write's outcome: a failure that shows trouble is kept, a commit clears a
    /// write failure (never damage).
    pub fn after_write<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => {
                let mut c = self.lock();
                if c.write_failure.is_some() {
                    tracing::info!("the store writes again");
                    c.write_failure = None;
                }
            }
            Err(e) => self.after_error(e),
        }
    }

    /// Records what an error shows of the store, if anything.
    pub fn after_error(&self, e: &StoreError) {
        match e.trouble() {
            Some(Trouble::Damage) => self.damaged(e.to_string()),
            Some(Trouble::Unwritable) => {
                let mut c = self.lock();
                c.last_write_failure = Some(Utc::now());
                if c.write_failure.is_none() {
                    tracing::error!(error = %e, "the store cannot write; ingest is refused until it can");
                    c.write_failure = Some(Problem {
                        reason: e.to_string(),
                        since: Utc::now(),
                    });
                }
            }
            None => {}
        }
    }

    pub fn damaged(&self, reason: String) {
        let mut c = self.lock();
        if c.damage.is_none() {
            tracing::error!(%reason, "the store is damaged; writes are refused until it is repaired");
            c.damage = Some(Problem {
                reason,
                since: Utc::now(),
            });
        }
    }

    pub fn checked(&self, report: IntegrityReport) {
        if !report.ok {
            self.damaged(format!(
                "{} integrity check: {}",
                report.kind,
                report.findings.join("; ")
            ));
        }
        self.lock().last_integrity_check = Some(report);
    }

    /// Refuses ingested data into a store known to be damaged.
    pub fn writable(&self) -> Result<(), StoreError> {
        match &self.lock().damage {
            Some(d) => Err(StoreError::Damaged(d.reason.clone())),
            None => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreCondition> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The checksum stored beside each event and detection document, checked when the row is
/// read back. CRC-32 finds the damage storage does (a flipped bit, a torn or misplaced
/// page); deliberate tampering is the audit log's to find.
pub fn record_checksum(doc: &str) -> i64 {
    i64::from(crc32fast::hash(doc.as_bytes()))
}

#[cfg(test)]
mod tests {

    #[test]
    fn readiness_waits_for_writes_to_stay_calm() {
        let now = Utc::now();
        let mut c = StoreCondition::default();
        assert_eq!(
            c.recently_unwritable(now, chrono::Duration::seconds(5)),
            None
        );
        c.last_write_failure = Some(now - chrono::Duration::seconds(2));
        let why = c
            .recently_unwritable(now, chrono::Duration::seconds(5))
            .unwrap();
        assert!(why.contains("2.0 s ago"), "{why}");
        c.last_write_failure = Some(now - chrono::Duration::seconds(6));
        assert_eq!(
            c.recently_unwritable(now, chrono::Duration::seconds(5)),
            None
        );
    }
    use super::*;

    #[test]
    fn codes_are_classified() {
        let sqlite = |code| database_code_trouble(code, true);
        let postgres = |code| database_code_trouble(code, false);
        assert_eq!(sqlite("13"), Some(Trouble::Unwritable));
        assert_eq!(sqlite("266"), Some(Trouble::Unwritable)); // IOERR_READ
        assert_eq!(sqlite("11"), Some(Trouble::Damage));
        assert_eq!(sqlite("26"), Some(Trouble::Damage));
        assert_eq!(sqlite("2067"), None); // a UNIQUE constraint
        assert_eq!(postgres("53100"), Some(Trouble::Unwritable));
        assert_eq!(postgres("57P01"), Some(Trouble::Unwritable));
        assert_eq!(postgres("57014"), None);
        assert_eq!(postgres("XX001"), Some(Trouble::Damage));
        assert_eq!(postgres("23505"), None);
    }

    #[test]
    fn a_commit_clears_a_write_failure_but_not_damage() {
        let cell = ConditionCell::default();
        cell.after_error(&StoreError::Unwritable("disk full".into()));
        assert!(
            cell.get()
                .unwritable_reason()
                .unwrap()
                .contains("disk full")
        );
        cell.after_write(&Ok::<(), StoreError>(()));
        assert_eq!(cell.get().unwritable_reason(), None);
        cell.damaged("page 7".into());
        cell.after_write(&Ok::<(), StoreError>(()));
        assert!(cell.get().unwritable_reason().unwrap().contains("page 7"));
        assert!(matches!(cell.writable(), Err(StoreError::Damaged(_))));
    }

    #[test]
    fn checksums_change_with_any_byte() {
        let a = record_checksum(r#"{"message":"login ok"}"#);
        assert_ne!(a, record_checksum(r#"{"message":"login ol"}"#));
        assert!(a >= 0);
    }
}
