//! Sender rows: the agents and proxies allowed to ship to this server.

use super::SqlStore;
use crate::{Sender, StoreError};
use chrono::{DateTime, Utc};
use sqlx::Row;
use watchpost_core::time::{from_millis, to_millis};

const COLUMNS: &str = "id, name, kind, secret_hash, created_at, last_seen, version, address, \
                       revoked_at, previous_secret_hash, previous_valid_until";

pub(super) async fn insert(store: &SqlStore, sender: &Sender) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO senders (id, name, kind, secret_hash, created_at, last_seen, version, address, \
         revoked_at, previous_secret_hash, previous_valid_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(sender.id.clone())
    .bind(sender.name.clone())
    .bind(sender.kind.clone())
    .bind(sender.secret_hash.clone())
    .bind(to_millis(sender.created_at))
    .bind(sender.last_seen.map(to_millis))
    .bind(sender.version.clone())
    .bind(sender.address.clone())
    .bind(sender.revoked_at.map(to_millis))
    .bind(sender.previous_secret_hash.clone())
    .bind(sender.previous_valid_until.map(to_millis))
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn update_credentials(
    store: &SqlStore,
    sender: &Sender,
) -> Result<bool, StoreError> {
    let _permit = store.write_permit().await;
    let done = sqlx::query(
        "UPDATE senders SET secret_hash = $1, previous_secret_hash = $2, \
         previous_valid_until = $3, revoked_at = $4 WHERE id = $5",
    )
    .bind(sender.secret_hash.clone())
    .bind(sender.previous_secret_hash.clone())
    .bind(sender.previous_valid_until.map(to_millis))
    .bind(sender.revoked_at.map(to_millis))
    .bind(sender.id.clone())
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(done.rows_affected() > 0)
}

pub(super) async fn get(store: &SqlStore, id: &str) -> Result<Option<Sender>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM senders WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await?;
    row.as_ref().map(read).transpose()
}

pub(super) async fn list(store: &SqlStore) -> Result<Vec<Sender>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM senders ORDER BY name"
    )))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(read).collect()
}

pub(super) async fn touch(
    store: &SqlStore,
    id: &str,
    seen: DateTime<Utc>,
    version: Option<&str>,
    address: Option<&str>,
) -> Result<(), StoreError> {
    let _permit = store.write_permit().await;
    sqlx::query(
        "UPDATE senders SET last_seen = $1, version = COALESCE($2, version), \
         address = COALESCE($3, address) WHERE id = $4",
    )
    .bind(to_millis(seen))
    .bind(version.map(str::to_string))
    .bind(address.map(str::to_string))
    .bind(id.to_string())
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

fn read(row: &sqlx::any::AnyRow) -> Result<Sender, StoreError> {
    Ok(Sender {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        secret_hash: row.try_get("secret_hash")?,
        created_at: from_millis(row.try_get("created_at")?),
        last_seen: row.try_get::<Option<i64>, _>("last_seen")?.map(from_millis),
        version: row.try_get("version")?,
        address: row.try_get("address")?,
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_at")?
            .map(from_millis),
        previous_secret_hash: row.try_get("previous_secret_hash")?,
        previous_valid_until: row
            .try_get::<Option<i64>, _>("previous_valid_until")?
            .map(from_millis),
    })
}
