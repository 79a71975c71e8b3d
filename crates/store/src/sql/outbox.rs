//! The notification outbox, delivery attempts, alert traces and silences.

use super::{SqlStore, doc_of};
use crate::StoreError;
use crate::outbox::{
    AttemptOutcome, AttemptRecord, DeliveryAttempt, DeliveryStatus, NotificationHistory,
    OutboxEntry,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;
use watchpost_alert::{Notification, Silence, TraceEntry};
use watchpost_core::time::{from_millis, to_millis};
use watchpost_core::{Alert, Fingerprint};

/// Most trace entries and notifications read back for one alert.
const MAX_PER_ALERT: i64 = 2_000;

pub(super) async fn record_pipeline(
    store: &SqlStore,
    notifications: &[Notification],
    trace: &[TraceEntry],
    changed_alerts: &[Alert],
) -> Result<(), StoreError> {
    if notifications.is_empty() && trace.is_empty() && changed_alerts.is_empty() {
        return Ok(());
    }
    let notification_docs = notifications
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let trace_docs = trace
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let alert_docs = changed_alerts
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for (n, doc) in notifications.iter().zip(notification_docs) {
        let created = to_millis(n.created_at);
        sqlx::query(
            "INSERT INTO notifications (id, receiver, kind, status, attempts, next_attempt, \
             created_at, updated_at, last_error, doc) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, NULL, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(n.id.to_string())
        .bind(n.receiver.clone())
        .bind(n.kind.name())
        .bind(DeliveryStatus::Pending.as_str())
        .bind(created)
        .bind(created)
        .bind(created)
        .bind(doc)
        .execute(&mut *tx)
        .await?;
        for alert in &n.alerts {
            sqlx::query(
                "INSERT INTO notification_alerts (notification_id, alert_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(n.id.to_string())
            .bind(alert.id.to_string())
            .execute(&mut *tx)
            .await?;
        }
    }
    for (e, doc) in trace.iter().zip(trace_docs) {
        sqlx::query("INSERT INTO alert_trace (id, alert_id, ts, doc) VALUES ($1, $2, $3, $4)")
            .bind(Uuid::now_v7().to_string())
            .bind(e.alert_id.to_string())
            .bind(to_millis(e.at))
            .bind(doc)
            .execute(&mut *tx)
            .await?;
    }
    for (a, doc) in changed_alerts.iter().zip(alert_docs) {
        sqlx::query(
            "UPDATE alerts SET status = $1, severity = $2, last_seen = $3, doc = $4 WHERE fingerprint = $5",
        )
        .bind(a.status.as_str())
        .bind(a.severity.rank())
        .bind(to_millis(a.last_seen))
        .bind(doc)
        .bind(a.fingerprint.0.clone())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<OutboxEntry, StoreError> {
    let notification: Notification = doc_of(row, "notifications")?;
    let status: String = row.try_get("status")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(OutboxEntry {
        notification,
        status: status.parse().unwrap_or(DeliveryStatus::Pending),
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt: from_millis(row.try_get("next_attempt")?),
        last_error: row.try_get("last_error")?,
    })
}

const ENTRY_COLUMNS: &str = "id, status, attempts, next_attempt, last_error, doc";

pub(super) async fn due_notifications(
    store: &SqlStore,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM notifications WHERE status = 'pending' AND next_attempt <= $1 \
         ORDER BY next_attempt, id LIMIT $2"
    )))
    .bind(to_millis(now))
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

pub(super) async fn next_due(store: &SqlStore) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row =
        sqlx::query("SELECT MIN(next_attempt) AS t FROM notifications WHERE status = 'pending'")
            .fetch_one(&store.pool)
            .await?;
    let t: Option<i64> = row.try_get("t")?;
    Ok(t.map(from_millis))
}

/// Notices waiting, per receiver (from the `(status, next_attempt)` index's pending part).
pub(super) async fn backlog(store: &SqlStore) -> Result<Vec<crate::Backlog>, StoreError> {
    let rows = sqlx::query(
        "SELECT receiver, COUNT(*) AS n, MIN(created_at) AS oldest, MAX(last_error) AS error          FROM notifications WHERE status = 'pending' GROUP BY receiver ORDER BY receiver",
    )
    .fetch_all(&store.pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(crate::Backlog {
                receiver: row.try_get("receiver")?,
                pending: row.try_get("n")?,
                oldest: from_millis(row.try_get("oldest")?),
                last_error: row.try_get("error")?,
            })
        })
        .collect()
}

pub(super) async fn record_attempts(
    store: &SqlStore,
    attempts: &[AttemptRecord],
) -> Result<(), StoreError> {
    if attempts.is_empty() {
        return Ok(());
    }
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for a in attempts {
        let now = a.at;
        let (status, next, error, label, detail) = match &a.outcome {
            AttemptOutcome::Sent { detail } => {
                (DeliveryStatus::Sent, now, None, "sent", detail.clone())
            }
            AttemptOutcome::Retry { error, retry_at } => (
                DeliveryStatus::Pending,
                *retry_at,
                Some(error.clone()),
                "failed",
                format!("{error}; retry at {}", retry_at.to_rfc3339()),
            ),
            AttemptOutcome::Dead { error } => (
                DeliveryStatus::Dead,
                now,
                Some(error.clone()),
                "dead",
                error.clone(),
            ),
            AttemptOutcome::Skipped { reason } => (
                DeliveryStatus::Skipped,
                now,
                Some(reason.clone()),
                "skipped",
                reason.clone(),
            ),
        };
        let counts = !matches!(a.outcome, AttemptOutcome::Skipped { .. });
        sqlx::query(
            "UPDATE notifications SET status = $1, attempts = attempts + $2, next_attempt = $3, \
             updated_at = $4, last_error = $5 WHERE id = $6",
        )
        .bind(status.as_str())
        .bind(i64::from(counts))
        .bind(to_millis(next))
        .bind(to_millis(now))
        .bind(error)
        .bind(a.notification_id.to_string())
        .execute(&mut *tx)
        .await?;
        insert_attempt(&mut tx, a.notification_id, now, label, &a.channel, &detail).await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

async fn insert_attempt(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: Uuid,
    at: DateTime<Utc>,
    outcome: &str,
    channel: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delivery_attempts (id, notification_id, ts, outcome, channel, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(id.to_string())
    .bind(to_millis(at))
    .bind(outcome)
    .bind(channel)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn requeue_notification(
    store: &SqlStore,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE notifications SET status = 'pending', next_attempt = $1, updated_at = $1 \
         WHERE id = $2 AND status IN ('dead', 'skipped')",
    )
    .bind(to_millis(now))
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if done {
        insert_attempt(
            &mut tx,
            id,
            now,
            "requeued",
            "-",
            &format!("re-sent by {by}"),
        )
        .await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(done)
}

async fn attempts_of(store: &SqlStore, id: &str) -> Result<Vec<DeliveryAttempt>, StoreError> {
    let rows = sqlx::query(
        "SELECT ts, outcome, channel, detail FROM delivery_attempts WHERE notification_id = $1 \
         ORDER BY ts, id LIMIT $2",
    )
    .bind(id.to_string())
    .bind(MAX_PER_ALERT)
    .fetch_all(&store.pool)
    .await?;
    let notification_id = Uuid::parse_str(id).unwrap_or_default();
    rows.iter()
        .map(|r| {
            Ok(DeliveryAttempt {
                notification_id,
                at: from_millis(r.try_get("ts")?),
                outcome: r.try_get("outcome")?,
                channel: r.try_get("channel")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

pub(super) async fn alert_notifications(
    store: &SqlStore,
    alert_id: Uuid,
) -> Result<Vec<NotificationHistory>, StoreError> {
    let rows = sqlx::query(
        "SELECT n.id, n.status, n.attempts, n.next_attempt, n.last_error, n.doc \
         FROM notifications n JOIN notification_alerts a ON a.notification_id = n.id \
         WHERE a.alert_id = $1 ORDER BY n.created_at, n.id LIMIT $2",
    )
    .bind(alert_id.to_string())
    .bind(MAX_PER_ALERT)
    .fetch_all(&store.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let entry = entry_from_row(row)?;
        let id: String = row.try_get("id")?;
        out.push(NotificationHistory {
            entry,
            attempts_made: attempts_of(store, &id).await?,
        });
    }
    Ok(out)
}

pub(super) async fn get_notification(
    store: &SqlStore,
    id: Uuid,
) -> Result<Option<NotificationHistory>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM notifications WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(&store.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(NotificationHistory {
        entry: entry_from_row(&row)?,
        attempts_made: attempts_of(store, &id.to_string()).await?,
    }))
}

pub(super) async fn query_notifications(
    store: &SqlStore,
    status: Option<DeliveryStatus>,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let limit = i64::from(limit.clamp(1, crate::MAX_PAGE_SIZE));
    let rows = match status {
        Some(s) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ENTRY_COLUMNS} FROM notifications WHERE status = $1 \
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            )))
            .bind(s.as_str())
            .bind(limit)
            .fetch_all(&store.pool)
            .await?
        }
        None => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM notifications ORDER BY created_at DESC, id DESC LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&store.pool)
        .await?,
    };
    rows.iter().map(entry_from_row).collect()
}

pub(super) async fn notifications_since(
    store: &SqlStore,
    since: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM notifications WHERE created_at >= $1 \
         ORDER BY created_at, id LIMIT $2"
    )))
    .bind(to_millis(since))
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(entry_from_row).collect()
}

pub(super) async fn alert_trace(
    store: &SqlStore,
    alert_id: Uuid,
) -> Result<Vec<TraceEntry>, StoreError> {
    let rows =
        sqlx::query("SELECT id, doc FROM alert_trace WHERE alert_id = $1 ORDER BY ts, id LIMIT $2")
            .bind(alert_id.to_string())
            .bind(MAX_PER_ALERT)
            .fetch_all(&store.pool)
            .await?;
    rows.iter().map(|r| doc_of(r, "alert_trace")).collect()
}

pub(super) async fn get_alert_by_fingerprint(
    store: &SqlStore,
    fingerprint: &Fingerprint,
) -> Result<Option<Alert>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM alerts WHERE fingerprint = $1")
        .bind(fingerprint.0.clone())
        .fetch_optional(&store.pool)
        .await?;
    row.as_ref()
        .map(super::findings::alert_from_row)
        .transpose()
}

/// Keys looked up per `IN (…)` query.
const LOOKUP_CHUNK: usize = 500;

/// `$1, $2, … $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn notified_alerts(
    store: &SqlStore,
    alert_ids: &[Uuid],
) -> Result<std::collections::HashSet<Uuid>, StoreError> {
    let mut out = std::collections::HashSet::new();
    for chunk in alert_ids.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT DISTINCT alert_id FROM notification_alerts WHERE alert_id IN ({})",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&store.pool).await? {
            let id: String = row.try_get("alert_id")?;
            out.extend(Uuid::parse_str(&id).ok());
        }
    }
    Ok(out)
}

pub(super) async fn get_alerts_by_fingerprints(
    store: &SqlStore,
    fingerprints: &[Fingerprint],
) -> Result<Vec<Alert>, StoreError> {
    let mut out = Vec::new();
    for chunk in fingerprints.chunks(LOOKUP_CHUNK) {
        let sql = format!(
            "SELECT id, doc FROM alerts WHERE fingerprint IN ({})",
            placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for fp in chunk {
            query = query.bind(fp.0.clone());
        }
        for row in query.fetch_all(&store.pool).await? {
            out.push(super::findings::alert_from_row(&row)?);
        }
    }
    Ok(out)
}

pub(super) async fn upsert_silence(store: &SqlStore, silence: &Silence) -> Result<(), StoreError> {
    let doc = serde_json::to_string(silence)?;
    let _permit = store.write_permit().await;
    sqlx::query(
        "INSERT INTO silences (id, starts_at, ends_at, doc) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at, \
         ends_at = excluded.ends_at, doc = excluded.doc",
    )
    .bind(silence.id.to_string())
    .bind(to_millis(silence.starts_at))
    .bind(to_millis(silence.ends_at))
    .bind(doc)
    .execute(&store.pool)
    .await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn list_silences(
    store: &SqlStore,
    ended_after: DateTime<Utc>,
) -> Result<Vec<Silence>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, doc FROM silences WHERE ends_at > $1 ORDER BY starts_at, id LIMIT 10000",
    )
    .bind(to_millis(ended_after))
    .fetch_all(&store.pool)
    .await?;
    rows.iter().map(|r| doc_of(r, "silences")).collect()
}

pub(super) async fn get_silence(store: &SqlStore, id: Uuid) -> Result<Option<Silence>, StoreError> {
    let row = sqlx::query("SELECT id, doc FROM silences WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&store.pool)
        .await?;
    row.map(|r| doc_of(&r, "silences")).transpose()
}
