//! SQLite WAL checkpoints off the write path, with a bound on the WAL's size.
//!
//! With auto-checkpointing, the writer that crosses the WAL threshold copies pages back into
//! the database file and fsyncs while ingest waits. Instead, writers only append to the WAL
//! and this task runs PASSIVE checkpoints on its own connection shortly after writes; SQLite
//! lets those proceed alongside the writer. Once a checkpoint has caught up, the next writer
//! starts the WAL over from its beginning, and `journal_size_limit` trims the file.
//!
//! A PASSIVE checkpoint never waits, so it can be starved: while readers keep reading old
//! snapshots and the writer keeps appending, it never catches up, and the WAL grew to
//! 16 GB in five minutes of steady ingest. When the WAL passes [`WAL_RESET_BYTES`] the
//! checkpointer therefore takes the write permit (writers wait, readers do not) and runs a
//! TRUNCATE checkpoint, which waits for the readers of old snapshots to finish, copies
//! everything back and empties the file. New readers cannot starve it: with every frame
//! copied, they read the database file.

use sqlx::{AnyPool, Row};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Time allowed to gather more commits before checkpointing.
const SETTLE: Duration = Duration::from_millis(200);

/// WAL size past which writers are held back until the WAL is emptied.
pub(crate) const WAL_RESET_BYTES: u64 = 64 * 1024 * 1024;

/// Starts the checkpointer; send on the returned channel after each commit. It stops when
/// the sender is dropped.
pub(super) fn start(
    pool: AnyPool,
    writer: Arc<tokio::sync::Mutex<()>>,
    db: PathBuf,
) -> watch::Sender<()> {
    let (tx, mut rx) = watch::channel(());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            tokio::time::sleep(SETTLE).await;
            rx.mark_unchanged();
            checkpoint(&pool, "PRAGMA main.wal_checkpoint(PASSIVE)").await;
            let size = super::wal::size(&db);
            if size > WAL_RESET_BYTES {
                let started = Instant::now();
                let _writers_wait = writer.lock().await;
                let done = checkpoint(&pool, "PRAGMA main.wal_checkpoint(TRUNCATE)").await;
                tracing::info!(
                    wal_bytes = size,
                    completed = done,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "the write-ahead log passed its bound: writers held while it was emptied"
                );
            }
        }
        // The store is closing: leave a small WAL behind.
        checkpoint(&pool, "PRAGMA main.wal_checkpoint(TRUNCATE)").await;
    });
    tx
}

/// Runs a checkpoint; true when it copied every frame (SQLite's `busy` column is 0).
async fn checkpoint(pool: &AnyPool, sql: &'static str) -> bool {
    match sqlx::query(sql).fetch_one(pool).await {
        Ok(row) => row
            .try_get::<i64, _>(0)
            .map(|busy| busy == 0)
            .unwrap_or(false),
        Err(e) => {
            tracing::warn!(error = %e, "SQLite checkpoint failed; will retry after the next write");
            false
        }
    }
}
