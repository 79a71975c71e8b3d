//! Integrity checks: the database's own page check (SQLite) and the records' checksums.
//!
//! A quick check runs when the store opens: SQLite's `quick_check` (every page's structure,
//! not whether indices match their tables). The full check, which the server runs in the
//! background on a schedule, adds `integrity_check` and reads every event and detection
//! back against its stored checksum. The full-text index (another file, derived from the
//! events) is not checked. PostgreSQL checks its own pages (with data checksums
//! on) as it reads them; there the full check is the records' checksums.

use super::SqlStore;
use crate::condition::{IntegrityReport, MAX_FINDINGS};
use crate::{Backend, StoreError};
use sqlx::Row;
use std::time::Instant;

/// Rows read per query while checking checksums.
const CHUNK: i64 = 5000;

/// Runs a check and records its outcome in the store's condition.
pub(super) async fn check(store: &SqlStore, full: bool) -> Result<IntegrityReport, StoreError> {
    let started = Instant::now();
    let mut findings = Vec::new();
    if store.backend == Backend::Sqlite {
        let pragma = if full {
            format!("PRAGMA main.integrity_check({MAX_FINDINGS})")
        } else {
            format!("PRAGMA main.quick_check({MAX_FINDINGS})")
        };
        match sqlx::query(sqlx::AssertSqlSafe(pragma))
            .fetch_all(&store.pool)
            .await
        {
            Ok(rows) => findings.extend(
                rows.iter()
                    .filter_map(|r| r.try_get::<String, _>(0).ok())
                    .filter(|line| line != "ok"),
            ),
            Err(e) => findings.push(format!("the check itself failed: {e}")),
        }
    }
    if full {
        for table in ["events", "detections"] {
            if findings.len() >= MAX_FINDINGS {
                break;
            }
            checksums(store, table, &mut findings).await;
        }
    }
    findings.truncate(MAX_FINDINGS);
    let report = IntegrityReport {
        kind: if full { "full" } else { "quick" },
        at: chrono::Utc::now(),
        ok: findings.is_empty(),
        findings,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    if report.ok {
        tracing::info!(
            kind = report.kind,
            ms = report.duration_ms,
            "store integrity check passed"
        );
    }
    store.condition.checked(report.clone());
    Ok(report)
}

/// Reads every row of `table` in id order and notes those whose document does not match
/// its checksum.
async fn checksums(store: &SqlStore, table: &'static str, findings: &mut Vec<String>) {
    let sql = format!("SELECT id, doc, crc FROM {table} WHERE id > $1 ORDER BY id LIMIT {CHUNK}");
    let mut after = String::new();
    loop {
        let rows = match sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(after.clone())
            .fetch_all(&store.pool)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                findings.push(format!("{table}: reading rows after `{after}` failed: {e}"));
                return;
            }
        };
        for row in &rows {
            let id: String = row.try_get("id").unwrap_or_default();
            let doc: String = row.try_get("doc").unwrap_or_default();
            if let Ok(Some(stored)) = row.try_get::<Option<i64>, _>("crc")
                && stored != crate::record_checksum(&doc)
            {
                findings.push(format!("{table} row {id} does not match its checksum"));
                if findings.len() >= MAX_FINDINGS {
                    return;
                }
            }
            after = id;
        }
        if (rows.len() as i64) < CHUNK {
            return;
        }
    }
}
