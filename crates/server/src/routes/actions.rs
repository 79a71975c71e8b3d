//! Response actions. For people: `GET /api/v1/actions` (`incident`, `status` (its state),
//! `host`, `limit`), `GET /api/v1/actions/{id}` (with its blast radius: what it would touch and
//! how much traffic that was in the last hour), and `POST /api/v1/actions/{id}/approve`,
//! `…/reject` (`{"reason"}`) and `…/undo`, each a line in the action's history naming the
//! key. For agents, with their sender token: `GET /api/v1/agent/actions?wait=SECONDS` (the
//! actions queued for the agent's own host, waiting up to `wait` for one) and
//! `POST /api/v1/agent/actions/{id}/result` (`{"ok", "message", "undo"}`).

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::responder::ActionError;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;
use watchpost_core::{Action, ActionResult, ActionState, ActionTarget};
use watchpost_store::{ActionQuery, EventQuery};

/// An agent's long poll lasts at most this long.
const MAX_WAIT_SECONDS: u64 = 30;
/// Actions handed to an agent per poll at most.
const MAX_PER_POLL: i64 = 50;
const MAX_REASON_CHARS: usize = 500;
/// Events counted for a blast radius at most (past it the count reads "at least").
const BLAST_COUNT_LIMIT: u32 = 1_000;

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = crate::params::Params::new(raw);
    let limit = p.limit("limit")?.unwrap_or(100);
    let incident = p.text("incident").map(|i| parse_id(&i)).transpose()?;
    let state_filter = p
        .text("status")
        .map(|s| {
            s.parse::<ActionState>()
                .map_err(|e| ApiError::invalid_parameter("status", e))
        })
        .transpose()?;
    let host = p.text("host");
    p.finish()?;
    let items = state
        .store
        .query_actions(&ActionQuery {
            incident,
            state: state_filter,
            host,
            limit: i64::from(limit),
            oldest_first: false,
        })
        .await
        .map_err(ApiError::store)?;
    Ok(Json(json!({ "items": items })))
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let action = state
        .store
        .get_action(id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| not_found(id))?;
    let radius = blast_radius(&state, &action).await?;
    let mut shown = json!(action);
    shown["blast_radius"] = radius;
    Ok(Json(shown))
}

/// What the action touches and how much traffic that was in the last hour, shown before
/// anyone approves it.
async fn blast_radius(state: &AppState, action: &Action) -> Result<Value, ApiError> {
    let hour_ago = Utc::now() - chrono::Duration::hours(1);
    let mut query = EventQuery {
        from: Some(hour_ago),
        limit: Some(BLAST_COUNT_LIMIT),
        ..EventQuery::default()
    };
    let (scope, touches) = match &action.target {
        ActionTarget::Address { ip } => {
            query.source_ip = Some(ip.clone());
            ("addresses", json!([ip]))
        }
        ActionTarget::Host { host } => {
            query.host = Some(host.clone());
            ("hosts", json!([host]))
        }
        ActionTarget::Process { host, pid } => {
            query.host = Some(host.clone());
            (
                "processes",
                json!([format!("{pid} on {host} and its descendants")]),
            )
        }
        ActionTarget::File { host, path } => {
            query.host = Some(host.clone());
            ("files", json!([format!("{path} on {host}")]))
        }
        ActionTarget::Account { host, user } => {
            query.host = Some(host.clone());
            query.user = Some(user.clone());
            ("accounts", json!([format!("{user} on {host}")]))
        }
        ActionTarget::AppAccount { user } => {
            query.user = Some(user.clone());
            ("accounts", json!([user]))
        }
        ActionTarget::Incident { id } => return Ok(json!({ "incidents": [id] })),
    };
    let page = state
        .store
        .query_events(&query)
        .await
        .map_err(ApiError::store)?;
    let mut radius = json!({
        scope: touches,
        "events_last_hour": page.items.len(),
        "events_last_hour_at_least": page.next_cursor.is_some(),
    });
    if let ActionTarget::Address { ip } = &action.target {
        let decisions = state
            .store
            .decisions_in_force_for(Utc::now(), ip)
            .await
            .map_err(ApiError::store)?;
        radius["decisions_in_force"] = json!(decisions.len());
    }
    Ok(radius)
}

pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let action = state
        .responder
        .approve(id, &format!("api:{}", principal.name))
        .await
        .map_err(action_error)?;
    Ok(Json(json!(action)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    #[serde(default)]
    reason: String,
}

pub async fn reject(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let input: Rejection = if body.is_empty() {
        Rejection::default()
    } else {
        json_body(&body, "a rejection ({\"reason\"})")?
    };
    let reason = checked_text("reason", &input.reason)?;
    let action = state
        .responder
        .reject(id, &format!("api:{}", principal.name), &reason)
        .await
        .map_err(action_error)?;
    Ok(Json(json!(action)))
}

pub async fn undo(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let action = state
        .responder
        .undo(id, &format!("api:{}", principal.name))
        .await
        .map_err(action_error)?;
    Ok(Json(json!(action)))
}

/// `GET /api/v1/agent/actions`: the actions queued for the calling agent's host. An agent
/// speaks for its own host only (its sender name), so it never sees another's.
pub async fn agent_poll(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let sender = agent(&state, &headers).await?;
    let mut p = crate::params::Params::new(raw);
    let wait = match p.text("wait") {
        None => 0,
        Some(w) => w
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                ApiError::invalid_parameter(
                    "wait",
                    format!("`{w}`: seconds from 0 to {MAX_WAIT_SECONDS}"),
                )
            })?,
    };
    p.finish()?;
    let by = format!("agent:{}", sender.name);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let taken = state
            .responder
            .take_for_agent(&sender.name, &by, MAX_PER_POLL)
            .await
            .map_err(ApiError::store)?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if !taken.is_empty() || left.is_zero() {
            return Ok(Json(json!({ "items": taken })));
        }
        state.responder.queued_or(left).await;
    }
}

/// `POST /api/v1/agent/actions/{id}/result`: the agent's report on an action it took.
pub async fn agent_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let sender = agent(&state, &headers).await?;
    let id = parse_id(&id)?;
    let result: ActionResult = json_body(&body, "a result ({\"ok\", \"message\", \"undo\"})")?;
    if serde_json::to_string(&result.undo).map_or(0, |s| s.len()) > 16 * 1024 {
        return Err(ApiError::invalid_parameter(
            "undo",
            "more than 16 KiB: an undo record names a path, a hash, a table",
        ));
    }
    let action = state
        .responder
        .report(id, &sender.name, &format!("agent:{}", sender.name), result)
        .await
        .map_err(action_error)?;
    Ok(Json(json!(action)))
}

/// The calling sender, which must be an agent.
async fn agent(state: &AppState, headers: &HeaderMap) -> Result<watchpost_store::Sender, ApiError> {
    let sender = super::senders::authenticate(state, headers).await?;
    if sender.kind != "agent" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong_sender_kind",
            format!(
                "`{}` is a {}: only an agent carries out host actions",
                sender.name, sender.kind
            ),
        ));
    }
    Ok(sender)
}

fn checked_text(field: &str, text: &str) -> Result<String, ApiError> {
    if text.chars().count() > MAX_REASON_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(
            field,
            format!("at most {MAX_REASON_CHARS} characters, no control characters"),
        ));
    }
    Ok(text.trim().to_string())
}

fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::NotFound(id) => not_found(id),
        ActionError::Conflict(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
        ActionError::Store(e) => ApiError::store(e),
    }
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::invalid_parameter("id", format!("`{text}` is not an action id")))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no action {id}"),
    )
}
