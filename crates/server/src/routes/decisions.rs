//! Decisions: analysts make and lift them (`/api/v1/decisions`), enforcers read them.
//!
//! - `GET /api/v1/decisions` lists the newest (`limit`, `state=in_force|all`);
//!   `POST /api/v1/decisions` makes one (`{"value", "duration", "reason", "scope"?, "type"?,
//!   "simulated"?}`), refused with `422 decision_refused` when a guard forbids the target;
//!   `DELETE /api/v1/decisions/{id}` lifts one.
//! - `GET /v1/decisions/stream` and `GET /v1/decisions` speak CrowdSec's Local API to
//!   bouncers, which authenticate with a bouncer key (`watchpost agent-token create --kind
//!   bouncer`) in `X-Api-Key`; a proxy's token reads them too, to enforce them. Errors there
//!   carry CrowdSec's `message` beside Watchpost's `error`.
//!
//! The server's own web shield (`POST /api/v1/ids/analyze`) enforces address bans at
//! once; ranges reach enforcers through the stream.

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::sender_registry;
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, body::Bytes};
use chrono::Utc;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use watchpost_core::{Decision, DecisionScope};
use watchpost_response::crowdsec::{self, Lookup, StreamQuery};
use watchpost_response::{DecisionRequest, Guards, decide};

/// Sender kinds whose token reads decisions: bouncers, and proxies that enforce them.
const READERS: &[&str] = &["bouncer", "proxy"];

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = crate::params::Params::new(raw);
    let limit = p.limit("limit")?.unwrap_or(100);
    let state_filter = p.text("state").unwrap_or_else(|| "all".into());
    p.finish()?;
    let now = Utc::now();
    let items: Vec<Decision> = match state_filter.as_str() {
        "all" => state
            .store
            .recent_decisions(i64::from(limit))
            .await
            .map_err(ApiError::store)?,
        "in_force" => {
            let mut all = state
                .store
                .decisions_in_force(now, None, true)
                .await
                .map_err(ApiError::store)?;
            all.reverse();
            all.truncate(limit as usize);
            all
        }
        other => {
            return Err(ApiError::invalid_parameter(
                "state",
                format!("`{other}`: expected in_force or all"),
            ));
        }
    };
    let items: Vec<Value> = items.iter().map(|d| shown(d, now)).collect();
    Ok(Json(json!({ "items": items })))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: DecisionRequest = json_body(
        &body,
        "a decision (value, duration, reason; scope, type, simulated)",
    )?;
    let guards = guards(&state).await?;
    let now = Utc::now();
    let origin = format!("api:{}", principal.name);
    let mut decision = decide(&request, &guards, &origin, now).map_err(|refusal| {
        if refusal.guarded {
            state.metrics.refusal("decision_guard", 1);
            tracing::warn!(by = %principal.name, value = %request.value, reason = %refusal.message,
                "a decision was refused by a guard");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "decision_refused",
                refusal.to_string(),
            )
            .with_details(json!({"field": refusal.field}))
        } else {
            ApiError::invalid_parameter(refusal.field, refusal.message)
        }
    })?;
    if decision.scope == DecisionScope::Username
        && state
            .config
            .get()
            .response
            .protected_accounts
            .contains(&decision.value)
    {
        state.metrics.refusal("decision_guard", 1);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "decision_refused",
            format!(
                "value: account `{}` is protected (response.protected_accounts)",
                decision.value
            ),
        )
        .with_details(json!({"field": "value"})));
    }
    decision.id = state
        .store
        .insert_decision(&decision)
        .await
        .map_err(ApiError::store)?;
    enforce_here(&state, &decision);
    tracing::info!(id = decision.id, value = %decision.value, until = %decision.until,
        simulated = decision.simulated, by = %principal.name, "decision made");
    Ok((StatusCode::CREATED, Json(shown(&decision, now))))
}

pub async fn lift(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid_parameter("id", format!("`{id}` is not a decision id")))?;
    let now = Utc::now();
    let lifted = state
        .store
        .lift_decision(id, &format!("api:{}", principal.name), now)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no decision {id} is in force"),
            )
        })?;
    if lifted.scope == DecisionScope::Ip
        && let Ok(ip) = lifted.value.parse::<IpAddr>()
    {
        state.web.blocklist().unblock(ip);
    }
    tracing::info!(id, by = %principal.name, "decision lifted");
    Ok(Json(shown(&lifted, now)))
}

/// `GET /v1/decisions/stream`, for bouncers.
pub async fn bouncer_stream(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let reader = match bouncer(&state, &headers, peer).await {
        Ok(reader) => reader,
        Err(refused) => return refused,
    };
    let query = match StreamQuery::from_pairs(&raw) {
        Ok(q) => q,
        Err(e) => return lapi_error(StatusCode::BAD_REQUEST, "invalid_parameter", &e),
    };
    match crowdsec::stream(
        state.store.as_ref(),
        &state.decision_cursors,
        &reader,
        &query,
        Utc::now(),
    )
    .await
    {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => ApiError::store(e).into_response(),
    }
}

/// `GET /v1/decisions?ip=…`, for bouncers in live mode: the decisions covering the
/// address, or `null` when none does (as CrowdSec's Local API answers).
pub async fn bouncer_lookup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = bouncer(&state, &headers, peer).await {
        return refused;
    }
    let lookup = match Lookup::from_pairs(&raw) {
        Ok(l) => l,
        Err(e) => return lapi_error(StatusCode::BAD_REQUEST, "invalid_parameter", &e),
    };
    match crowdsec::lookup(state.store.as_ref(), &lookup, Utc::now()).await {
        Ok(found) if found.is_empty() => Json(Value::Null).into_response(),
        Ok(found) => Json(found).into_response(),
        Err(e) => ApiError::store(e).into_response(),
    }
}

/// The reader a bouncer key names (its sender id), after recording that it polled.
async fn bouncer(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<String, Response> {
    let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) else {
        return Err(lapi_error(
            StatusCode::FORBIDDEN,
            "invalid_token",
            "send the bouncer key as X-Api-Key (watchpost agent-token create --kind bouncer)",
        ));
    };
    let sender = match sender_registry::authenticate(state.store.as_ref(), key, Utc::now()).await {
        Ok(Ok(sender)) => sender,
        Ok(Err(refusal)) => {
            state.metrics.refusal("sender_token", 1);
            return Err(lapi_error(
                StatusCode::FORBIDDEN,
                "invalid_token",
                refusal.message(),
            ));
        }
        Err(e) => return Err(ApiError::store(e).into_response()),
    };
    if !READERS.contains(&sender.kind.as_str()) {
        return Err(lapi_error(
            StatusCode::FORBIDDEN,
            "wrong_sender_kind",
            &format!(
                "`{}` is a {}: only bouncer and proxy keys read decisions",
                sender.name, sender.kind
            ),
        ));
    }
    let version = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect::<String>()
        });
    if let Err(e) = state
        .store
        .touch_sender(
            &sender.id,
            Utc::now(),
            version.as_deref(),
            Some(&peer.ip().to_string()),
        )
        .await
    {
        tracing::warn!(error = %e, "could not record a bouncer's poll");
    }
    Ok(sender.id)
}

/// An error as CrowdSec clients read it (`message`) and Watchpost's (`error`).
fn lapi_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"message": message, "error": {"code": code, "message": message}})),
    )
        .into_response()
}

pub(crate) async fn guards(state: &AppState) -> Result<Guards, ApiError> {
    crate::responder::decision_guards(state.store.as_ref(), &state.config)
        .await
        .map_err(ApiError::store)
}

/// Applies an address ban to this server's own web shield.
pub(crate) fn enforce_here(state: &AppState, decision: &Decision) {
    crate::responder::enforce_here(&state.web, decision);
}

/// A decision as the API shows it: with whether it is in force and the seconds left.
fn shown(d: &Decision, now: chrono::DateTime<Utc>) -> Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    v["in_force"] = json!(d.active_at(now));
    v["seconds_left"] = json!((d.until - now).num_seconds().max(0));
    v
}
