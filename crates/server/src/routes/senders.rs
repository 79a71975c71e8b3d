//! Agents and proxies shipping to this server: `POST /api/v1/ingest` takes their batches,
//! `GET /api/v1/agents` lists them with when they were last heard from, and admins enroll,
//! rotate and revoke them (`/api/v1/senders`).

use super::json_body;
use crate::error::ApiError;
use crate::sender_registry::{self, RegistryError};
use crate::sender_scope::{self, RefusedRecord};
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use watchpost_core::{Detection, Fingerprint};
use watchpost_ship::{Batch, BatchError, BatchLimits};

/// Stores one batch from a registered sender. The sender's token comes as
/// `Authorization: Bearer wps_…` and is checked before the body is read; the sender's
/// rate (`api.rate_limit_per_sender_per_minute`) is checked next; the body is bounded
/// like the events API's (`api.max_body_bytes` before and after decompression,
/// `api.max_batch_events` records). What the sender may not speak for is refused by
/// record ([`sender_scope`]) and the rest stored; the answer comes once it is committed,
/// so an acknowledged batch is durable and the sender may delete it. A batch sent twice
/// is stored once.
pub async fn ingest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (parts, body) = request.into_parts();
    let sender = authenticate(&state, &parts.headers).await?;
    if sender.kind == "bouncer" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_sender_kind",
            format!(
                "`{}` is a bouncer: its key reads decisions (/v1/decisions/stream) and ships nothing",
                sender.name
            ),
        ));
    }
    let api = state.config.get().api.clone();
    if api.enable_rate_limiting
        && let Some(refused) = state.gate.over_rate_error(
            &format!("sender:{}", sender.id),
            api.rate_limit_per_sender_per_minute,
            "api.rate_limit_per_sender_per_minute",
        )
    {
        state.metrics.refusal("sender_rate", 1);
        return Err(refused);
    }
    crate::storage_watch::refuse_ingest(&state)?;
    let body = super::bounded_body(&parts.headers, body, api.max_body_bytes).await?;
    let gzip = parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let limits = BatchLimits {
        max_bytes: api.max_body_bytes,
        max_records: api.max_batch_events,
    };
    let batch = Batch::decode(&body, gzip, limits).map_err(|e| {
        let status = match e {
            BatchError::TooLarge(_) | BatchError::TooManyRecords(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid_batch", e.to_string())
    })?;
    drop(body);
    let mut scoped = sender_scope::scope(&sender, batch.records);
    let detections = refuse_foreign_resolves(&state, &mut scoped).await?;
    if !scoped.refused.is_empty() {
        for refused in &scoped.refused {
            state.metrics.refusal(refused.reason, 1);
        }
        tracing::warn!(sender = %sender.name, kind = %sender.kind, refused = scoped.refused.len(),
            first = %scoped.refused[0].message, "records a sender may not speak for were refused");
    }
    if !detections.is_empty() {
        state
            .alerts
            .record(&detections)
            .await
            .map_err(ApiError::store)?;
        state.metrics.detections.inc_by(detections.len() as u64);
    }
    let now = watchpost_core::time::now_millis();
    let mut events = scoped.events;
    for event in &mut events {
        event.event.ingested.get_or_insert(now);
    }
    let accepted_events = if events.is_empty() {
        0
    } else {
        state.ingest.write(events).await.map_err(ApiError::ingest)?
    };
    if batch.dropped > 0 {
        tracing::warn!(sender = %sender.name, dropped = batch.dropped, "sender reports records dropped from its full spool");
    }
    state
        .store
        .touch_sender(
            &sender.id,
            chrono::Utc::now(),
            Some(&batch.sender.version),
            Some(&peer.ip().to_string()),
        )
        .await
        .map_err(ApiError::store)?;
    state
        .local_agent
        .note(&sender.kind, &batch.sender, peer.ip());
    state.hub.publish(
        "agents",
        &json!({"id": sender.id, "name": sender.name, "kind": sender.kind,
                "version": batch.sender.version, "address": peer.ip().to_string(),
                "last_seen": chrono::Utc::now()}),
    );
    Ok(Json(json!({
        "sequence": batch.sequence,
        "accepted": {"events": accepted_events, "detections": detections.len()},
        "refused": scoped.refused,
    })))
}

/// Moves the resolves of alerts this sender did not open to the refused list, and
/// returns the detections left to record. (The fold checks the same again, so a resolve
/// racing a newly opened alert still cannot close it.)
async fn refuse_foreign_resolves(
    state: &AppState,
    scoped: &mut sender_scope::Scoped,
) -> Result<Vec<Detection>, ApiError> {
    let resolving: Vec<Fingerprint> = scoped
        .detections
        .iter()
        .filter(|(_, d)| d.resolves)
        .map(|(_, d)| Fingerprint::of_detection(d, &BTreeMap::new()))
        .collect();
    let alerts = if resolving.is_empty() {
        Vec::new()
    } else {
        state
            .store
            .get_alerts_by_fingerprints(&resolving)
            .await
            .map_err(ApiError::store)?
    };
    let mut kept = Vec::with_capacity(scoped.detections.len());
    for (index, detection) in std::mem::take(&mut scoped.detections) {
        let foreign = detection.resolves && {
            let fp = Fingerprint::of_detection(&detection, &BTreeMap::new());
            alerts
                .iter()
                .any(|a| a.fingerprint == fp && !a.may_be_resolved_by(detection.origin.as_deref()))
        };
        if foreign {
            scoped.refused.push(RefusedRecord {
                index,
                reason: "resolves_foreign_alert",
                message: format!(
                    "the alert `{}` on this entity was not opened by this sender; it may resolve only its own",
                    detection.rule_id
                ),
            });
        } else {
            kept.push(detection);
        }
    }
    scoped.refused.sort_by_key(|r| r.index);
    Ok(kept)
}

/// Every registered sender: name, kind, version, address, when it was last heard from,
/// and whether it is revoked.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let senders = state.store.list_senders().await.map_err(ApiError::store)?;
    Ok(Json(json!({ "items": senders })))
}

/// The body of `POST /api/v1/senders`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    name: String,
    #[serde(default = "default_kind")]
    kind: String,
}

fn default_kind() -> String {
    "agent".into()
}

/// Enrolls a sender (again, when its name was revoked) and answers its token, once.
pub async fn enroll(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: EnrollBody = json_body(&body, "a sender (name, kind: agent or proxy)")?;
    let (sender, token) = sender_registry::enroll(state.store.as_ref(), &input.name, &input.kind)
        .await
        .map_err(registry_error)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token.to_string(),
            "sender": sender,
            "note": "the token is shown only in this answer; the server keeps a hash of it",
        })),
    ))
}

/// The body of `POST /api/v1/senders/{id}/rotate`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Minutes the old token keeps working (default 60, at most a week; 0: none).
    #[serde(default)]
    grace_minutes: Option<u64>,
}

/// Gives a sender a new token; the old one works for the grace period.
pub async fn rotate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: RotateBody = if body.is_empty() {
        RotateBody::default()
    } else {
        json_body(&body, "{\"grace_minutes\": N}")?
    };
    let grace = input
        .grace_minutes
        .unwrap_or(sender_registry::DEFAULT_GRACE_MINUTES);
    let (sender, token) = sender_registry::rotate(state.store.as_ref(), &id, grace)
        .await
        .map_err(registry_error)?;
    Ok(Json(json!({
        "token": token.to_string(),
        "sender": sender,
        "previous_valid_until": sender.previous_valid_until,
    })))
}

/// Revokes a sender's tokens at once.
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sender = sender_registry::revoke(state.store.as_ref(), &id)
        .await
        .map_err(registry_error)?;
    Ok(Json(json!({ "sender": sender })))
}

fn registry_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::Invalid { field, message } => ApiError::invalid_parameter(field, message),
        RegistryError::Enrolled(_) => {
            ApiError::new(StatusCode::CONFLICT, "sender_enrolled", error.to_string())
        }
        RegistryError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
        }
        RegistryError::Store(e) => ApiError::store(e),
    }
}

pub(crate) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<watchpost_store::Sender, ApiError> {
    let refused =
        |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", why.to_string());
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| refused("send the sender token as `Authorization: Bearer wps_…`"))?;
    match sender_registry::authenticate(state.store.as_ref(), bearer, chrono::Utc::now())
        .await
        .map_err(ApiError::store)?
    {
        Ok(sender) => Ok(sender),
        Err(refusal) => {
            state.metrics.refusal("sender_token", 1);
            Err(refused(refusal.message()))
        }
    }
}
