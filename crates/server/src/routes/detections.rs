//! `GET /api/v1/detections`: what the rules found, newest first.

use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;
use watchpost_store::{DetectionQuery, SortBy};

/// Filters: `from`, `to`, `rule_id`, `host`, `source_ip`, `detector`, `min_severity`;
/// `limit`, `cursor` to page.
pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let query = DetectionQuery {
        from: p.time("from")?,
        to: p.time("to")?,
        rule_id: p.text("rule_id"),
        host: p.text("host"),
        source_ip: p.text("source_ip"),
        detector: p.text("detector"),
        min_severity: p.severity("min_severity")?,
        text: p.text("q"),
        cursor: p.cursor("cursor")?,
        limit: p.limit("limit")?,
        sort: p.sort(
            "sort",
            &[("timestamp", SortBy::Time), ("severity", SortBy::Severity)],
        )?,
    };
    p.finish()?;
    let page = state
        .store
        .query_detections(&query)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(
        json!({ "items": page.items, "next_cursor": page.next_cursor }),
    ))
}
