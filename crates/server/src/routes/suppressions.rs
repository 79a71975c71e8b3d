//! Suppressions proposed by false positives: `GET /api/v1/suppressions` (`status`:
//! proposed, active, rejected, expired; `limit`), `POST /api/v1/suppressions/{id}/accept`
//! (`{"days", "review_days"}`, defaults 90 and 30), `POST /api/v1/suppressions/{id}/reject`
//! and `DELETE /api/v1/suppressions/{id}` (end one in force).

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::suppressions::{DEFAULT_DAYS, DEFAULT_REVIEW_DAYS, SuppressionError};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use watchpost_core::SuppressionState;

/// The longest an accepted suppression lasts.
const MAX_DAYS: u32 = 365;

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = crate::params::Params::new(raw);
    let limit = p.limit("limit")?.unwrap_or(100);
    let status = p
        .text("status")
        .map(|s| {
            s.parse::<SuppressionState>()
                .map_err(|e| ApiError::invalid_parameter("status", e))
        })
        .transpose()?;
    p.finish()?;
    let now = chrono::Utc::now();
    let items: Vec<Value> = state
        .store
        .list_suppressions(status, i64::from(limit))
        .await
        .map_err(ApiError::store)?
        .into_iter()
        .map(|s| {
            let due = s.state == SuppressionState::Active && s.review_at.is_some_and(|r| r <= now);
            let mut v = json!(s);
            v["review_due"] = json!(due);
            v
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    review_days: Option<u32>,
}

pub async fn accept(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let input: Acceptance = if body.is_empty() {
        Acceptance::default()
    } else {
        json_body(&body, "an acceptance ({\"days\", \"review_days\"})")?
    };
    let days = input.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid_parameter(
            "days",
            format!("{days} is out of range: allowed 1 to {MAX_DAYS}"),
        ));
    }
    let review_days = input.review_days.unwrap_or(DEFAULT_REVIEW_DAYS);
    if !(1..=MAX_DAYS).contains(&review_days) {
        return Err(ApiError::invalid_parameter(
            "review_days",
            format!("{review_days} is out of range: allowed 1 to {MAX_DAYS}"),
        ));
    }
    let s = state
        .suppressions
        .accept(id, &format!("api:{}", principal.name), days, review_days)
        .await
        .map_err(error)?;
    Ok(Json(json!(s)))
}

pub async fn reject(
    state: State<AppState>,
    principal: Extension<Principal>,
    id: Path<String>,
) -> Result<Json<Value>, ApiError> {
    decline(state, principal, id, SuppressionState::Proposed).await
}

pub async fn end(
    state: State<AppState>,
    principal: Extension<Principal>,
    id: Path<String>,
) -> Result<Json<Value>, ApiError> {
    decline(state, principal, id, SuppressionState::Active).await
}

/// Rejects a proposal, or ends a suppression in force: `from` is the state it must be in.
async fn decline(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    from: SuppressionState,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let s = state
        .suppressions
        .decline(id, &format!("api:{}", principal.name), from)
        .await
        .map_err(error)?;
    Ok(Json(json!(s)))
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid_parameter("id", format!("`{text}` is not a suppression id")))
}

fn error(e: SuppressionError) -> ApiError {
    match e {
        SuppressionError::NotFound(id) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no suppression {id}"),
        ),
        SuppressionError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
        SuppressionError::Store(e) => ApiError::store(e),
    }
}
