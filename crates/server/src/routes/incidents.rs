//! Incidents: `GET /api/v1/incidents` (`status`, `limit`), `GET /api/v1/incidents/{id}`
//! (with its chain, entities, risk terms and timeline), `PATCH /api/v1/incidents/{id}`
//! (`status`, `assignee`, `title`) and `POST /api/v1/incidents/{id}/notes` (`{"text"}`).
//! Every change is a line in the incident's timeline naming the key that made it.

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::incidents::Change;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use watchpost_core::IncidentStatus;

const MAX_TITLE_CHARS: usize = 200;
const MAX_NOTE_CHARS: usize = 4000;

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = crate::params::Params::new(raw);
    let limit = p.limit("limit")?.unwrap_or(100);
    let status = p.text("status").map(|s| parse_status(&s)).transpose()?;
    p.finish()?;
    let items = state
        .store
        .query_incidents(status.map(IncidentStatus::as_str), None, i64::from(limit))
        .await
        .map_err(ApiError::store)?;
    Ok(Json(json!({ "items": items })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    match state
        .store
        .get_incident(id)
        .await
        .map_err(ApiError::store)?
    {
        Some(incident) => {
            // What was done about it, beside the story.
            let actions = state
                .store
                .query_actions(&watchpost_store::ActionQuery {
                    incident: Some(id),
                    limit: 1_000,
                    ..Default::default()
                })
                .await
                .map_err(ApiError::store)?;
            let mut shown = json!(incident);
            shown["actions"] = json!(actions);
            Ok(Json(shown))
        }
        None => Err(not_found(id)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

pub async fn patch(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let input: Patch = json_body(&body, "a change (status, assignee, title)")?;
    let status = input.status.as_deref().map(parse_status).transpose()?;
    if let Some(title) = &input.title
        && (title.trim().is_empty()
            || title.chars().count() > MAX_TITLE_CHARS
            || title.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_parameter(
            "title",
            format!("1 to {MAX_TITLE_CHARS} printable characters"),
        ));
    }
    if let Some(assignee) = &input.assignee
        && (assignee.chars().count() > 100 || assignee.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_parameter(
            "assignee",
            "at most 100 printable characters (empty to unassign)",
        ));
    }
    change(
        &state,
        &principal,
        id,
        Change {
            status,
            assignee: input.assignee,
            title: input.title,
            note: None,
        },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    text: String,
}

pub async fn note(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id)?;
    let input: Note = json_body(&body, "a note ({\"text\": …})")?;
    let text = input.text.trim();
    // Control characters (terminal escapes among them) would reach every reader of the
    // timeline, the CLI's terminal included; line breaks and tabs are text.
    if text.is_empty()
        || text.chars().count() > MAX_NOTE_CHARS
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::invalid_parameter(
            "text",
            format!(
                "1 to {MAX_NOTE_CHARS} characters, no control characters but line breaks and tabs"
            ),
        ));
    }
    let Json(incident) = change(
        &state,
        &principal,
        id,
        Change {
            note: Some(text.to_string()),
            ..Change::default()
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

async fn change(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    change: Change,
) -> Result<Json<Value>, ApiError> {
    let desk = state.alerts.incidents().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "incidents_unavailable",
            "the incident desk is not running",
        )
    })?;
    let by = format!("api:{}", principal.name);
    match desk
        .change(id, change, &by)
        .await
        .map_err(ApiError::store)?
    {
        Some(incident) => Ok(Json(json!(incident))),
        None => Err(not_found(id)),
    }
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::invalid_parameter("id", format!("`{id}` is not an incident id")))
}

fn parse_status(s: &str) -> Result<IncidentStatus, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::invalid_parameter(
            "status",
            format!("`{s}`: expected open, investigating, contained, resolved or closed"),
        )
    })
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no incident {id}"),
    )
}
