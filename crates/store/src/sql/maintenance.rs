//! Retention (deleting what has aged out) and statistics (row counts and sizes).

use super::SqlStore;
use super::migrations::current_version;
use crate::{Backend, PurgeReport, StoreError, StoreStats, TableStats};
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use watchpost_core::time::to_millis;

/// Rows deleted per statement, so that a large purge never holds the write lock for long
/// and live ingest keeps flowing between chunks.
const PURGE_CHUNK: i64 = 5000;

/// The tables `db stats` reports, in display order.
const TABLES: &[&str] = &[
    "events",
    "detections",
    "alerts",
    "incidents",
    "notifications",
];

pub(super) async fn purge(
    store: &SqlStore,
    events_before: DateTime<Utc>,
    alerts_before: DateTime<Utc>,
) -> Result<PurgeReport, StoreError> {
    let events_ms = to_millis(events_before);
    let alerts_ms = to_millis(alerts_before);
    Ok(PurgeReport {
        events: delete_in_chunks(store, "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < $1 LIMIT $2)", events_ms).await?,
        detections: delete_in_chunks(store, "DELETE FROM detections WHERE id IN (SELECT id FROM detections WHERE ts < $1 LIMIT $2)", events_ms).await?,
        alerts: delete_in_chunks(store, "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE last_seen < $1 AND status = 'resolved' LIMIT $2)", alerts_ms).await?,
        incidents: delete_in_chunks(store, "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents WHERE updated_at < $1 AND status IN ('resolved', 'closed') LIMIT $2)", alerts_ms).await?,
        // Notification history is kept as long as alerts; pending ones are never deleted.
        notifications: {
            delete_in_chunks(store, "DELETE FROM delivery_attempts WHERE id IN (SELECT id FROM delivery_attempts WHERE ts < $1 LIMIT $2)", alerts_ms).await?;
            delete_in_chunks(store, "DELETE FROM alert_trace WHERE id IN (SELECT id FROM alert_trace WHERE ts < $1 LIMIT $2)", alerts_ms).await?;
            delete_in_chunks(store, "DELETE FROM notification_alerts WHERE notification_id IN (SELECT id FROM notifications WHERE created_at < $1 AND status <> 'pending' LIMIT $2)", alerts_ms).await?;
            delete_in_chunks(store, "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE created_at < $1 AND status <> 'pending' LIMIT $2)", alerts_ms).await?
        },
        metric_rollups: super::metrics::purge_metric_rollups(store, events_before, alerts_before).await?,
    })
}

async fn delete_in_chunks(
    store: &SqlStore,
    sql: &'static str,
    before_ms: i64,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let _permit = store.write_permit().await;
        let deleted = sqlx::query(sql)
            .bind(before_ms)
            .bind(PURGE_CHUNK)
            .execute(&store.pool)
            .await?
            .rows_affected();
        if deleted > 0
            && sql.starts_with("DELETE FROM events ")
            && store.text_index() == super::filter::TextIndex::SqliteFts
        {
            // Before any insert can reuse a deleted rowid (the permit is still held).
            super::indexer::after_delete(&store.pool, &store.search_writer).await?;
        }
        total += deleted;
        if deleted < PURGE_CHUNK as u64 {
            return Ok(total);
        }
    }
}

pub(super) async fn stats(store: &SqlStore) -> Result<StoreStats, StoreError> {
    let sizes = table_sizes(store).await;
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let row = sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table}")))
            .fetch_one(&store.pool)
            .await?;
        tables.push(TableStats {
            table: table.to_string(),
            rows: row.try_get("n")?,
            bytes: sizes.iter().find(|(t, _)| t == table).map(|(_, b)| *b),
        });
    }
    let total_sql = match store.backend {
        Backend::Sqlite => {
            "SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()"
        }
        Backend::Postgres => "SELECT pg_database_size(current_database()) AS n",
    };
    let total_bytes = sqlx::query(total_sql)
        .fetch_one(&store.pool)
        .await?
        .try_get("n")
        .ok();
    Ok(StoreStats {
        backend: store.backend,
        tables,
        total_bytes,
        schema_version: current_version(&store.pool).await?,
    })
}

/// Bytes per table including its indices. SQLite needs the `dbstat` table, present in the
/// bundled build; where a backend cannot tell, sizes are left out rather than failing stats.
async fn table_sizes(store: &SqlStore) -> Vec<(String, i64)> {
    let sql = match store.backend {
        Backend::Sqlite => {
            "SELECT m.tbl_name AS t, CAST(SUM(d.pgsize) AS BIGINT) AS n \
             FROM dbstat d JOIN sqlite_master m ON d.name = m.name GROUP BY m.tbl_name"
        }
        Backend::Postgres => {
            "SELECT CAST(c.relname AS TEXT) AS t, pg_total_relation_size(c.oid) AS n FROM pg_class c \
             JOIN pg_namespace s ON s.oid = c.relnamespace \
             WHERE s.nspname = current_schema() AND c.relkind = 'r'"
        }
    };
    match sqlx::query(sql).fetch_all(&store.pool).await {
        Ok(rows) => rows
            .iter()
            .filter_map(|r| Some((r.try_get("t").ok()?, r.try_get("n").ok()?)))
            .collect(),
        Err(e) => {
            tracing::debug!(error = %e, "table sizes unavailable");
            Vec::new()
        }
    }
}
