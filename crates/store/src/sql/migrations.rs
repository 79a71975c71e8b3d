//! Schema migrations: numbered, applied once each, in one transaction per migration.
//!
//! The SQL is written once for both backends (BIGINT/TEXT columns, `CREATE ... IF NOT
//! EXISTS`). On PostgreSQL an advisory lock keeps two servers starting at once from running
//! the same migration twice.

use super::SqlStore;
use crate::{Backend, StoreError};
use sqlx::{Acquire, Row};

struct Migration {
    version: i64,
    name: &'static str,
    statements: &'static [&'static str],
    /// Run after `statements`, on that backend only (full-text indices differ).
    sqlite: &'static [&'static str],
    postgres: &'static [&'static str],
}

/// The key of the PostgreSQL advisory lock held while migrating ("wpmigrate" in ASCII).
const PG_MIGRATION_LOCK: i64 = 0x7770_6d69_6772_6174;

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events, detections, alerts, incidents",
        sqlite: &[],
        postgres: &[],
        statements: &[
            "CREATE TABLE IF NOT EXISTS events (
            id TEXT PRIMARY KEY,
            ts BIGINT NOT NULL,
            ingested BIGINT NOT NULL,
            host TEXT,
            source TEXT NOT NULL,
            category TEXT,
            action TEXT,
            source_ip TEXT,
            user_name TEXT,
            doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
            "CREATE INDEX IF NOT EXISTS events_host_ts ON events (host, ts)",
            // No (source_ip, ts) index on events: addresses arrive in random order, so that
            // index dirtied a page per distinct address in every batch and halved SQLite ingest
            // (docs/benchmarks.md). Event searches by address walk the time index; detections
            // and alerts, where analysts pivot on addresses, are indexed by source IP.
            "CREATE TABLE IF NOT EXISTS detections (
            id TEXT PRIMARY KEY,
            ts BIGINT NOT NULL,
            rule_id TEXT NOT NULL,
            severity INTEGER NOT NULL,
            detector TEXT NOT NULL,
            host TEXT,
            source_ip TEXT,
            doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS detections_ts ON detections (ts)",
            "CREATE INDEX IF NOT EXISTS detections_rule_ts ON detections (rule_id, ts)",
            "CREATE INDEX IF NOT EXISTS detections_host_ts ON detections (host, ts)",
            "CREATE INDEX IF NOT EXISTS detections_source_ip_ts ON detections (source_ip, ts)",
            "CREATE INDEX IF NOT EXISTS detections_severity_ts ON detections (severity, ts)",
            "CREATE TABLE IF NOT EXISTS alerts (
            id TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            rule_id TEXT NOT NULL,
            severity INTEGER NOT NULL,
            status TEXT NOT NULL,
            host TEXT,
            source_ip TEXT,
            first_seen BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts (last_seen)",
            "CREATE INDEX IF NOT EXISTS alerts_status_last_seen ON alerts (status, last_seen)",
            "CREATE INDEX IF NOT EXISTS alerts_severity_last_seen ON alerts (severity, last_seen)",
            "CREATE INDEX IF NOT EXISTS alerts_rule_last_seen ON alerts (rule_id, last_seen)",
            "CREATE INDEX IF NOT EXISTS alerts_host_last_seen ON alerts (host, last_seen)",
            "CREATE INDEX IF NOT EXISTS alerts_source_ip_last_seen ON alerts (source_ip, last_seen)",
            "CREATE TABLE IF NOT EXISTS incidents (
            id TEXT PRIMARY KEY,
            severity INTEGER NOT NULL,
            status TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS incidents_updated ON incidents (updated_at)",
            "CREATE INDEX IF NOT EXISTS incidents_status_updated ON incidents (status, updated_at)",
        ],
    },
    Migration {
        version: 2,
        name: "senders: agents and proxies that ship to this server",
        sqlite: &[],
        postgres: &[],
        statements: &["CREATE TABLE IF NOT EXISTS senders (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                last_seen BIGINT,
                version TEXT,
                address TEXT
            )"],
    },
    Migration {
        version: 3,
        name: "alert pipeline: notification outbox, delivery attempts, trace, silences",
        sqlite: &[],
        postgres: &[],
        statements: &[
            "CREATE TABLE IF NOT EXISTS notifications (
                id TEXT PRIMARY KEY,
                receiver TEXT NOT NULL,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                next_attempt BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                last_error TEXT,
                doc TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS notifications_due ON notifications (status, next_attempt)",
            "CREATE INDEX IF NOT EXISTS notifications_created ON notifications (created_at)",
            "CREATE TABLE IF NOT EXISTS notification_alerts (
                notification_id TEXT NOT NULL,
                alert_id TEXT NOT NULL,
                PRIMARY KEY (notification_id, alert_id)
            )",
            "CREATE INDEX IF NOT EXISTS notification_alerts_alert ON notification_alerts (alert_id)",
            "CREATE TABLE IF NOT EXISTS delivery_attempts (
                id TEXT PRIMARY KEY,
                notification_id TEXT NOT NULL,
                ts BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                channel TEXT NOT NULL,
                detail TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS delivery_attempts_notification ON delivery_attempts (notification_id, ts)",
            "CREATE TABLE IF NOT EXISTS alert_trace (
                id TEXT PRIMARY KEY,
                alert_id TEXT NOT NULL,
                ts BIGINT NOT NULL,
                doc TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS alert_trace_alert ON alert_trace (alert_id, ts)",
            "CREATE TABLE IF NOT EXISTS silences (
                id TEXT PRIMARY KEY,
                starts_at BIGINT NOT NULL,
                ends_at BIGINT NOT NULL,
                doc TEXT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS silences_ends ON silences (ends_at)",
        ],
    },
    Migration {
        version: 4,
        name: "detections remember whether they were folded into their alert",
        sqlite: &[],
        postgres: &[],
        statements: &[
            // Rows stored before this migration were folded by the build that stored them.
            "ALTER TABLE detections ADD COLUMN folded BIGINT NOT NULL DEFAULT 1",
            "CREATE INDEX IF NOT EXISTS detections_unfolded ON detections (ts) WHERE folded = 0",
        ],
    },
    Migration {
        version: 5,
        name: "host metrics as per-minute and per-hour rollups",
        sqlite: &[],
        postgres: &[],
        statements: &["CREATE TABLE IF NOT EXISTS metric_rollups (
                host TEXT NOT NULL,
                metric TEXT NOT NULL,
                step_seconds BIGINT NOT NULL,
                bucket BIGINT NOT NULL,
                samples BIGINT NOT NULL,
                total DOUBLE PRECISION NOT NULL,
                low DOUBLE PRECISION NOT NULL,
                high DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (host, metric, step_seconds, bucket)
            )"],
    },
    Migration {
        version: 6,
        name: "API keys (stored as HMACs) and the record of state-changing API calls",
        sqlite: &[],
        postgres: &[],
        statements: &[
            "CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                role TEXT NOT NULL,
                secret_hmac TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT,
                last_used_at BIGINT
            )",
            "CREATE TABLE IF NOT EXISTS api_calls (
                id TEXT PRIMARY KEY,
                at BIGINT NOT NULL,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                method TEXT NOT NULL,
                path TEXT NOT NULL,
                status INTEGER NOT NULL,
                client_ip TEXT
            )",
            "CREATE INDEX IF NOT EXISTS api_calls_at ON api_calls (at)",
        ],
    },
    Migration {
        version: 7,
        name: "rules turned off by people; alert counts by status and severity from an index",
        sqlite: &[],
        postgres: &[],
        statements: &[
            "CREATE TABLE IF NOT EXISTS disabled_rules (
                rule_id TEXT PRIMARY KEY,
                disabled_at BIGINT NOT NULL,
                disabled_by TEXT NOT NULL
            )",
            // The dashboard counts every alert by status and severity: from this index
            // rather than the rows and their documents (130 ms → 3 ms for 50,000 alerts).
            // Severity first: with status first, SQLite took it for lists filtered by
            // status and severity and sorted thousands of rows instead of walking
            // (status, last_seen) newest first (0.2 ms → 20 ms).
            "CREATE INDEX IF NOT EXISTS alerts_severity_status ON alerts (severity, status)",
        ],
    },
    Migration {
        version: 8,
        name: "senders can be revoked and rotated; dashboard logins are server-side sessions",
        sqlite: &[],
        postgres: &[],
        statements: &[
            "ALTER TABLE senders ADD COLUMN revoked_at BIGINT",
            "ALTER TABLE senders ADD COLUMN previous_secret_hash TEXT",
            "ALTER TABLE senders ADD COLUMN previous_valid_until BIGINT",
            "CREATE TABLE IF NOT EXISTS sessions (
                id_hash TEXT PRIMARY KEY,
                key_id TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )",
            "CREATE INDEX IF NOT EXISTS sessions_key ON sessions (key_id)",
        ],
    },
    Migration {
        version: 9,
        name: "checksums on events and detections; a full-text index over events",
        // SQLite's full-text index lives in a database file of its own (`indexer.rs`).
        sqlite: &[],
        postgres: &[
            // Words of each event, written behind ingest (`indexer.rs`): ingest only queues
            // the ids it stores, through a statement trigger, and searches read the queued
            // rows directly. tsvector holds at most 1 MiB: the words of a document's first
            // 200,000 characters are indexed (the substring check still reads all of it).
            "CREATE TABLE IF NOT EXISTS event_words (id TEXT PRIMARY KEY, tsv tsvector NOT NULL)",
            "CREATE INDEX IF NOT EXISTS event_words_tsv ON event_words USING GIN (tsv)",
            "CREATE TABLE IF NOT EXISTS event_words_queue (id TEXT PRIMARY KEY)",
            "INSERT INTO event_words_queue (id) SELECT id FROM events ON CONFLICT DO NOTHING",
            "CREATE OR REPLACE FUNCTION watchpost_queue_words() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO event_words_queue (id) SELECT id FROM stored ON CONFLICT DO NOTHING;
                 RETURN NULL;
             END $$",
            "CREATE TRIGGER events_queue_words AFTER INSERT ON events
             REFERENCING NEW TABLE AS stored FOR EACH STATEMENT
             EXECUTE FUNCTION watchpost_queue_words()",
            "CREATE OR REPLACE FUNCTION watchpost_forget_words() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 DELETE FROM event_words WHERE id IN (SELECT id FROM gone);
                 DELETE FROM event_words_queue WHERE id IN (SELECT id FROM gone);
                 RETURN NULL;
             END $$",
            "CREATE TRIGGER events_forget_words AFTER DELETE ON events
             REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
             EXECUTE FUNCTION watchpost_forget_words()",
        ],
        statements: &[
            // CRC-32 of `doc`, checked when the row is read (NULL in older rows).
            "ALTER TABLE events ADD COLUMN crc BIGINT",
            "ALTER TABLE detections ADD COLUMN crc BIGINT",
        ],
    },
    Migration {
        version: 10,
        name: "decisions",
        statements: &[],
        // Integer ids in order of creation (what CrowdSec bouncers expect), which each
        // backend spells its own way; the rest is shared below.
        sqlite: &[
            "CREATE TABLE IF NOT EXISTS decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL,
            origin TEXT NOT NULL, reason TEXT NOT NULL,
            created_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, simulated BIGINT NOT NULL,
            deleted_at BIGINT, deleted_by TEXT
        )",
            "CREATE INDEX IF NOT EXISTS decisions_ends_at ON decisions (ends_at)",
            "CREATE INDEX IF NOT EXISTS decisions_deleted_at ON decisions (deleted_at)",
        ],
        postgres: &[
            "CREATE TABLE IF NOT EXISTS decisions (
            id BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL, scope TEXT NOT NULL, value TEXT NOT NULL,
            origin TEXT NOT NULL, reason TEXT NOT NULL,
            created_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, simulated BIGINT NOT NULL,
            deleted_at BIGINT, deleted_by TEXT
        )",
            "CREATE INDEX IF NOT EXISTS decisions_ends_at ON decisions (ends_at)",
            "CREATE INDEX IF NOT EXISTS decisions_deleted_at ON decisions (deleted_at)",
        ],
    },
    Migration {
        version: 11,
        name: "actions",
        statements: &[
            "CREATE TABLE IF NOT EXISTS actions (
            id TEXT PRIMARY KEY, incident_id TEXT, state TEXT NOT NULL, host TEXT,
            kind TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
            expires_at BIGINT, doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS actions_incident ON actions (incident_id)",
            "CREATE INDEX IF NOT EXISTS actions_state_host ON actions (state, host)",
            "CREATE INDEX IF NOT EXISTS actions_expires ON actions (expires_at)",
        ],
        sqlite: &[],
        postgres: &[],
    },
    Migration {
        version: 12,
        name: "a sender's name is unique per kind (the agent and the proxy of one host share it)",
        statements: &[],
        // SQLite cannot drop a column's UNIQUE: the table is rebuilt without it.
        sqlite: &[
            "CREATE TABLE senders_by_kind (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL,
                secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT,
                version TEXT, address TEXT, revoked_at BIGINT, previous_secret_hash TEXT,
                previous_valid_until BIGINT
            )",
            "INSERT INTO senders_by_kind SELECT id, name, kind, secret_hash, created_at, last_seen,
                version, address, revoked_at, previous_secret_hash, previous_valid_until FROM senders",
            "DROP TABLE senders",
            "ALTER TABLE senders_by_kind RENAME TO senders",
            "CREATE UNIQUE INDEX IF NOT EXISTS senders_kind_name ON senders (kind, name)",
        ],
        postgres: &[
            "ALTER TABLE senders DROP CONSTRAINT IF EXISTS senders_name_key",
            "CREATE UNIQUE INDEX IF NOT EXISTS senders_kind_name ON senders (kind, name)",
        ],
    },
    Migration {
        version: 13,
        name: "suppressions: false positives taught back to detection",
        statements: &[
            "CREATE TABLE IF NOT EXISTS suppressions (
            id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, state TEXT NOT NULL,
            created_at BIGINT NOT NULL, expires_at BIGINT, doc TEXT NOT NULL
        )",
            "CREATE INDEX IF NOT EXISTS suppressions_state ON suppressions (state)",
        ],
        sqlite: &[],
        postgres: &[],
    },
];

/// The schema version this build writes.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every migration the database has not seen yet.
pub(crate) async fn run(store: &SqlStore) -> Result<(), StoreError> {
    let mut conn = store.pool.acquire().await?;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = apply_pending(&mut conn, store.backend).await;
    if store.backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply_pending(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    let current = current_version(&mut *conn).await?;
    if current > latest_version() {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known: latest_version(),
        });
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > current) {
        let fail = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name,
            source,
        };
        let mut tx = conn.begin().await?;
        let own = match backend {
            Backend::Sqlite => migration.sqlite,
            Backend::Postgres => migration.postgres,
        };
        for statement in migration.statements.iter().chain(own) {
            sqlx::query(*statement)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied schema migration"
        );
    }
    Ok(())
}

/// The highest migration applied, 0 for a new database.
pub(crate) async fn current_version<'c, E>(executor: E) -> Result<i64, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
        .fetch_one(executor)
        .await?;
    Ok(row.try_get::<i64, _>("v")?)
}
