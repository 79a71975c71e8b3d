//! SQLite's full-text index over events: a database file of its own beside the store
//! (`watchpost.db-fts`), attached to every connection as `search`, kept up by a task of its
//! own rather than by ingest.
//!
//! Indexing a document in FTS5 costs more than storing it: with a trigger on every insert,
//! batched ingest fell from 108,000 to 40,000 events/s (`docs/benchmarks.md`). SQLite
//! takes one writer per database file, so with the index in a second file this task
//! writes it while ingest writes the events, on the other core, and ingest acknowledges
//! without waiting for it. `search.fts_progress` holds the highest rowid indexed, in the
//! same transactions as the index; a search looks indexed rows up in the index and reads
//! the rows past that mark directly, so it is complete however far behind the index is.
//!
//! The index holds only words and rowids (a contentless FTS5 table): it is derived data,
//! rebuilt from the events if its file is removed.

use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;
use tokio::sync::watch;

/// Time allowed to gather more commits before indexing.
const SETTLE: Duration = Duration::from_millis(200);
/// Rows indexed per transaction.
const BATCH: i64 = 5_000;
/// Index WAL size past which it is emptied between batches.
const WAL_RESET_BYTES: u64 = 64 * 1024 * 1024;

/// The index file of the database at `db`.
pub(super) fn index_path(db: &std::path::Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-fts");
    name.into()
}

/// Attaches the index to a new connection (every pooled connection has it as `search`).
pub(super) async fn attach(
    conn: &mut sqlx::AnyConnection,
    index: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("ATTACH DATABASE $1 AS search")
        .bind(index.to_string())
        .execute(&mut *conn)
        .await?;
    conn.execute("PRAGMA search.journal_mode = WAL").await?;
    conn.execute("PRAGMA search.synchronous = NORMAL").await?;
    conn.execute("PRAGMA search.journal_size_limit = 67108864").await?;
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
pub(super) fn start(pool: AnyPool, index: std::path::PathBuf) -> watch::Sender<()> {
    let (tx, mut rx) = watch::channel(());
    tokio::spawn(async move {
        // Rows stored by an earlier run and not indexed yet.
        catch_up(&pool, &index).await;
        while rx.changed().await.is_ok() {
            tokio::time::sleep(SETTLE).await;
            rx.mark_unchanged();
            catch_up(&pool, &index).await;
        }
    });
    tx
}

/// Indexes every row past the mark, a batch per transaction, emptying the index's WAL as
/// it grows.
async fn catch_up(pool: &AnyPool, index: &std::path::Path) {
    loop {
        match index_batch(pool).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "full-text indexing failed; searches read the unindexed rows directly until it works");
                break;
            }
        }
        if super::wal::size(index) > WAL_RESET_BYTES {
            checkpoint(pool).await;
        }
    }
    checkpoint(pool).await;
}

async fn checkpoint(pool: &AnyPool) {
    if let Err(e) = pool.execute("PRAGMA search.wal_checkpoint(TRUNCATE)").await {
        tracing::debug!(error = %e, "the full-text index's WAL could not be emptied now");
    }
}

async fn index_batch(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let bounds = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT indexed_upto AS since, (SELECT MAX(rowid) FROM (SELECT rowid FROM main.events \
         WHERE rowid > indexed_upto ORDER BY rowid LIMIT {BATCH})) AS upto FROM search.fts_progress"
    )))
    .fetch_one(&mut *tx)
    .await?;
    let since: i64 = bounds.try_get("since")?;
    let Some(upto) = bounds.try_get::<Option<i64>, _>("upto")? else {
        return Ok(0);
    };
    let done = sqlx::query(
        "INSERT INTO search.events_fts (rowid, doc) SELECT rowid, doc FROM main.events \
         WHERE rowid > $1 AND rowid <= $2",
    )
    .bind(since)
    .bind(upto)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    sqlx::query("UPDATE search.fts_progress SET indexed_upto = $1")
        .bind(upto)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done)
}

/// After events are deleted: the words of rows above the highest rowid left go, and the
/// mark comes down to it. SQLite hands the rowids of deleted newest rows out again, and a
/// reused rowid must count as not indexed. Run under the write permit, so that no insert
/// reuses a rowid in between. (Words of other deleted rows stay in the index until it is
/// rebuilt; they match no row, and a search keeps only rows that hold the text.)
pub(super) async fn after_delete(pool: &AnyPool) -> Result<(), sqlx::Error> {
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
