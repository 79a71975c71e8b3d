//! Dashboard sessions: the browser's cookie names a row here by its hash.

use super::SqlStore;
use crate::{Session, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use watchpost_core::time::{from_millis, to_millis};

pub(super) async fn insert(store: &SqlStore, session: &Session) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO sessions (id_hash, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(session.id_hash.clone())
    .bind(session.key_id.clone())
    .bind(to_millis(session.created_at))
    .bind(to_millis(session.expires_at))
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn get(
    store: &SqlStore,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query(
        "SELECT id_hash, key_id, created_at, expires_at FROM sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(id_hash.to_string())
    .bind(to_millis(now))
    .fetch_optional(&store.pool)
    .await?;
    row.map(|row| {
        Ok(Session {
            id_hash: row.try_get("id_hash")?,
            key_id: row.try_get("key_id")?,
            created_at: from_millis(row.try_get("created_at")?),
            expires_at: from_millis(row.try_get("expires_at")?),
        })
    })
    .transpose()
}

pub(super) async fn delete(store: &SqlStore, id_hash: &str) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash.to_string())
        .execute(&store.pool)
        .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn delete_many(
    store: &SqlStore,
    key_id: Option<&str>,
    expired_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let _permit = store.write_permit().await;
    let done = sqlx::query("DELETE FROM sessions WHERE key_id = $1 OR expires_at <= $2")
        .bind(key_id.unwrap_or("").to_string())
        .bind(to_millis(expired_before))
        .execute(&store.pool)
        .await?;
    store.after_commit();
    Ok(done.rows_affected())
}
