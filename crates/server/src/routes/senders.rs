//! Agents and proxies shipping to this server: `POST /api/v1/ingest` takes their batches,
//! `GET /api/v1/agents` lists them with when they were last heard from.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use watchpost_ship::{Batch, Record, Token};

/// Stores one batch from a registered sender. The sender's token comes as
/// `Authorization: Bearer wps_…`; the body is a [`Batch`], gzip-compressed when
/// `Content-Encoding: gzip`. The answer comes once the batch is committed, so an
/// acknowledged batch is durable and the sender may delete it; a batch sent twice is
/// stored once.
pub async fn ingest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let sender = authenticate(&state, &headers).await?;
    let gzip = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let batch = Batch::decode(&body, gzip).map_err(|e| {
        let status = match e {
            watchpost_ship::BatchError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid_batch", e.to_string())
    })?;
    let mut events = Vec::new();
    let mut detections = Vec::new();
    let now = watchpost_core::time::now_millis();
    for record in batch.records {
        match record {
            Record::Event(mut event) => {
                event.event.ingested.get_or_insert(now);
                events.push(*event);
            }
            Record::Detection(detection) => detections.push(*detection),
        }
    }
    if !detections.is_empty() {
        state
            .alerts
            .record(&detections)
            .await
            .map_err(ApiError::store)?;
        state.metrics.detections.inc_by(detections.len() as u64);
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
    state.hub.publish(
        "agents",
        &json!({"id": sender.id, "name": sender.name, "kind": sender.kind,
                "version": batch.sender.version, "address": peer.ip().to_string(),
                "last_seen": chrono::Utc::now()}),
    );
    Ok(Json(json!({
        "sequence": batch.sequence,
        "accepted": {"events": accepted_events, "detections": detections.len()},
    })))
}

/// Every registered sender: name, kind, version, address, and when it was last heard from.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let senders = state.store.list_senders().await.map_err(ApiError::store)?;
    Ok(Json(json!({ "items": senders })))
}

async fn authenticate(
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
    let token = Token::parse(bearer).map_err(|e| refused(&e.to_string()))?;
    let sender = state
        .store
        .get_sender(&token.id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| refused("no sender has this token (`watchpost agent-token create`)"))?;
    if !token.matches(&sender.secret_hash) {
        return Err(refused(
            "no sender has this token (`watchpost agent-token create`)",
        ));
    }
    Ok(sender)
}
