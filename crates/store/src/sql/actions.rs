//! Response action rows: proposed, approved, queued for an agent, done, undone.

use super::SqlStore;
use crate::{ActionQuery, StoreError};
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use uuid::Uuid;
use watchpost_core::time::to_millis;
use watchpost_core::{Action, ActionState};

/// Most actions one read returns.
pub const MAX_ACTIONS: i64 = 10_000;

pub(super) async fn upsert(store: &SqlStore, action: &Action) -> Result<(), StoreError> {
    let doc = serde_json::to_string(action)?;
    let expires_at = match (action.state, action.done_at) {
        (ActionState::Done, Some(done)) if action.ttl_seconds > 0 => {
            Some(to_millis(done) + action.ttl_seconds as i64 * 1000)
        }
        _ => None,
    };
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO actions (id, incident_id, state, host, kind, created_at, updated_at, expires_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, \
         expires_at = excluded.expires_at, doc = excluded.doc",
    )
    .bind(action.id.to_string())
    .bind(action.incident_id.map(|i| i.to_string()))
    .bind(action.state.as_str())
    .bind(action.host().map(str::to_string))
    .bind(action.kind.as_str())
    .bind(to_millis(action.created_at))
    .bind(to_millis(action.updated_at))
    .bind(expires_at)
    .bind(doc)
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn get(store: &SqlStore, id: Uuid) -> Result<Option<Action>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM actions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref()
        .map(|r| super::doc_of(r, "actions"))
        .transpose()
}

/// Actions matching `q`, newest first (oldest first for an agent's queue, so that it
/// carries them out in the order they were decided).
pub(super) async fn query(store: &SqlStore, q: &ActionQuery) -> Result<Vec<Action>, StoreError> {
    let mut clauses = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    for (column, value) in [
        ("incident_id", q.incident.map(|i| i.to_string())),
        ("state", q.state.map(|s| s.as_str().to_string())),
        ("host", q.host.clone()),
    ] {
        if let Some(value) = value {
            binds.push(value);
            clauses.push(format!("{column} = ${}", binds.len()));
        }
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let order = if q.oldest_first { "ASC" } else { "DESC" };
    let limit = q.limit.clamp(1, MAX_ACTIONS);
    let sql = format!(
        "SELECT id, doc FROM actions {filter} ORDER BY created_at {order}, id {order} LIMIT {limit}"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    let rows = query.fetch_all(&store.pool).await?;
    rows.iter().map(|r| super::doc_of(r, "actions")).collect()
}

/// Done actions whose time to live ended by `now`, oldest first.
pub(super) async fn expired(
    store: &SqlStore,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Action>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, doc FROM actions WHERE state = 'done' AND expires_at IS NOT NULL \
         AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
    )
    .bind(to_millis(now))
    .bind(limit.clamp(1, MAX_ACTIONS))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(|r| super::doc_of(r, "actions")).collect()
}
