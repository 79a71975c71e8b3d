//! Reads a caller shapes (searches, filtered listings) run under the store's query timeout.
//!
//! Such a read can reach any number of rows, so it runs on a connection armed with the
//! bound: SQLite through `deadline`, PostgreSQL through `statement_timeout`. The connection
//! is disarmed before it returns to the pool, so ingest and maintenance on it are never
//! held to a search's bound; one whose read was abandoned midway (a cancelled request) is
//! closed instead, since nothing disarmed it.

use super::{STATEMENT_TIMEOUT, SqlStore, millis};
use crate::{Backend, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Executor};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A pooled connection armed with the query timeout until [`finish`](Self::finish).
pub(super) struct BoundedConnection {
    conn: Option<PoolConnection<Any>>,
    backend: Backend,
    timeout_ms: u64,
}

impl SqlStore {
    /// A connection whose statements stop once the query timeout has passed.
    pub(super) async fn bounded_connection(&self) -> Result<BoundedConnection, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let timeout_ms = self.query_timeout_ms.load(Ordering::Relaxed);
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("SELECT watchpost_deadline($1)")
                    .bind(i64::try_from(timeout_ms).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Postgres => {
                conn.execute(statement_timeout(Duration::from_millis(timeout_ms)))
                    .await?;
            }
        }
        Ok(BoundedConnection {
            conn: Some(conn),
            backend: self.backend,
            timeout_ms,
        })
    }
}

impl BoundedConnection {
    pub(super) fn as_mut(&mut self) -> &mut AnyConnection {
        self.conn
            .as_mut()
            .expect("a bounded connection is used before it finishes")
    }

    /// Awaits a statement run on this connection, naming one stopped by the bound
    /// [`StoreError::QueryTimeout`], and disarms the connection.
    pub(super) async fn finish<T>(
        mut self,
        store: &SqlStore,
        outcome: Result<T, sqlx::Error>,
    ) -> Result<T, StoreError> {
        let outcome = outcome.map_err(|e| {
            if stopped_by_timeout(&e) {
                StoreError::QueryTimeout {
                    seconds: self.timeout_ms.div_ceil(1000),
                }
            } else {
                StoreError::Database(e)
            }
        });
        let disarmed = match self.backend {
            Backend::Sqlite => self.as_mut().execute("SELECT watchpost_deadline(0)").await,
            Backend::Postgres => {
                self.as_mut()
                    .execute(statement_timeout(STATEMENT_TIMEOUT))
                    .await
            }
        };
        if disarmed.is_ok() {
            // Back to the pool; otherwise `drop` closes it.
            self.conn.take();
        }
        store.read(async { outcome }).await
    }
}

impl Drop for BoundedConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// `SET statement_timeout` for PostgreSQL.
pub(super) fn statement_timeout(bound: Duration) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!("SET statement_timeout = {}", millis(bound).max(1)))
}

/// Whether a statement was stopped by the query timeout: SQLite's interrupt, PostgreSQL's
/// `query_canceled` (57014).
fn stopped_by_timeout(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    match db.code().as_deref() {
        Some("57014") => true,
        Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => code
            .parse::<i64>()
            .is_ok_and(|c| c & 0xff == super::deadline::INTERRUPTED),
        _ => false,
    }
}
