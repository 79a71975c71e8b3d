//! Decision rows: made, lifted, and read by what is in force and what ended when.

use super::SqlStore;
use crate::StoreError;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use watchpost_core::time::{from_millis, to_millis};
use watchpost_core::{Decision, DecisionScope};

/// Most decisions one read returns: the stream's full list and the API's pages. Enforcers
/// hold sets of this order (a firewall set of a hundred thousand addresses is ordinary).
pub const MAX_DECISIONS: i64 = 200_000;

const COLUMNS: &str = "id, kind, scope, value, origin, reason, created_at, ends_at, simulated, deleted_at, deleted_by";

pub(super) async fn insert(store: &SqlStore, d: &Decision) -> Result<i64, StoreError> {
    let _permit = store.write_permit().await;
    let row = sqlx::query(
        "INSERT INTO decisions (kind, scope, value, origin, reason, created_at, ends_at, simulated) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(d.kind.clone())
    .bind(d.scope.as_str())
    .bind(d.value.clone())
    .bind(d.origin.clone())
    .bind(d.reason.clone())
    .bind(to_millis(d.created_at))
    .bind(to_millis(d.until))
    .bind(i64::from(d.simulated))
    .fetch_one(&store.pool)
    .await?;
    store.after_commit();
    Ok(row.try_get("id")?)
}

/// Lifts a decision in force; `None` when there is no such decision, it is lifted already
/// or it has expired.
pub(super) async fn lift(
    store: &SqlStore,
    id: i64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<Option<Decision>, StoreError> {
    let _permit = store.write_permit().await;
    let done = sqlx::query(
        "UPDATE decisions SET deleted_at = $1, deleted_by = $2 \
         WHERE id = $3 AND deleted_at IS NULL AND ends_at > $1",
    )
    .bind(to_millis(at))
    .bind(by.to_string())
    .bind(id)
    .execute(&store.pool)
    .await?;
    store.after_commit();
    drop(_permit);
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    get(store, id).await
}

pub(super) async fn get(store: &SqlStore, id: i64) -> Result<Option<Decision>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&store.pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Decisions in force at `now` made after `made_after` (simulated ones included only
/// when `simulated`), oldest first.
pub(super) async fn in_force(
    store: &SqlStore,
    now: DateTime<Utc>,
    made_after: Option<DateTime<Utc>>,
    simulated: bool,
) -> Result<Vec<Decision>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions WHERE deleted_at IS NULL AND ends_at > $1 \
         AND created_at > $2 AND (simulated = 0 OR $3 = 1) ORDER BY id LIMIT {MAX_DECISIONS}"
    )))
    .bind(to_millis(now))
    .bind(made_after.map_or(i64::MIN, to_millis))
    .bind(i64::from(simulated))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Decisions in force at `now` that may cover `address`: the address bans of exactly it and
/// every network ban (the caller checks containment). A live-mode bouncer asks this for
/// each request it sees, so it must not read every address ban.
pub(super) async fn in_force_for(
    store: &SqlStore,
    now: DateTime<Utc>,
    address: &str,
) -> Result<Vec<Decision>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions WHERE deleted_at IS NULL AND ends_at > $1 \
         AND simulated = 0 AND (scope = 'range' OR (scope = 'ip' AND value = $2)) \
         ORDER BY id LIMIT {MAX_DECISIONS}"
    )))
    .bind(to_millis(now))
    .bind(address.to_string())
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Decisions (never simulated) that stopped being in force after `from` and no later than
/// `to`: lifted, or expired.
pub(super) async fn ended_between(
    store: &SqlStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Decision>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions WHERE simulated = 0 AND ( \
           (deleted_at IS NOT NULL AND deleted_at > $1 AND deleted_at <= $2) \
           OR (deleted_at IS NULL AND ends_at > $1 AND ends_at <= $2)) \
         ORDER BY id LIMIT {MAX_DECISIONS}"
    )))
    .bind(to_millis(from))
    .bind(to_millis(to))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The newest decisions, in force or not, newest first.
pub(super) async fn recent(store: &SqlStore, limit: i64) -> Result<Vec<Decision>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM decisions ORDER BY id DESC LIMIT {}",
        limit.clamp(1, MAX_DECISIONS)
    )))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &AnyRow) -> Result<Decision, StoreError> {
    let id: i64 = row.try_get("id")?;
    let scope: String = row.try_get("scope")?;
    let scope: DecisionScope = scope.parse().map_err(|e: String| StoreError::CorruptRow {
        table: "decisions",
        id: id.to_string(),
        source: serde::de::Error::custom(e),
    })?;
    Ok(Decision {
        id,
        kind: row.try_get("kind")?,
        scope,
        value: row.try_get("value")?,
        origin: row.try_get("origin")?,
        reason: row.try_get("reason")?,
        created_at: from_millis(row.try_get("created_at")?),
        until: from_millis(row.try_get("ends_at")?),
        simulated: row.try_get::<i64, _>("simulated")? != 0,
        deleted_at: row
            .try_get::<Option<i64>, _>("deleted_at")?
            .map(from_millis),
        deleted_by: row.try_get("deleted_by")?,
    })
}
