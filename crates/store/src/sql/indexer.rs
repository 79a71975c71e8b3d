//! The full-text index over events, kept up by a task of its own rather than by ingest.
//!
//! Indexing a document costs more than storing it: with an FTS5 trigger on every insert,
//! SQLite ingest fell from 108,000 to 40,000 events/s; with a generated tsvector column
//! and its GIN index, PostgreSQL's fell from 56,000 to 18,000 (`docs/benchmarks.md`). So
//! ingest stores and acknowledges, and this task indexes what was stored, in batches. A
//! search looks indexed rows up in the index and reads the rows not indexed yet directly,
//! so it is complete however far behind the index is; past [`MAX_LAG`] rows behind, ingest
//! waits for it, so that bursts are taken at full speed and sustained ingest runs at the
//! index's pace.
//!
//! - **SQLite**: the index is a database file of its own (`watchpost.db-fts`), attached to
//!   every connection as `search`. SQLite takes one writer per file, so the index is
//!   written beside ingest, on the other core. `search.fts_progress` holds the highest
//!   rowid indexed, in the same transactions as the index; it holds only words and rowids
//!   (a contentless FTS5 table), derived data rebuilt from the events if its file goes.
//! - **PostgreSQL**: a statement trigger queues the ids ingest stores
//!   (`event_words_queue`); the indexer moves them, in one statement per batch, into
//!   `event_words` (a tsvector per event, GIN-indexed). `FOR UPDATE SKIP LOCKED` lets
//!   several servers index the same store.

use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;
use tokio::sync::watch;

/// Time allowed to gather more commits before indexing.
const SETTLE: Duration = Duration::from_millis(200);
/// Rows indexed per transaction.
const BATCH: i64 = 5_000;
/// Index WAL size past which it is emptied between batches.
const WAL_RESET_BYTES: u64 = 64 * 1024 * 1024;
/// Rows waiting for the index past which ingest waits for it: a search reads the rows the
/// index does not have one by one, and this bounds them (about a quarter of a second).
/// Bursts are taken at full speed; sustained ingest runs at the index's pace.
pub(super) const MAX_LAG: i64 = 300_000;

/// Rows stored and not yet indexed, as last counted: the indexer sets it after each batch,
/// ingest adds what it stores.
#[derive(Debug, Default)]
pub(super) struct Lag(std::sync::atomic::AtomicI64);

impl Lag {
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn add(&self, rows: usize) {
        self.0
            .fetch_add(rows as i64, std::sync::atomic::Ordering::Relaxed);
    }

    fn set(&self, rows: i64) {
        self.0.store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// Waits while the index is more than [`MAX_LAG`] rows behind.
    pub async fn wait_below_max(&self) {
        while self.get() > MAX_LAG {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The index file of the database at `db`.
pub(super) fn index_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-fts");
    name.into()
}

/// Attaches the index to a new connection (every pooled connection has it as `search`).
pub(super) async fn attach(conn: &mut sqlx::AnyConnection, index: &str) -> Result<(), sqlx::Error> {
    sqlx::query("ATTACH DATABASE $1 AS search")
        .bind(index.to_string())
        .execute(&mut *conn)
        .await?;
    conn.execute("PRAGMA search.journal_mode = WAL").await?;
    conn.execute("PRAGMA search.synchronous = NORMAL").await?;
    conn.execute("PRAGMA search.journal_size_limit = 67108864")
        .await?;
    Ok(())
}

/// Creates the index's tables when its file is new.
pub(super) async fn create(pool: &AnyPool) -> Result<(), sqlx::Error> {
    pool.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS search.events_fts USING fts5(
            doc, content='', contentless_delete=1
        )",
    )
    .await?;
    pool.execute("CREATE TABLE IF NOT EXISTS search.fts_progress (indexed_upto BIGINT NOT NULL)")
        .await?;
    pool.execute(
        "INSERT INTO search.fts_progress (indexed_upto) \
         SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM search.fts_progress)",
    )
    .await?;
    Ok(())
}

/// Starts the indexer; send on the returned channel after each commit of events. It
/// stops when the sender is dropped.
/// Which index the indexer keeps.
#[derive(Clone)]
pub(super) enum Target {
    /// SQLite's attached index: its file (whose WAL the indexer empties) and the lock every
    /// write to it takes. Two transactions writing the index at once fail rather than wait
    /// (one read the index before the other committed: SQLITE_BUSY_SNAPSHOT), so its
    /// writers (this task, retention) queue here.
    Sqlite(std::path::PathBuf, SearchWriter),
    Postgres,
}

/// The right to write SQLite's index.
pub(super) type SearchWriter = std::sync::Arc<tokio::sync::Mutex<()>>;

pub(super) fn start(pool: AnyPool, index: Target, lag: std::sync::Arc<Lag>) -> watch::Sender<()> {
    let (tx, mut rx) = watch::channel(());
    tokio::spawn(async move {
        // Rows stored by an earlier run and not indexed yet.
        catch_up(&pool, &index, &lag).await;
        while rx.changed().await.is_ok() {
            tokio::time::sleep(SETTLE).await;
            rx.mark_unchanged();
            catch_up(&pool, &index, &lag).await;
        }
    });
    tx
}

/// Counts the rows not indexed yet.
async fn count_lag(pool: &AnyPool, index: &Target) -> Result<i64, sqlx::Error> {
    let sql = match index {
        Target::Sqlite(..) => {
            "SELECT COALESCE((SELECT MAX(rowid) FROM main.events), 0) - indexed_upto AS lag \
             FROM search.fts_progress"
        }
        Target::Postgres => "SELECT COUNT(*) AS lag FROM event_words_queue",
    };
    sqlx::query(sql).fetch_one(pool).await?.try_get("lag")
}

/// Indexes every row past the mark, a batch per transaction, emptying the index's WAL as
/// it grows.
async fn catch_up(pool: &AnyPool, index: &Target, lag: &Lag) {
    loop {
        if let Ok(rows) = count_lag(pool, index).await {
            lag.set(rows);
        }
        let indexed = match index {
            Target::Sqlite(_, writer) => index_batch(pool, writer).await,
            Target::Postgres => index_batch_postgres(pool).await,
        };
        match indexed {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "full-text indexing failed; searches read the unindexed rows directly until it works");
                break;
            }
        }
        if let Target::Sqlite(file, writer) = index
            && super::wal::size(file) > WAL_RESET_BYTES
        {
            checkpoint(pool, writer).await;
        }
    }
    if let Target::Sqlite(_, writer) = index {
        checkpoint(pool, writer).await;
    }
}

/// Moves a batch of queued ids into `event_words`, in one statement.
async fn index_batch_postgres(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH batch AS (
             DELETE FROM event_words_queue WHERE id IN (
                 SELECT id FROM event_words_queue LIMIT {BATCH} FOR UPDATE SKIP LOCKED)
             RETURNING id)
         INSERT INTO event_words (id, tsv)
         SELECT e.id, to_tsvector('simple', left(e.doc, 200000)) FROM events e JOIN batch b ON b.id = e.id
         ON CONFLICT (id) DO NOTHING"
    )))
    .execute(pool)
    .await?
    .rows_affected();
    // Ids whose event is gone leave the queue without a row; count the queue, not the rows.
    if done == 0 {
        let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM event_words_queue")
            .fetch_one(pool)
            .await?
            .try_get("n")?;
        return Ok(left.min(1));
    }
    Ok(done as i64)
}

async fn checkpoint(pool: &AnyPool, writer: &SearchWriter) {
    let _writing = writer.lock().await;
    if let Err(e) = pool.execute("PRAGMA search.wal_checkpoint(TRUNCATE)").await {
        tracing::debug!(error = %e, "the full-text index's WAL could not be emptied now");
    }
}

/// Rows bound per INSERT into the index.
const INSERT_ROWS: usize = 500;

/// Indexes the next batch. The rows are read first, in a read of their own, and written
/// in a transaction on the index alone: a transaction spanning both files would hold a
/// read snapshot of the events while it writes, and the checkpointer, which waits for old
/// snapshots to end with ingest held, would hold ingest that long.
async fn index_batch(pool: &AnyPool, writer: &SearchWriter) -> Result<i64, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT rowid AS r, doc FROM main.events \
         WHERE rowid > (SELECT indexed_upto FROM search.fts_progress) ORDER BY rowid LIMIT {BATCH}"
    )))
    .fetch_all(pool)
    .await?;
    let Some(last) = rows.last() else {
        return Ok(0);
    };
    let upto: i64 = last.try_get("r")?;
    let _writing = writer.lock().await;
    let mut tx = pool.begin().await?;
    for chunk in rows.chunks(INSERT_ROWS) {
        let marks = (0..chunk.len())
            .map(|_| "(?, ?)")
            .collect::<Vec<_>>()
            .join(", ");
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO search.events_fts (rowid, doc) VALUES {marks}"
        )));
        for row in chunk {
            insert = insert
                .bind(row.try_get::<i64, _>("r")?)
                .bind(row.try_get::<String, _>("doc")?);
        }
        insert.execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE search.fts_progress SET indexed_upto = $1")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len() as i64)
}

/// After events are deleted: the words of rows above the highest rowid left go, and the
/// mark comes down to it. SQLite hands the rowids of deleted newest rows out again, and a
/// reused rowid must count as not indexed. Run under the write permit, so that no insert
/// reuses a rowid in between. (Words of other deleted rows stay in the index until it is
/// rebuilt; they match no row, and a search keeps only rows that hold the text.)
pub(super) async fn after_delete(pool: &AnyPool, writer: &SearchWriter) -> Result<(), sqlx::Error> {
    let _writing = writer.lock().await;
    let mut tx = pool.begin().await?;
    tx.execute(
        "DELETE FROM search.events_fts WHERE rowid > \
         (SELECT COALESCE(MAX(rowid), 0) FROM main.events)",
    )
    .await?;
    tx.execute(
        "UPDATE search.fts_progress SET indexed_upto = \
         MIN(indexed_upto, (SELECT COALESCE(MAX(rowid), 0) FROM main.events))",
    )
    .await?;
    tx.commit().await
}
