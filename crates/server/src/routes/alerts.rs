//! Alerts and why they did or did not page anyone:
//! `GET /api/v1/alerts`, `GET /api/v1/alerts/{id}` (with its trace and notifications),
//! `GET /api/v1/alerts/{id}/notifications`, `PUT /api/v1/alerts/{id}/status`,
//! `POST /api/v1/alerts/bulk`,
//! `GET /api/v1/notifications` (the dead letters, say) and
//! `POST /api/v1/notifications/{id}/resend`.

use super::{json_body, parse_id};
use crate::alerting::Triage;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use watchpost_store::{AlertQuery, DeliveryStatus, SortBy};

/// Longest reason or name accepted with a status change.
const MAX_TEXT: usize = 2_000;

/// Filters: `from`, `to` (last seen), `status`, `min_severity`, `rule_id`, `host`,
/// `source_ip`; `limit`, `cursor` to page. Most recently active first.
pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let status = p
        .text("status")
        .map(|s| {
            s.parse()
                .map_err(|e| ApiError::invalid_parameter("status", e))
        })
        .transpose()?;
    let query = AlertQuery {
        from: p.time("from")?,
        to: p.time("to")?,
        status,
        min_severity: p.severity("min_severity")?,
        rule_id: p.text("rule_id"),
        host: p.text("host"),
        source_ip: p.text("source_ip"),
        text: p.text("q"),
        cursor: p.cursor("cursor")?,
        limit: p.limit("limit")?,
        sort: p.sort(
            "sort",
            &[
                ("last_seen", SortBy::Time),
                ("first_seen", SortBy::FirstSeen),
                ("severity", SortBy::Severity),
            ],
        )?,
    };
    p.finish()?;
    let page = state
        .store
        .query_alerts(&query)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}

async fn found(state: &AppState, id: Uuid) -> Result<watchpost_core::Alert, ApiError> {
    state
        .store
        .get_alert(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no alert {id}")))
}

/// One alert with its pipeline trace and every notification that listed it.
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    let alert = found(&state, id).await?;
    let mut body = explanation(&state, id).await?;
    let (detections, events) = evidence(&state, &alert).await?;
    body["alert"] = json!(alert);
    body["detections"] = json!(detections);
    body["events"] = json!(events);
    Ok(Json(body))
}

/// Detections on an alert's page, newest first.
const ALERT_DETECTIONS: u32 = 20;
/// Events shown with them, at most.
const ALERT_EVENTS: usize = 100;

/// The alert's latest detections (same rule, host and address) and the events they
/// matched.
async fn evidence(
    state: &AppState,
    alert: &watchpost_core::Alert,
) -> Result<(Vec<watchpost_core::Detection>, Vec<watchpost_core::Event>), ApiError> {
    let page = state
        .store
        .query_detections(&watchpost_store::DetectionQuery {
            rule_id: Some(alert.rule_id.clone()),
            host: alert.host.clone(),
            source_ip: alert.source_ip.clone(),
            limit: Some(ALERT_DETECTIONS),
            ..Default::default()
        })
        .await
        .map_err(ApiError::store)?;
    let mut ids: Vec<Uuid> = page
        .items
        .iter()
        .flat_map(|d| d.event_ids.iter().copied())
        .collect();
    ids.sort();
    ids.dedup();
    ids.truncate(ALERT_EVENTS);
    let events = state
        .store
        .get_events(&ids)
        .await
        .map_err(ApiError::store)?;
    Ok((page.items, events))
}

/// An alert's trace and the notifications that listed it, with their attempts.
async fn explanation(state: &AppState, id: Uuid) -> Result<Value, ApiError> {
    let trace = state.store.alert_trace(id).await.map_err(ApiError::store)?;
    let notifications = state
        .store
        .alert_notifications(id)
        .await
        .map_err(ApiError::store)?;
    Ok(json!({ "trace": trace, "notifications": notifications }))
}

/// "Why did (or didn't) this alert page anyone": each stage's verdict in order, and every
/// notice with its delivery attempts.
pub async fn notifications(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    found(&state, id).await?;
    Ok(Json(explanation(&state, id).await?))
}

/// The body of a status change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChangeRequest {
    /// `acknowledged`, `resolved`, `firing` (reopen) or `false_positive`.
    status: String,
    /// A name the caller gives, kept as a note beside the reason; the actor recorded is
    /// the key that made the call.
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn bounded(field: &str, text: Option<String>) -> Result<Option<String>, ApiError> {
    match text {
        Some(t) if t.len() > MAX_TEXT => Err(ApiError::invalid_parameter(
            field,
            format!("{} bytes long; at most {MAX_TEXT}", t.len()),
        )),
        other => Ok(other.filter(|t| !t.trim().is_empty())),
    }
}

/// The actor recorded for a triage (the calling key, never a name from the body) and
/// the reason, with the body's `by` kept as a note when it names someone else.
fn actor_and_reason(
    principal: &Principal,
    by: Option<String>,
    reason: Option<String>,
) -> Result<(String, Option<String>), ApiError> {
    let by = bounded("by", by)?.filter(|n| *n != principal.name);
    let reason = bounded("reason", reason)?;
    let reason = match (by, reason) {
        (Some(by), Some(reason)) => Some(format!("{reason} (noted as done for {by})")),
        (Some(by), None) => Some(format!("noted as done for {by}")),
        (None, reason) => reason,
    };
    Ok((principal.actor(), reason))
}

/// An alert marked a false positive proposes a suppression (or adds its mark to the one
/// with the same scope); nothing is suppressed until someone accepts it.
async fn propose_if_false_positive(
    state: &AppState,
    action: Triage,
    alert: &watchpost_core::Alert,
    by: &str,
) -> Result<Option<watchpost_core::Suppression>, ApiError> {
    if !matches!(action, Triage::FalsePositive) {
        return Ok(None);
    }
    let reason = alert.history.last().and_then(|h| h.reason.as_deref());
    state
        .suppressions
        .propose(alert, by, reason)
        .await
        .map_err(ApiError::store)
}

fn triage_action(status: &str) -> Result<Triage, ApiError> {
    Ok(match status {
        "acknowledged" | "acknowledge" => Triage::Acknowledge,
        "resolved" | "resolve" => Triage::Resolve,
        "firing" | "reopen" => Triage::Reopen,
        "false_positive" => Triage::FalsePositive,
        other => {
            return Err(ApiError::invalid_parameter(
                "status",
                format!("`{other}` is not one of acknowledged, resolved, firing, false_positive"),
            ));
        }
    })
}

pub async fn set_status(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    let request: StatusChangeRequest =
        json_body(&body, "{\"status\": …, \"by\": …, \"reason\": …}")?;
    let action = triage_action(&request.status)?;
    let (by, reason) = actor_and_reason(&principal, request.by, request.reason)?;
    let alert = state
        .alerts
        .triage(id, action, &by, reason)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no alert {id}"))
        })?;
    let suppression = propose_if_false_positive(&state, action, &alert, &by).await?;
    Ok(Json(json!({ "alert": alert, "suppression": suppression })))
}

/// Most alerts one bulk change may name.
const MAX_BULK: usize = 1_000;

/// The body of a bulk status change: a status change for many alerts at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkStatusRequest {
    ids: Vec<String>,
    status: String,
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/alerts/bulk`: applies one status change to each listed alert and reports,
/// per id, the alert's new status or why it was not changed. Every id is checked before
/// anything changes, so a malformed list changes nothing.
pub async fn bulk(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: BulkStatusRequest = json_body(
        &body,
        "{\"ids\": [...], \"status\": …, \"by\": …, \"reason\": …}",
    )?;
    if request.ids.is_empty() || request.ids.len() > MAX_BULK {
        return Err(ApiError::invalid_parameter(
            "ids",
            format!("{} ids given: allowed 1 to {MAX_BULK}", request.ids.len()),
        ));
    }
    let ids = request
        .ids
        .iter()
        .enumerate()
        .map(|(i, text)| parse_id(text, &format!("ids[{i}]")))
        .collect::<Result<Vec<Uuid>, ApiError>>()?;
    let action = triage_action(&request.status)?;
    let (by, reason) = actor_and_reason(&principal, request.by, request.reason)?;
    let mut results = Vec::with_capacity(ids.len());
    let mut changed = 0;
    for id in ids {
        match state
            .alerts
            .triage(id, action, &by, reason.clone())
            .await
            .map_err(ApiError::store)?
        {
            Some(alert) => {
                changed += 1;
                let suppression = propose_if_false_positive(&state, action, &alert, &by).await?;
                results.push(json!({"id": id, "status": alert.status,
                                    "suppression": suppression.map(|s| s.id)}));
            }
            None => results.push(json!({"id": id, "error": "not_found"})),
        }
    }
    Ok(Json(json!({ "updated": changed, "results": results })))
}

/// `status` (pending, sent, dead, skipped) and `limit`; newest first.
pub async fn list_notifications(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let status: Option<DeliveryStatus> = p
        .text("status")
        .map(|s| {
            s.parse()
                .map_err(|e| ApiError::invalid_parameter("status", e))
        })
        .transpose()?;
    let limit = p.limit("limit")?.unwrap_or(100);
    p.finish()?;
    let items = state
        .store
        .query_notifications(status, limit)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(json!({ "items": items })))
}

/// Puts a dead (or skipped) notification back in the queue.
pub async fn resend(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    let requeued = state
        .store
        .requeue_notification(id, "api", chrono::Utc::now())
        .await
        .map_err(ApiError::store)?;
    if !requeued {
        let exists = state
            .store
            .get_notification(id)
            .await
            .map_err(ApiError::store)?;
        return Err(match exists {
            None => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no notification {id}"),
            ),
            Some(h) => ApiError::new(
                StatusCode::CONFLICT,
                "not_dead",
                format!(
                    "notification {id} is {}; only dead or skipped ones are re-sent",
                    h.entry.status
                ),
            ),
        });
    }
    Ok(Json(json!({ "id": id, "status": "pending" })))
}
