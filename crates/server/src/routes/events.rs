//! `POST /api/v1/events` (batch ingest) and `GET /api/v1/events` (search).

use crate::error::ApiError;
use crate::ingest::{BodyError, parse_body};
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use watchpost_store::{EventQuery, SortBy};

/// Stores a JSON array or NDJSON body of events. Malformed entries are reported by index
/// (and line, for NDJSON); the well-formed ones are stored. The response comes after the
/// events are committed, so `accepted` events are durable; when they cannot be (the store
/// fails, or free space is below the reserve) the answer is 503 and nothing is accepted.
pub async fn ingest(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::storage_watch::refuse_ingest(&state)?;
    let limits = state.config.get().api.clone();
    let bytes = super::bounded_body(&headers, body, limits.max_body_bytes)
        .await
        .inspect_err(|_| state.metrics.ingest_error("too_large", 1))?;
    let parsed = parse_body(&bytes, limits.max_batch_events).map_err(|e| {
        state.metrics.ingest_error("malformed", 1);
        let status = match e {
            BodyError::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "invalid_body", e.to_string())
    })?;
    if !parsed.rejected.is_empty() {
        state
            .metrics
            .ingest_error("malformed", parsed.rejected.len() as u64);
    }
    if parsed.events.is_empty() && !parsed.rejected.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_events",
            "no event in the body could be read",
        )
        .with_details(json!({ "rejected": parsed.rejected })));
    }
    let now = watchpost_core::time::now_millis();
    let mut events = parsed.events;
    for event in &mut events {
        event.event.ingested.get_or_insert(now);
    }
    let accepted = state.ingest.write(events).await.map_err(ApiError::ingest)?;
    Ok((
        StatusCode::OK,
        Json(json!({ "accepted": accepted, "rejected": parsed.rejected })),
    ))
}

/// Lists events newest first. Filters: `from`, `to` (RFC 3339 or epoch), `host`, `source`,
/// `category`, `action`, `source_ip`, `user`, `q` (free text); `limit`, `cursor` to page.
pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let query = EventQuery {
        from: p.time("from")?,
        to: p.time("to")?,
        host: p.text("host"),
        source: p.text("source"),
        category: p.text("category"),
        action: p.text("action"),
        source_ip: p.text("source_ip"),
        user: p.text("user"),
        text: p.text("q"),
        cursor: p.cursor("cursor")?,
        limit: p.limit("limit")?,
        sort: p.sort("sort", &[("timestamp", SortBy::Time)])?,
    };
    p.finish()?;
    let started = std::time::Instant::now();
    let page = state
        .store
        .query_events(&query)
        .await
        .map_err(ApiError::store)?;
    state
        .metrics
        .observe_store("query_events", started.elapsed());
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}
