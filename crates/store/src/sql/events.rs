//! Event rows: batched inserts and filtered, paged reads.

use super::filter::{Filter, multi_row_insert};
use super::{INSERT_CHUNK_ROWS, SqlStore, read_page};
use crate::query::page_size;
use crate::{EventQuery, Page, StoreError};
use sqlx::AssertSqlSafe;
use watchpost_core::Event;
use watchpost_core::time::to_millis;

const COLUMNS: &[&str] = &[
    "id",
    "ts",
    "ingested",
    "host",
    "source",
    "category",
    "action",
    "source_ip",
    "user_name",
    "doc",
];

pub(super) async fn insert(store: &SqlStore, events: &[Event]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    // Serialise outside the transaction so the write lock is held only for the inserts.
    let docs = events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let now = chrono::Utc::now().timestamp_millis();
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for (chunk, docs) in events
        .chunks(INSERT_CHUNK_ROWS)
        .zip(docs.chunks(INSERT_CHUNK_ROWS))
    {
        let sql = multi_row_insert(store.backend, "events", COLUMNS, chunk.len(), "");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (event, doc) in chunk.iter().zip(docs) {
            query = query
                .bind(event.id().to_string())
                .bind(to_millis(event.timestamp))
                .bind(event.event.ingested.map_or(now, to_millis))
                .bind(event.host.name.clone())
                .bind(event.source_name().to_string())
                .bind(event.primary_category().map(str::to_string))
                .bind(event.event.action.clone())
                .bind(event.source.as_ref().and_then(|s| s.ip.clone()))
                .bind(event.user.as_ref().and_then(|u| u.name.clone()))
                .bind(doc.as_str());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn query(store: &SqlStore, q: &EventQuery) -> Result<Page<Event>, StoreError> {
    let limit = page_size(q.limit);
    let mut filter = Filter::default();
    filter
        .at_least("ts", q.from.map(to_millis))
        .below("ts", q.to.map(to_millis))
        .eq("host", q.host.as_deref())
        .eq("source", q.source.as_deref())
        .eq("category", q.category.as_deref())
        .eq("action", q.action.as_deref())
        .eq("source_ip", q.source_ip.as_deref())
        .eq("user_name", q.user.as_deref())
        .contains_ci("doc", q.text.as_deref())
        .after("ts", q.cursor.as_ref());
    let sql = filter.select_page("id, ts AS t, doc", "events", "ts", limit + 1);
    let rows = filter.bind_to(sql).fetch_all(&store.pool).await?;
    read_page(&rows, limit, "events")
}
