//! Test support: a fresh database per test so that suites run in parallel.
//!
//! PostgreSQL tests use `TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) to
//! create a database `t_<uuid>` and drop it afterwards. When the server is unreachable they
//! are skipped with a printed reason, except under `CI=true`, where that is a failure: CI
//! must never go green on tests that did not run.

use crate::{SqlStore, Store};
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use std::path::PathBuf;
use std::sync::Arc;

/// The PostgreSQL server used when `TEST_PG_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    /// The URL to open with [`crate::open`].
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDb {
    /// Opens a store on this database (running migrations).
    pub async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqlStore::open(&self.url).await.expect("open test store"))
    }

    /// Runs `sql` on a connection of its own, outside any store: what another program (or
    /// a disk) does to the database behind the store's back.
    pub async fn execute_behind_the_store(&self, sql: &str) -> u64 {
        sqlx::any::install_default_drivers();
        let mut conn = AnyConnection::connect(&self.url)
            .await
            .expect("connect to the test database");
        let done = sqlx::query(AssertSqlSafe(sql.to_string()))
            .execute(&mut conn)
            .await
            .expect("run the statement");
        let _ = conn.close().await;
        done.rows_affected()
    }

    /// The SQLite database file (`None` on PostgreSQL).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }
}

/// A new SQLite database in its own temporary directory.
pub fn sqlite() -> TestDb {
    let dir =
        std::env::temp_dir().join(format!("watchpost-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("create test dir");
    TestDb {
        url: format!("sqlite://{}/watchpost.db", dir.display()),
        cleanup: Cleanup::Dir(dir),
    }
}

/// A new PostgreSQL database, or `None` (test skipped) when the server is unreachable
/// outside CI. Panics under `CI=true` when the server is unreachable.
pub async fn postgres() -> Option<TestDb> {
    sqlx::any::install_default_drivers();
    let admin_url = std::env::var("TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string());
    let mut admin = match AnyConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("PostgreSQL at {admin_url} is unreachable under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipped: PostgreSQL at {admin_url} is unreachable ({e}); set TEST_PG_URL");
            return None;
        }
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;
    Some(TestDb {
        url: with_database(&admin_url, &name),
        cleanup: Cleanup::PgDatabase { admin_url, name },
    })
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_end..]
        .find('/')
        .map_or(base.len(), |i| authority_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; a fresh thread and runtime avoid
                // blocking it. FORCE ends connections the test's pool still holds.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    rt.block_on(async {
                        let mut admin = AnyConnection::connect(&admin_url).await?;
                        sqlx::query(AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await?;
                        admin.close().await
                    })
                    .map_err(std::io::Error::other)
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/test", "t_1"),
            "postgres://u@h:5432/t_1"
        );
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "t_1"),
            "postgres://u@h/t_1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://u@h", "t_1"),
            "postgres://u@h/t_1"
        );
    }
}
