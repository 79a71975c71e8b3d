//! SQLite WAL checkpoints off the write path.
//!
//! With auto-checkpointing, the writer that crosses the WAL threshold copies pages back into
//! the database file and fsyncs while ingest waits. Instead, writers only append to the WAL
//! and this task runs PASSIVE checkpoints on its own connection shortly after writes; SQLite
//! lets those proceed alongside the writer. Once a checkpoint has caught up, the next writer
//! starts the WAL over from its beginning, and `journal_size_limit` trims the file, so the
//! WAL stays bounded without ever blocking a writer.

use sqlx::AnyPool;
use std::time::Duration;
use tokio::sync::watch;

/// Time allowed to gather more commits before checkpointing.
const SETTLE: Duration = Duration::from_millis(200);

/// Starts the checkpointer; send on the returned channel after each commit. It stops when
/// the sender is dropped.
pub(super) fn start(pool: AnyPool) -> watch::Sender<()> {
    let (tx, mut rx) = watch::channel(());
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            tokio::time::sleep(SETTLE).await;
            rx.mark_unchanged();
            checkpoint(&pool, "PRAGMA wal_checkpoint(PASSIVE)").await;
        }
        // The store is closing: leave a small WAL behind.
        checkpoint(&pool, "PRAGMA wal_checkpoint(TRUNCATE)").await;
    });
    tx
}

async fn checkpoint(pool: &AnyPool, sql: &'static str) {
    if let Err(e) = sqlx::query(sql).execute(pool).await {
        tracing::warn!(error = %e, "SQLite checkpoint failed; will retry after the next write");
    }
}
