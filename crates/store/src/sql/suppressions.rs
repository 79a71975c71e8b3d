//! Suppression rows (false positives taught back to detection), and one detection by id
//! (what a false positive's suppression is scoped from).

use super::SqlStore;
use crate::StoreError;
use uuid::Uuid;
use watchpost_core::time::to_millis;
use watchpost_core::{Detection, Suppression, SuppressionState};

/// Most suppressions one read returns.
pub const MAX_SUPPRESSIONS: i64 = 10_000;

pub(super) async fn upsert(store: &SqlStore, s: &Suppression) -> Result<(), StoreError> {
    let doc = serde_json::to_string(s)?;
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO suppressions (id, rule_id, state, created_at, expires_at, doc) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at, \
         doc = excluded.doc",
    )
    .bind(s.id.to_string())
    .bind(s.rule_id.clone())
    .bind(s.state.as_str())
    .bind(to_millis(s.created_at))
    .bind(s.expires_at.map(to_millis))
    .bind(doc)
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn get(store: &SqlStore, id: Uuid) -> Result<Option<Suppression>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM suppressions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref()
        .map(|r| super::doc_of(r, "suppressions"))
        .transpose()
}

/// Suppressions in `state` (all when `None`), newest first.
pub(super) async fn list(
    store: &SqlStore,
    state: Option<SuppressionState>,
    limit: i64,
) -> Result<Vec<Suppression>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, doc FROM suppressions WHERE ($1 = '' OR state = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(state.map_or("", SuppressionState::as_str))
    .bind(limit.clamp(1, MAX_SUPPRESSIONS))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|r| super::doc_of(r, "suppressions"))
        .collect()
}

pub(super) async fn detection(store: &SqlStore, id: Uuid) -> Result<Option<Detection>, StoreError> {
    let row = sqlx::query("SELECT id, doc, crc FROM detections WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref()
        .map(|r| super::doc_of(r, "detections"))
        .transpose()
}
