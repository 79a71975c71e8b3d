//! Detections, alerts and incidents: what detectors found and what people act on.

use super::filter::{Filter, Order, multi_row_insert};
use super::{SqlStore, insert_documents, read_page};
use crate::query::page_size;
use crate::{AlertQuery, DetectionQuery, Page, SortBy, StoreError};
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;
use watchpost_core::time::to_millis;
use watchpost_core::{Alert, Detection, Incident};

const DETECTION_COLUMNS: &[&str] = &[
    "id",
    "ts",
    "rule_id",
    "severity",
    "detector",
    "host",
    "source_ip",
    "folded",
    "doc",
    "crc",
];

pub(super) async fn insert_detections(
    store: &SqlStore,
    detections: &[Detection],
) -> Result<(), StoreError> {
    insert_documents(
        store,
        "detections",
        DETECTION_COLUMNS,
        detections,
        |query, d, doc| {
            query
                .bind(d.id.to_string())
                .bind(to_millis(d.timestamp))
                .bind(d.rule_id.clone())
                .bind(d.severity.rank())
                .bind(d.detector.clone())
                .bind(d.host.clone())
                .bind(d.source_ip().map(str::to_string))
                .bind(0_i64)
                .bind(doc)
        },
    )
    .await
}

pub(super) async fn query_detections(
    store: &SqlStore,
    q: &DetectionQuery,
) -> Result<Page<Detection>, StoreError> {
    let limit = page_size(q.limit);
    let order = Order::by(
        match q.sort.by {
            SortBy::Severity => "severity",
            SortBy::Time | SortBy::FirstSeen => "ts",
        },
        q.sort,
    );
    let mut filter = Filter::default();
    filter
        .at_least("ts", q.from.map(to_millis))
        .below("ts", q.to.map(to_millis))
        .eq("rule_id", q.rule_id.as_deref())
        .eq("host", q.host.as_deref())
        .eq("source_ip", q.source_ip.as_deref())
        .eq("detector", q.detector.as_deref())
        .at_least("severity", q.min_severity.map(|s| i64::from(s.rank())))
        .contains_ci("doc", q.text.as_deref())
        .after(order, q.cursor.as_ref());
    let sql = filter.select_page("id, doc, crc", "detections", order, limit + 1);
    let mut conn = store.bounded_connection().await?;
    let outcome = filter.bind_to(sql).fetch_all(conn.as_mut()).await;
    let rows = conn.finish(store, outcome).await?;
    read_page(&rows, limit, "detections")
}

/// Ids per `UPDATE … WHERE id IN (…)` that marks detections folded.
const FOLDED_CHUNK: usize = 500;

pub(super) async fn upsert_alerts(store: &SqlStore, alerts: &[Alert]) -> Result<(), StoreError> {
    fold_into_alerts(store, alerts, &[]).await
}

/// Upserts `alerts` and marks the detections `folded` into them, in one transaction, so a
/// crash leaves either both or neither.
pub(super) async fn fold_into_alerts(
    store: &SqlStore,
    alerts: &[Alert],
    folded: &[Uuid],
) -> Result<(), StoreError> {
    if alerts.is_empty() && folded.is_empty() {
        return Ok(());
    }
    let docs = alerts
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let sql = multi_row_insert(
        store.backend,
        "alerts",
        &[
            "id",
            "fingerprint",
            "rule_id",
            "severity",
            "status",
            "host",
            "source_ip",
            "first_seen",
            "last_seen",
            "doc",
        ],
        1,
        " ON CONFLICT (fingerprint) DO UPDATE SET rule_id = excluded.rule_id, \
         severity = excluded.severity, status = excluded.status, host = excluded.host, \
         source_ip = excluded.source_ip, first_seen = excluded.first_seen, \
         last_seen = excluded.last_seen, doc = excluded.doc",
    );
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for (alert, doc) in alerts.iter().zip(docs) {
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(alert.id.to_string())
            .bind(alert.fingerprint.0.clone())
            .bind(alert.rule_id.clone())
            .bind(alert.severity.rank())
            .bind(alert.status.as_str())
            .bind(alert.host.clone())
            .bind(alert.source_ip.clone())
            .bind(to_millis(alert.first_seen))
            .bind(to_millis(alert.last_seen))
            .bind(doc)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in folded.chunks(FOLDED_CHUNK) {
        let marks = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut query = sqlx::query(AssertSqlSafe(format!(
            "UPDATE detections SET folded = 1 WHERE id IN ({marks})"
        )));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

/// Detections stored but not yet folded into their alerts, oldest first.
pub(super) async fn unfolded_detections(
    store: &SqlStore,
    limit: u32,
) -> Result<Vec<Detection>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, doc, crc FROM detections WHERE folded = 0 ORDER BY ts, id LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| super::doc_of(row, "detections"))
        .collect()
}

/// Reads an alert row. The id column wins over the document's: an alert keeps the id it
/// was first stored with when later upserts for its fingerprint carry another.
pub(super) fn alert_from_row(row: &sqlx::any::AnyRow) -> Result<Alert, StoreError> {
    let mut alert: Alert = super::doc_of(row, "alerts")?;
    let id: String = row.try_get("id")?;
    if let Ok(id) = Uuid::parse_str(&id) {
        alert.id = id;
    }
    Ok(alert)
}

pub(super) async fn get_alert(store: &SqlStore, id: Uuid) -> Result<Option<Alert>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM alerts WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref().map(alert_from_row).transpose()
}

pub(super) async fn query_alerts(
    store: &SqlStore,
    q: &AlertQuery,
) -> Result<Page<Alert>, StoreError> {
    let limit = page_size(q.limit);
    let order = Order::by(
        match q.sort.by {
            SortBy::Severity => "severity",
            SortBy::FirstSeen => "first_seen",
            SortBy::Time => "last_seen",
        },
        q.sort,
    );
    let mut filter = Filter::default();
    filter
        .at_least("last_seen", q.from.map(to_millis))
        .below("last_seen", q.to.map(to_millis))
        .eq("status", q.status.map(|s| s.as_str()))
        .at_least("severity", q.min_severity.map(|s| i64::from(s.rank())))
        .eq("rule_id", q.rule_id.as_deref())
        .eq("host", q.host.as_deref())
        .eq("source_ip", q.source_ip.as_deref())
        .contains_ci("doc", q.text.as_deref())
        .after(order, q.cursor.as_ref());
    let sql = filter.select_page("id, doc", "alerts", order, limit + 1);
    let mut conn = store.bounded_connection().await?;
    let outcome = filter.bind_to(sql).fetch_all(conn.as_mut()).await;
    let rows = conn.finish(store, outcome).await?;
    let mut page: Page<Alert> = read_page(&rows, limit, "alerts")?;
    for (alert, row) in page.items.iter_mut().zip(&rows) {
        *alert = alert_from_row(row)?;
    }
    Ok(page)
}

pub(super) async fn upsert_incident(
    store: &SqlStore,
    incident: &Incident,
) -> Result<(), StoreError> {
    let doc = serde_json::to_string(incident)?;
    let sql = multi_row_insert(
        store.backend,
        "incidents",
        &[
            "id",
            "severity",
            "status",
            "created_at",
            "updated_at",
            "doc",
        ],
        1,
        " ON CONFLICT (id) DO UPDATE SET severity = excluded.severity, status = excluded.status, \
         updated_at = excluded.updated_at, doc = excluded.doc",
    );
    let _permit = store.write_permit().await;
    sqlx::query(AssertSqlSafe(sql))
        .bind(incident.id.to_string())
        .bind(incident.severity.rank())
        .bind(incident.status.as_str())
        .bind(to_millis(incident.created_at))
        .bind(to_millis(incident.updated_at))
        .bind(doc)
        .execute(&store.pool)
        .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn get_incident(
    store: &SqlStore,
    id: Uuid,
) -> Result<Option<Incident>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM incidents WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let doc: String = row.try_get("doc")?;
    serde_json::from_str(&doc)
        .map(Some)
        .map_err(|source| StoreError::CorruptRow {
            table: "incidents",
            id: id.to_string(),
            source,
        })
}

/// Incidents, most recently updated first: of one status when given, updated at or after
/// `since` when given, at most `limit`.
pub(super) async fn query_incidents(
    store: &SqlStore,
    status: Option<&str>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    limit: i64,
) -> Result<Vec<Incident>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT id, doc FROM incidents WHERE ($1 = '' OR status = $1) AND updated_at >= $2 \
         ORDER BY updated_at DESC LIMIT {}",
        limit.clamp(1, 100_000)
    )))
    .bind(status.unwrap_or("").to_string())
    .bind(since.map_or(i64::MIN, to_millis))
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let doc: String = row.try_get("doc")?;
            serde_json::from_str(&doc).map_err(|source| StoreError::CorruptRow {
                table: "incidents",
                id,
                source,
            })
        })
        .collect()
}
