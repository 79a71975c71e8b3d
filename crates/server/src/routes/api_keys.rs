//! API keys (admin): `GET /api/v1/api-keys`, `POST /api/v1/api-keys` (the key is in the
//! answer, and nowhere else, ever), `DELETE /api/v1/api-keys/{id}`; and the record of
//! state-changing calls, `GET /api/v1/api-calls?limit=N`.

use super::json_body;
use crate::auth::Role;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Longest name accepted.
const MAX_NAME_CHARS: usize = 100;
/// Longest validity accepted: ten years.
const MAX_EXPIRY_DAYS: i64 = 3650;
/// Most API calls one request returns.
const MAX_CALLS: usize = 1000;

/// The body of a new key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    name: String,
    role: String,
    /// Days until it stops working; without it, until revoked.
    #[serde(default)]
    expires_in_days: Option<i64>,
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.store.list_api_keys().await.map_err(ApiError::store)?;
    Ok(Json(json!({ "items": keys })))
}

pub async fn create(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: NewKeyBody = json_body(&body, "a key (name, role, expires_in_days)")?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid_parameter(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let role: Role = input
        .role
        .parse()
        .map_err(|e: String| ApiError::invalid_parameter("role", e))?;
    let expires_at = match input.expires_in_days {
        None => None,
        Some(days) if (1..=MAX_EXPIRY_DAYS).contains(&days) => {
            Some(Utc::now() + Duration::days(days))
        }
        Some(days) => {
            return Err(ApiError::invalid_parameter(
                "expires_in_days",
                format!("{days} is out of range: allowed 1 to {MAX_EXPIRY_DAYS}"),
            ));
        }
    };
    let new = state.gate.ring().issue(name, role, expires_at);
    state
        .store
        .insert_api_key(&new.record)
        .await
        .map_err(ApiError::store)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "key": new.text,
            "api_key": new.record,
            "note": "the key is shown only in this answer; the server keeps an HMAC of it",
        })),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = id
        .strip_prefix(crate::auth::keys::KEY_PREFIX)
        .unwrap_or(&id);
    if state
        .store
        .delete_api_key(id)
        .await
        .map_err(ApiError::store)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no API key has the id `{id}`"),
        ))
    }
}

pub async fn calls(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let limit = p.limit("limit")?.map_or(100, |n| n as usize).min(MAX_CALLS);
    p.finish()?;
    let calls = state
        .store
        .recent_api_calls(limit)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(json!({ "items": calls })))
}
