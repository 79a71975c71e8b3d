//! What people set through the API: API keys (an HMAC of each secret, never the secret),
//! the record of state-changing API calls, and rules turned off.

use super::SqlStore;
use crate::{ApiCall, ApiKey, DisabledRule, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use watchpost_core::time::{from_millis, to_millis};

const KEY_COLUMNS: &str = "id, name, role, secret_hmac, created_at, expires_at, last_used_at";
const CALL_COLUMNS: &str = "id, at, actor, role, method, path, status, client_ip";
/// Most API calls one read returns.
const MAX_CALLS_READ: usize = 10_000;

pub(super) async fn insert(store: &SqlStore, key: &ApiKey) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO api_keys (id, name, role, secret_hmac, created_at, expires_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.clone())
    .bind(key.name.clone())
    .bind(key.role.clone())
    .bind(key.secret_hmac.clone())
    .bind(to_millis(key.created_at))
    .bind(key.expires_at.map(to_millis))
    .bind(key.last_used_at.map(to_millis))
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn get(store: &SqlStore, id: &str) -> Result<Option<ApiKey>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await?;
    row.as_ref().map(read_key).transpose()
}

pub(super) async fn list(store: &SqlStore) -> Result<Vec<ApiKey>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
    )))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(read_key).collect()
}

pub(super) async fn delete(store: &SqlStore, id: &str) -> Result<bool, StoreError> {
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    let done = sqlx::query("DELETE FROM api_keys WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    // A revoked key's dashboard logins end with it.
    sqlx::query("DELETE FROM sessions WHERE key_id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    store.after_commit();
    Ok(done.rows_affected() > 0)
}

pub(super) async fn touch(store: &SqlStore, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
        .bind(to_millis(at))
        .bind(id.to_string())
        .execute(&store.pool)
        .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn insert_call(store: &SqlStore, call: &ApiCall) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO api_calls (id, at, actor, role, method, path, status, client_ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(call.id.clone())
    .bind(to_millis(call.at))
    .bind(call.actor.clone())
    .bind(call.role.clone())
    .bind(call.method.clone())
    .bind(call.path.clone())
    .bind(i32::from(call.status))
    .bind(call.client_ip.clone())
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn recent_calls(
    store: &SqlStore,
    limit: usize,
) -> Result<Vec<ApiCall>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM api_calls ORDER BY at DESC, id DESC LIMIT $1"
    )))
    .bind(limit.min(MAX_CALLS_READ) as i64)
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(read_call).collect()
}

fn read_key(row: &sqlx::any::AnyRow) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        secret_hmac: row.try_get("secret_hmac")?,
        created_at: from_millis(row.try_get("created_at")?),
        expires_at: row
            .try_get::<Option<i64>, _>("expires_at")?
            .map(from_millis),
        last_used_at: row
            .try_get::<Option<i64>, _>("last_used_at")?
            .map(from_millis),
    })
}

fn read_call(row: &sqlx::any::AnyRow) -> Result<ApiCall, StoreError> {
    Ok(ApiCall {
        id: row.try_get("id")?,
        at: from_millis(row.try_get("at")?),
        actor: row.try_get("actor")?,
        role: row.try_get("role")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        status: u16::try_from(row.try_get::<i32, _>("status")?).unwrap_or(0),
        client_ip: row.try_get("client_ip")?,
    })
}

pub(super) async fn disabled_rules(store: &SqlStore) -> Result<Vec<DisabledRule>, StoreError> {
    let rows = sqlx::query(
        "SELECT rule_id, disabled_at, disabled_by FROM disabled_rules ORDER BY rule_id",
    )
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DisabledRule {
                rule_id: row.try_get("rule_id")?,
                disabled_at: from_millis(row.try_get("disabled_at")?),
                disabled_by: row.try_get("disabled_by")?,
            })
        })
        .collect()
}

pub(super) async fn set_rule_enabled(
    store: &SqlStore,
    rule_id: &str,
    enabled: bool,
    by: &str,
) -> Result<bool, StoreError> {
    let _permit = store.write_permit().await;
    let done = if enabled {
        sqlx::query("DELETE FROM disabled_rules WHERE rule_id = $1")
            .bind(rule_id.to_string())
            .execute(&store.pool)
            .await?
    } else {
        sqlx::query(
            "INSERT INTO disabled_rules (rule_id, disabled_at, disabled_by) VALUES ($1, $2, $3) \
             ON CONFLICT (rule_id) DO NOTHING",
        )
        .bind(rule_id.to_string())
        .bind(to_millis(Utc::now()))
        .bind(by.to_string())
        .execute(&store.pool)
        .await?
    };
    store.after_commit();
    Ok(done.rows_affected() > 0)
}
