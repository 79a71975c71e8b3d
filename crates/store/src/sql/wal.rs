//! The SQLite write-ahead log at start-up: a large one is replayed and emptied on a
//! connection of its own, with its progress in the log, before the pool opens.
//!
//! The first connection to a database with a WAL reads the whole WAL to rebuild its index
//! (and the first checkpoint copies it back): for gigabytes, longer than the pool waits for
//! a connection, so a server stopped with a large WAL would not start. Done here, it takes
//! as long as it takes.

use crate::{StoreError, Trouble};
use sqlx::{Connection, Executor};
use std::path::Path;
use std::time::{Duration, Instant};

/// WAL size from which start-up says what it is doing.
const LOG_FROM_BYTES: u64 = 16 * 1024 * 1024;
/// How often progress is logged while the WAL is replayed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The size of `db`'s write-ahead log, 0 when there is none.
pub(crate) fn size(db: &Path) -> u64 {
    std::fs::metadata(wal_path(db)).map_or(0, |m| m.len())
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Opens the database once on its own before the pool does: a file too damaged to open is
/// named as such (the pool would only time out retrying its connections), and a large WAL
/// is emptied into the database, however long that takes.
pub(super) async fn recover(url: &str, db: &Path) -> Result<(), StoreError> {
    let bytes = size(db);
    let large = bytes >= LOG_FROM_BYTES;
    let started = Instant::now();
    let progress = large.then(|| {
        tracing::info!(
            wal_bytes = bytes,
            "replaying the write-ahead log left by the last run into the database"
        );
        let wal = wal_path(db);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROGRESS_EVERY).await;
                let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
                tracing::info!(
                    elapsed_s = started.elapsed().as_secs(),
                    wal_bytes = left,
                    "still replaying the write-ahead log"
                );
            }
        })
    });
    let opened = async {
        let mut conn = sqlx::AnyConnection::connect(url).await?;
        conn.execute("PRAGMA busy_timeout = 600000").await?;
        // Reads the header and the schema, as every pooled connection will.
        conn.execute("PRAGMA main.schema_version").await?;
        conn.execute("PRAGMA journal_mode = WAL").await?;
        if large {
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        conn.close().await
    }
    .await;
    if let Some(progress) = progress {
        progress.abort();
    }
    if let Err(source) = opened {
        return Err(
            if crate::condition::sqlx_trouble(&source) == Some(Trouble::Damage) {
                StoreError::DamagedAtOpen {
                    path: db.display().to_string(),
                    source,
                }
            } else {
                StoreError::Database(source)
            },
        );
    }
    if large {
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            wal_bytes_left = size(db),
            "write-ahead log replayed"
        );
    }
    Ok(())
}
