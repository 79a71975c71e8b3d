//! Silences: `GET /api/v1/silences` (active and pending; `?all=true` adds those that ended
//! in the last week), `POST /api/v1/silences`, `GET /api/v1/silences/{id}`,
//! `DELETE /api/v1/silences/{id}` (expires it now; it stays in history).

use super::{json_body, parse_id};
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use watchpost_alert::Silence;

/// Longest silence accepted: a year; longer is a rule change, not a silence.
const MAX_SILENCE_DAYS: i64 = 365;

/// The body of a new silence.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    matchers: Vec<String>,
    /// Defaults to now.
    #[serde(default, with = "watchpost_core::time::flexible_opt")]
    starts_at: Option<DateTime<Utc>>,
    /// Either `ends_at` or `duration_minutes`.
    #[serde(default, with = "watchpost_core::time::flexible_opt")]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    duration_minutes: Option<i64>,
    /// A name the caller gives; kept in the comment as a note. The silence's author is
    /// the key that made the call, whatever this says.
    #[serde(default)]
    created_by: Option<String>,
    comment: String,
}

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let all = match p.text("all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "all",
                format!("`{other}` is not true or false"),
            ));
        }
    };
    p.finish()?;
    let now = Utc::now();
    let since = if all { now - Duration::days(7) } else { now };
    let silences = state
        .store
        .list_silences(since)
        .await
        .map_err(ApiError::store)?;
    let items: Vec<Value> = silences
        .iter()
        .map(|s| json!({ "silence": s, "state": s.state(now) }))
        .collect();
    Ok(Json(json!({ "items": items })))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: NewSilence = json_body(
        &body,
        "a silence (matchers, ends_at or duration_minutes, created_by, comment)",
    )?;
    let now = Utc::now();
    let starts_at = input.starts_at.unwrap_or(now);
    let ends_at = match (input.ends_at, input.duration_minutes) {
        (Some(end), None) => end,
        (None, Some(m)) if (1..=MAX_SILENCE_DAYS * 24 * 60).contains(&m) => {
            starts_at + Duration::minutes(m)
        }
        (None, Some(m)) => {
            return Err(ApiError::invalid_parameter(
                "duration_minutes",
                format!(
                    "{m} is out of range: allowed 1 to {}",
                    MAX_SILENCE_DAYS * 24 * 60
                ),
            ));
        }
        _ => {
            return Err(ApiError::invalid_parameter(
                "ends_at",
                "give either ends_at or duration_minutes",
            ));
        }
    };
    if ends_at - starts_at > Duration::days(MAX_SILENCE_DAYS) {
        return Err(ApiError::invalid_parameter(
            "ends_at",
            format!("a silence may last at most {MAX_SILENCE_DAYS} days"),
        ));
    }
    let silence = Silence {
        id: Uuid::now_v7(),
        matchers: input.matchers,
        starts_at,
        ends_at,
        created_by: principal.actor(),
        comment: match input
            .created_by
            .filter(|n| !n.trim().is_empty() && *n != principal.name)
        {
            Some(named) => format!("{} (noted as made for {named})", input.comment),
            None => input.comment,
        },
        created_at: now,
    };
    if let Err((field, message)) = silence.validate() {
        return Err(ApiError::invalid_parameter(&field, message));
    }
    state
        .store
        .upsert_silence(&silence)
        .await
        .map_err(ApiError::store)?;
    state
        .alerts
        .refresh_silences()
        .await
        .map_err(ApiError::store)?;
    let silence_state = silence.state(now);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "silence": silence, "state": silence_state })),
    ))
}

async fn found(state: &AppState, id: Uuid) -> Result<Silence, ApiError> {
    state
        .store
        .get_silence(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no silence {id}"),
            )
        })
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    let silence = found(&state, id).await?;
    let silence_state = silence.state(Utc::now());
    Ok(Json(json!({ "silence": silence, "state": silence_state })))
}

/// Expires a silence now. It stays stored, so its history is kept.
pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "id")?;
    let mut silence = found(&state, id).await?;
    let now = Utc::now();
    if silence.ends_at > now {
        silence.ends_at = now.max(silence.starts_at + Duration::milliseconds(1));
        state
            .store
            .upsert_silence(&silence)
            .await
            .map_err(ApiError::store)?;
        state
            .alerts
            .refresh_silences()
            .await
            .map_err(ApiError::store)?;
    }
    Ok(Json(json!({ "silence": silence, "state": "expired" })))
}
