//! [`SqlStore`]: the [`Store`] implementation for SQLite and PostgreSQL.

mod actions;
mod api_keys;
mod bounded;
mod checkpointer;
mod deadline;
mod decisions;
mod events;
mod filter;
mod findings;
mod indexer;
mod integrity;
mod maintenance;
mod metrics;
mod migrations;
mod outbox;
mod senders;
mod sessions;
mod statistics;
mod suppressions;
mod wal;

pub use decisions::MAX_DECISIONS;

use crate::condition::ConditionCell;
use crate::{Backend, Store, StoreError};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

/// Longest a search or listing runs before it is stopped, unless
/// [`Store::set_query_timeout`] says otherwise.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest any other PostgreSQL statement runs before it is cancelled: a backstop, so no
/// statement holds a connection forever.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Rows per multi-row INSERT. Keeps statements well under both databases' bind-parameter
/// limits (SQLite 32,766; PostgreSQL 65,535) with ten columns per row.
const INSERT_CHUNK_ROWS: usize = 1000;

/// A store on SQLite or PostgreSQL through one sqlx `Any` pool.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time; queueing writers here instead of in SQLite's
    /// busy handler keeps them in arrival order and never fails a write with SQLITE_BUSY.
    /// The checkpointer takes it too when the WAL must be reset (`checkpointer`).
    sqlite_writer: Option<Arc<tokio::sync::Mutex<()>>>,
    /// Wakes the SQLite checkpointer after a commit; dropping it stops the checkpointer.
    wrote: Option<tokio::sync::watch::Sender<()>>,
    /// Wakes the full-text indexer after events are stored; `None` where there is no index
    /// (an in-memory SQLite store).
    events_stored: Option<tokio::sync::watch::Sender<()>>,
    /// Rows the full-text index does not have yet.
    index_lag: Arc<indexer::Lag>,
    /// The right to write SQLite's full-text index (`indexer::Target`).
    search_writer: indexer::SearchWriter,
    /// The SQLite database file.
    sqlite_path: Option<std::path::PathBuf>,
    condition: Arc<ConditionCell>,
    /// [`DEFAULT_QUERY_TIMEOUT`] or the configured bound, in milliseconds.
    query_timeout_ms: AtomicU64,
}

/// Opens (creating if needed) the store at `url` and brings its schema up to date.
///
/// `sqlite://PATH` creates the file and its directory; `postgres://USER@HOST:PORT/DB` needs
/// the database to exist.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::open(url).await?))
}

impl SqlStore {
    /// See [`open`].
    pub async fn open(url: &str) -> Result<SqlStore, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(install_default_drivers);

        let (backend, url) = normalise_url(url)?;
        let query_timeout_ms = AtomicU64::new(millis(DEFAULT_QUERY_TIMEOUT));
        if backend == Backend::Sqlite {
            deadline::install();
        }
        let sqlite_path = (backend == Backend::Sqlite).then(|| sqlite_file(&url));
        let on_disk = sqlite_path.as_deref().filter(|p| !p.starts_with(":"));
        let search_index = on_disk.map(|p| indexer::index_path(p).display().to_string());
        if let Some(path) = on_disk {
            // A large WAL left by a crash or a hard stop is replayed on the first
            // connection, which can take longer than any pool's acquire timeout.
            wal::recover(&url, path).await?;
        }
        let options = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .after_release(|conn, _meta| Box::pin(released_cleanly(conn)));
        let pool = match backend {
            Backend::Sqlite => {
                let search_index = search_index.clone();
                options
                    .after_connect(move |conn, _meta| {
                        let search_index = search_index.clone();
                        Box::pin(async move {
                            // WAL lets readers run beside the writer; NORMAL sync is durable
                            // across process crashes (the WAL is fsynced at checkpoints).
                            // Pages stay at SQLite's 4 KiB: every small transaction (an
                            // alert, a notice, a delivery attempt) writes each page it
                            // touches whole, and 16 KiB pages wrote four times the bytes
                            // (190 MB/s at 500 alerts/s, and notification latency spikes)
                            // for no gain on batched ingest (`docs/benchmarks.md`).
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // The default 2 MiB page cache made every batch re-read index
                            // pages from the file; 64 MiB per connection and memory-mapped
                            // reads keep the hot b-tree pages in memory.
                            conn.execute("PRAGMA cache_size = -65536").await?;
                            conn.execute("PRAGMA mmap_size = 268435456").await?;
                            conn.execute("PRAGMA temp_store = MEMORY").await?;
                            // Writers never checkpoint: a checkpoint fsyncs, and ingest waited
                            // on it. `checkpointer` does it beside them instead.
                            conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                            conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                            if let Some(index) = &search_index {
                                indexer::attach(conn, index).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                options
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            conn.execute(bounded::statement_timeout(STATEMENT_TIMEOUT))
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
        };
        let sqlite_writer =
            (backend == Backend::Sqlite).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let wrote = match (&sqlite_writer, &sqlite_path) {
            (Some(writer), Some(path)) => Some(checkpointer::start(
                pool.clone(),
                writer.clone(),
                path.clone(),
            )),
            _ => None,
        };
        let mut store = SqlStore {
            pool,
            backend,
            sqlite_writer,
            wrote,
            events_stored: None,
            index_lag: Arc::default(),
            search_writer: Arc::default(),
            sqlite_path,
            condition: Arc::default(),
            query_timeout_ms,
        };
        migrations::run(&store).await?;
        let target = match (&search_index, backend) {
            (Some(index), _) => {
                indexer::create(&store.pool).await?;
                Some(indexer::Target::Sqlite(
                    index.into(),
                    store.search_writer.clone(),
                ))
            }
            (None, Backend::Postgres) => Some(indexer::Target::Postgres),
            (None, Backend::Sqlite) => None,
        };
        if let Some(target) = target {
            store.events_stored = Some(indexer::start(
                store.pool.clone(),
                target,
                store.index_lag.clone(),
            ));
        }
        if backend == Backend::Sqlite {
            // A quick check at start (page structure, not index contents); the full one
            // runs in the background on the server's schedule.
            integrity::check(&store, false).await?;
        }
        Ok(store)
    }

    /// Where free-text searches of events look words up.
    fn text_index(&self) -> filter::TextIndex {
        match (self.backend, &self.events_stored) {
            (_, None) => filter::TextIndex::None,
            (Backend::Postgres, Some(_)) => filter::TextIndex::PostgresTsvector,
            (Backend::Sqlite, Some(_)) => filter::TextIndex::SqliteFts,
        }
    }

    /// Tells the checkpointer (SQLite) that the WAL grew.
    fn after_commit(&self) {
        if let Some(wrote) = &self.wrote {
            wrote.send_replace(());
        }
    }

    /// Runs a write, its outcome recorded in the store's condition (a full disk, an I/O
    /// error, damage).
    async fn write<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = operation.await;
        self.condition.after_write(&result);
        result
    }

    /// Runs a read, recording damage it meets (a malformed page, a checksum that does not
    /// match).
    async fn read<T>(
        &self,
        operation: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = operation.await;
        if let Err(e) = &result {
            self.condition.after_error(e);
        }
        result
    }

    /// Waits for the right to write; a no-op on PostgreSQL.
    async fn write_permit(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.sqlite_writer {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

/// Inserts `items` into `table` in one transaction, as multi-row INSERTs of
/// [`INSERT_CHUNK_ROWS`]. `bind` binds one item's columns, `doc` (the item as JSON) last;
/// the document's checksum follows it, in the `crc` column `columns` ends with.
/// Items are serialised before the write lock is taken, so the lock is held only for the
/// inserts and concurrent writers prepare their batches while another one writes.
async fn insert_documents<T, F>(
    store: &SqlStore,
    table: &'static str,
    columns: &'static [&'static str],
    items: &[T],
    bind: F,
) -> Result<(), StoreError>
where
    T: serde::Serialize,
    F: for<'q> Fn(AnyQuery<'q>, &T, String) -> AnyQuery<'q>,
{
    if items.is_empty() {
        return Ok(());
    }
    let docs = items
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let mut docs = docs.into_iter();
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for chunk in items.chunks(INSERT_CHUNK_ROWS) {
        // Shipped batches may arrive twice (a retry after a lost response): a row already
        // stored under its id is the same record, kept once.
        let sql = filter::multi_row_insert(
            store.backend,
            table,
            columns,
            chunk.len(),
            " ON CONFLICT (id) DO NOTHING",
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (item, doc) in chunk.iter().zip(docs.by_ref()) {
            let checksum = crate::record_checksum(&doc);
            query = bind(query, item, doc).bind(checksum);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

/// A query on the `Any` driver with its arguments.
type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Turns rows of `id`, `t` (the sort time) and `doc` into a page. The query asks for one
/// row more than `limit`; its presence means there is a next page, which starts after the
/// last row returned.
fn read_page<T: serde::de::DeserializeOwned>(
    rows: &[sqlx::any::AnyRow],
    limit: u32,
    table: &'static str,
) -> Result<crate::Page<T>, StoreError> {
    use sqlx::Row;
    let limit = limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit));
    let mut last = None;
    for row in rows.iter().take(limit) {
        items.push(doc_of(row, table)?);
        last = Some(crate::Cursor {
            time_ms: row.try_get("t")?,
            id: row.try_get("id")?,
        });
    }
    let next_cursor = if rows.len() > limit {
        last.map(|c| c.encode())
    } else {
        None
    };
    Ok(crate::Page { items, next_cursor })
}

/// The row's `doc` column read as `T`; a document that does not parse names its row.
pub(super) fn doc_of<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    table: &'static str,
) -> Result<T, StoreError> {
    use sqlx::Row;
    let id: String = row.try_get("id")?;
    let doc: String = row.try_get("doc")?;
    // Rows written before checksums were kept have none; tables without them are not
    // selected with one.
    if let Ok(Some(stored)) = row.try_get::<Option<i64>, _>("crc")
        && stored != crate::record_checksum(&doc)
    {
        return Err(StoreError::ChecksumMismatch { table, id });
    }
    serde_json::from_str(&doc).map_err(|source| StoreError::CorruptRow { table, id, source })
}

/// Called as each connection goes back to the pool: a connection whose transaction could
/// not be ended is closed rather than reused. After a write fails (a full disk), SQLite
/// may roll the transaction back by itself, the driver's ROLLBACK then fails, and a
/// reused connection would open its next transaction as a savepoint inside a transaction
/// that is never committed, acknowledging writes that never reach the disk.
async fn released_cleanly(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // Runs the rollback a dropped transaction queued.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a store connection whose transaction did not end");
        return Ok(false);
    }
    // The driver's count can be wrong in either direction; SQLite's own state decides: a
    // BEGIN fails inside a transaction.
    if conn.backend_name() == "SQLite" {
        if conn.execute("BEGIN").await.is_err() {
            tracing::warn!("closing a store connection left inside a transaction");
            return Ok(false);
        }
        conn.execute("ROLLBACK").await?;
    }
    Ok(true)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The database file of a normalised `sqlite://PATH?…` URL.
fn sqlite_file(url: &str) -> std::path::PathBuf {
    let rest = url.trim_start_matches("sqlite://");
    std::path::PathBuf::from(rest.split_once('?').map_or(rest, |(path, _)| path))
}

/// Recognises the backend and, for SQLite, creates the file's directory and asks for the
/// file to be created.
fn normalise_url(url: &str) -> Result<(Backend, String), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    };
    let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        crate::private_dir(dir).map_err(|source| StoreError::DataDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    if !path.starts_with(':') && !params.contains("memory") {
        let db = std::path::Path::new(path);
        private_database_files(db)
            .and_then(|()| private_database_files(&indexer::index_path(db)))
            .map_err(|source| StoreError::DataDir {
                path: path.to_string(),
                source,
            })?;
    }
    let params = if params.contains("mode=") {
        params.to_string()
    } else if params.is_empty() {
        "mode=rwc".to_string()
    } else {
        format!("{params}&mode=rwc")
    };
    Ok((Backend::Sqlite, format!("sqlite://{path}?{params}")))
}

/// Creates the SQLite database file readable by its owner only, before SQLite does (its
/// write-ahead log and shared-memory files take the database's mode), and makes those
/// that exist private too, whatever the process's umask.
fn private_database_files(db: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn set_query_timeout(&self, timeout: Duration) {
        self.query_timeout_ms
            .store(millis(timeout).max(1), Ordering::Relaxed);
    }

    fn condition(&self) -> crate::StoreCondition {
        self.condition.get()
    }

    async fn check_integrity(&self, full: bool) -> Result<crate::IntegrityReport, StoreError> {
        integrity::check(self, full).await
    }

    fn wal_bytes(&self) -> Option<u64> {
        self.sqlite_path.as_deref().map(wal::size)
    }

    fn text_index_lag(&self) -> Option<i64> {
        self.events_stored.as_ref().map(|_| self.index_lag.get())
    }

    async fn close(&self) {
        if self.backend == Backend::Sqlite {
            // Writers are done; hold their permit so none starts while the WAL empties.
            let _permit = self.write_permit().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "the write-ahead log could not be emptied at shutdown");
            }
        }
        self.pool.close().await;
    }

    async fn insert_events(&self, events: &[watchpost_core::Event]) -> Result<(), StoreError> {
        // Ingested data is refused into a damaged store (a write into a damaged b-tree can
        // spread the damage); the few writes that tell people of it (the alert, its notices)
        // still go through.
        self.condition.writable()?;
        if self.events_stored.is_some() {
            self.index_lag.wait_below_max().await;
        }
        let stored = self.write(events::insert(self, events)).await;
        if let (Ok(()), Some(wake)) = (&stored, &self.events_stored) {
            self.index_lag.add(events.len());
            wake.send_replace(());
        }
        stored
    }

    async fn query_events(
        &self,
        query: &crate::EventQuery,
    ) -> Result<crate::Page<watchpost_core::Event>, StoreError> {
        self.read(events::query(self, query)).await
    }

    async fn insert_detections(
        &self,
        detections: &[watchpost_core::Detection],
    ) -> Result<(), StoreError> {
        self.write(findings::insert_detections(self, detections))
            .await
    }

    async fn query_detections(
        &self,
        query: &crate::DetectionQuery,
    ) -> Result<crate::Page<watchpost_core::Detection>, StoreError> {
        self.read(findings::query_detections(self, query)).await
    }

    async fn upsert_alert(&self, alert: &watchpost_core::Alert) -> Result<(), StoreError> {
        self.write(findings::upsert_alerts(self, std::slice::from_ref(alert)))
            .await
    }

    async fn get_alert(&self, id: uuid::Uuid) -> Result<Option<watchpost_core::Alert>, StoreError> {
        findings::get_alert(self, id).await
    }

    async fn query_alerts(
        &self,
        query: &crate::AlertQuery,
    ) -> Result<crate::Page<watchpost_core::Alert>, StoreError> {
        self.read(findings::query_alerts(self, query)).await
    }

    async fn insert_decision(
        &self,
        decision: &watchpost_core::Decision,
    ) -> Result<i64, StoreError> {
        self.write(decisions::insert(self, decision)).await
    }

    async fn lift_decision(
        &self,
        id: i64,
        by: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<watchpost_core::Decision>, StoreError> {
        self.write(decisions::lift(self, id, by, at)).await
    }

    async fn get_decision(&self, id: i64) -> Result<Option<watchpost_core::Decision>, StoreError> {
        self.read(decisions::get(self, id)).await
    }

    async fn decisions_in_force(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        made_after: Option<chrono::DateTime<chrono::Utc>>,
        simulated: bool,
    ) -> Result<Vec<watchpost_core::Decision>, StoreError> {
        self.read(decisions::in_force(self, now, made_after, simulated))
            .await
    }

    async fn decisions_in_force_for(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        address: &str,
    ) -> Result<Vec<watchpost_core::Decision>, StoreError> {
        self.read(decisions::in_force_for(self, now, address)).await
    }

    async fn decisions_ended_between(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<watchpost_core::Decision>, StoreError> {
        self.read(decisions::ended_between(self, from, to)).await
    }

    async fn recent_decisions(
        &self,
        limit: i64,
    ) -> Result<Vec<watchpost_core::Decision>, StoreError> {
        self.read(decisions::recent(self, limit)).await
    }

    async fn upsert_action(&self, action: &watchpost_core::Action) -> Result<(), StoreError> {
        self.write(actions::upsert(self, action)).await
    }

    async fn get_action(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<watchpost_core::Action>, StoreError> {
        self.read(actions::get(self, id)).await
    }

    async fn query_actions(
        &self,
        query: &crate::ActionQuery,
    ) -> Result<Vec<watchpost_core::Action>, StoreError> {
        self.read(actions::query(self, query)).await
    }

    async fn expired_actions(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> Result<Vec<watchpost_core::Action>, StoreError> {
        self.read(actions::expired(self, now, limit)).await
    }

    async fn upsert_suppression(
        &self,
        suppression: &watchpost_core::Suppression,
    ) -> Result<(), StoreError> {
        self.write(suppressions::upsert(self, suppression)).await
    }

    async fn get_suppression(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<watchpost_core::Suppression>, StoreError> {
        self.read(suppressions::get(self, id)).await
    }

    async fn list_suppressions(
        &self,
        state: Option<watchpost_core::SuppressionState>,
        limit: i64,
    ) -> Result<Vec<watchpost_core::Suppression>, StoreError> {
        self.read(suppressions::list(self, state, limit)).await
    }

    async fn get_detection(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<watchpost_core::Detection>, StoreError> {
        self.read(suppressions::detection(self, id)).await
    }

    async fn query_incidents(
        &self,
        status: Option<&str>,
        since: Option<chrono::DateTime<chrono::Utc>>,
        limit: i64,
    ) -> Result<Vec<watchpost_core::Incident>, StoreError> {
        self.read(findings::query_incidents(self, status, since, limit))
            .await
    }

    async fn upsert_incident(&self, incident: &watchpost_core::Incident) -> Result<(), StoreError> {
        self.write(findings::upsert_incident(self, incident)).await
    }

    async fn get_incident(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<watchpost_core::Incident>, StoreError> {
        findings::get_incident(self, id).await
    }

    async fn purge(
        &self,
        events_before: chrono::DateTime<chrono::Utc>,
        alerts_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::PurgeReport, StoreError> {
        maintenance::purge(self, events_before, alerts_before).await
    }

    async fn stats(&self) -> Result<crate::StoreStats, StoreError> {
        maintenance::stats(self).await
    }

    async fn statistics(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        bucket_seconds: i64,
    ) -> Result<crate::statistics::Statistics, StoreError> {
        statistics::statistics(self, from, to, bucket_seconds).await
    }

    async fn get_events(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<Vec<watchpost_core::Event>, StoreError> {
        self.read(events::get_events(self, ids)).await
    }

    async fn hosts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::statistics::HostSummary>, StoreError> {
        statistics::hosts(self, now).await
    }

    async fn disabled_rules(&self) -> Result<Vec<crate::DisabledRule>, StoreError> {
        api_keys::disabled_rules(self).await
    }

    async fn set_rule_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        by: &str,
    ) -> Result<bool, StoreError> {
        api_keys::set_rule_enabled(self, rule_id, enabled, by).await
    }

    async fn insert_api_key(&self, key: &crate::ApiKey) -> Result<(), StoreError> {
        api_keys::insert(self, key).await
    }

    async fn get_api_key(&self, id: &str) -> Result<Option<crate::ApiKey>, StoreError> {
        api_keys::get(self, id).await
    }

    async fn list_api_keys(&self) -> Result<Vec<crate::ApiKey>, StoreError> {
        api_keys::list(self).await
    }

    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError> {
        api_keys::delete(self, id).await
    }

    async fn touch_api_key(
        &self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        api_keys::touch(self, id, at).await
    }

    async fn insert_api_call(&self, call: &crate::ApiCall) -> Result<(), StoreError> {
        api_keys::insert_call(self, call).await
    }

    async fn recent_api_calls(&self, limit: usize) -> Result<Vec<crate::ApiCall>, StoreError> {
        api_keys::recent_calls(self, limit).await
    }

    async fn insert_sender(&self, sender: &crate::Sender) -> Result<(), StoreError> {
        senders::insert(self, sender).await
    }

    async fn get_sender(&self, id: &str) -> Result<Option<crate::Sender>, StoreError> {
        senders::get(self, id).await
    }

    async fn list_senders(&self) -> Result<Vec<crate::Sender>, StoreError> {
        senders::list(self).await
    }

    async fn update_sender_credentials(&self, sender: &crate::Sender) -> Result<bool, StoreError> {
        senders::update_credentials(self, sender).await
    }

    async fn insert_session(&self, session: &crate::Session) -> Result<(), StoreError> {
        sessions::insert(self, session).await
    }

    async fn get_session(
        &self,
        id_hash: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<crate::Session>, StoreError> {
        sessions::get(self, id_hash, now).await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sessions::delete(self, id_hash).await
    }

    async fn delete_sessions(
        &self,
        key_id: Option<&str>,
        expired_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        sessions::delete_many(self, key_id, expired_before).await
    }

    async fn touch_sender(
        &self,
        id: &str,
        seen: chrono::DateTime<chrono::Utc>,
        version: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        senders::touch(self, id, seen, version, address).await
    }

    async fn get_alert_by_fingerprint(
        &self,
        fingerprint: &watchpost_core::Fingerprint,
    ) -> Result<Option<watchpost_core::Alert>, StoreError> {
        outbox::get_alert_by_fingerprint(self, fingerprint).await
    }

    async fn get_alerts_by_fingerprints(
        &self,
        fingerprints: &[watchpost_core::Fingerprint],
    ) -> Result<Vec<watchpost_core::Alert>, StoreError> {
        outbox::get_alerts_by_fingerprints(self, fingerprints).await
    }

    async fn upsert_alerts(&self, alerts: &[watchpost_core::Alert]) -> Result<(), StoreError> {
        self.write(findings::upsert_alerts(self, alerts)).await
    }

    async fn fold_into_alerts(
        &self,
        alerts: &[watchpost_core::Alert],
        folded: &[uuid::Uuid],
    ) -> Result<(), StoreError> {
        self.write(findings::fold_into_alerts(self, alerts, folded))
            .await
    }

    async fn record_metric_samples(
        &self,
        samples: &[crate::metrics::MetricSample],
    ) -> Result<(), StoreError> {
        self.condition.writable()?;
        self.write(metrics::record_metric_samples(self, samples))
            .await
    }

    async fn metric_series(
        &self,
        host: &str,
        metric: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        step_seconds: i64,
    ) -> Result<Vec<crate::metrics::MetricPoint>, StoreError> {
        metrics::metric_series(self, host, metric, from, to, step_seconds).await
    }

    async fn unfolded_detections(
        &self,
        limit: u32,
    ) -> Result<Vec<watchpost_core::Detection>, StoreError> {
        self.read(findings::unfolded_detections(self, limit)).await
    }

    async fn record_pipeline(
        &self,
        notifications: &[watchpost_alert::Notification],
        trace: &[watchpost_alert::TraceEntry],
        changed_alerts: &[watchpost_core::Alert],
    ) -> Result<(), StoreError> {
        self.write(outbox::record_pipeline(
            self,
            notifications,
            trace,
            changed_alerts,
        ))
        .await
    }

    async fn due_notifications(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<crate::OutboxEntry>, StoreError> {
        outbox::due_notifications(self, now, limit).await
    }

    async fn next_due_notification(
        &self,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        outbox::next_due(self).await
    }

    async fn notification_backlog(&self) -> Result<Vec<crate::Backlog>, StoreError> {
        outbox::backlog(self).await
    }

    async fn record_attempts(&self, attempts: &[crate::AttemptRecord]) -> Result<(), StoreError> {
        self.write(outbox::record_attempts(self, attempts)).await
    }

    async fn requeue_notification(
        &self,
        id: uuid::Uuid,
        by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        outbox::requeue_notification(self, id, by, now).await
    }

    async fn get_notification(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<crate::NotificationHistory>, StoreError> {
        outbox::get_notification(self, id).await
    }

    async fn query_notifications(
        &self,
        status: Option<crate::DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<crate::OutboxEntry>, StoreError> {
        outbox::query_notifications(self, status, limit).await
    }

    async fn notifications_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<crate::OutboxEntry>, StoreError> {
        outbox::notifications_since(self, since, limit).await
    }

    async fn alert_notifications(
        &self,
        alert_id: uuid::Uuid,
    ) -> Result<Vec<crate::NotificationHistory>, StoreError> {
        outbox::alert_notifications(self, alert_id).await
    }

    async fn notified_alerts(
        &self,
        alert_ids: &[uuid::Uuid],
    ) -> Result<std::collections::HashSet<uuid::Uuid>, StoreError> {
        outbox::notified_alerts(self, alert_ids).await
    }

    async fn alert_trace(
        &self,
        alert_id: uuid::Uuid,
    ) -> Result<Vec<watchpost_alert::TraceEntry>, StoreError> {
        outbox::alert_trace(self, alert_id).await
    }

    async fn upsert_silence(&self, silence: &watchpost_alert::Silence) -> Result<(), StoreError> {
        outbox::upsert_silence(self, silence).await
    }

    async fn list_silences(
        &self,
        ended_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<watchpost_alert::Silence>, StoreError> {
        outbox::list_silences(self, ended_after).await
    }

    async fn get_silence(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<watchpost_alert::Silence>, StoreError> {
        outbox::get_silence(self, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised() {
        let dir = std::env::temp_dir().join(format!("wp-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        assert_eq!(
            normalise_url(&url).unwrap(),
            (Backend::Sqlite, format!("{url}?mode=rwc"))
        );
        assert!(dir.is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            normalise_url("postgres://u@h/db").unwrap().0,
            Backend::Postgres
        );
        assert!(matches!(
            normalise_url("mysql://x"),
            Err(StoreError::UnsupportedUrl(_))
        ));
        assert!(matches!(
            normalise_url("sqlite://"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }
}
