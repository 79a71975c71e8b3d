//! Event rows: batched inserts and filtered, paged reads.

use super::filter::{Filter, Order};
use super::{SqlStore, insert_documents, read_page};
use crate::query::page_size;
use crate::{EventQuery, Page, StoreError};
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
    "crc",
];

pub(super) async fn insert(store: &SqlStore, events: &[Event]) -> Result<(), StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    insert_documents(store, "events", COLUMNS, events, |query, event, doc| {
        query
            .bind(event.id().to_string())
            .bind(to_millis(event.timestamp))
            .bind(event.event.ingested.map_or(now, to_millis))
            .bind(event.host.name.clone())
            .bind(event.source_name().to_string())
            .bind(event.primary_category().map(str::to_string))
            .bind(event.event.action.clone())
            .bind(event.source.as_ref().and_then(|s| s.ip.clone()))
            .bind(event.user.as_ref().and_then(|u| u.name.clone()))
            .bind(doc)
    })
    .await
}

pub(super) async fn query(store: &SqlStore, q: &EventQuery) -> Result<Page<Event>, StoreError> {
    let limit = page_size(q.limit);
    // Events keep one order: their time.
    let order = Order::by("ts", q.sort);
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
        .full_text(store.text_index(), q.text.as_deref())
        .after(order, q.cursor.as_ref());
    let sql = filter.select_page("id, doc, crc", "events", order, limit + 1);
    let mut conn = store.bounded_connection().await?;
    let outcome = filter.bind_to(sql).fetch_all(conn.as_mut()).await;
    let rows = conn.finish(store, outcome).await?;
    read_page(&rows, limit, "events")
}

/// Most events read by id at once.
const MAX_EVENTS_BY_ID: usize = 1000;

pub(super) async fn get_events(
    store: &SqlStore,
    ids: &[uuid::Uuid],
) -> Result<Vec<watchpost_core::Event>, StoreError> {
    if ids.len() > MAX_EVENTS_BY_ID {
        return Err(StoreError::TooLarge(format!(
            "{} events asked for by id; at most {MAX_EVENTS_BY_ID}",
            ids.len()
        )));
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        if chunk.is_empty() {
            continue;
        }
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, doc, crc FROM events WHERE id IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&store.pool).await? {
            out.push(super::doc_of(&row, "events")?);
        }
    }
    Ok(out)
}
