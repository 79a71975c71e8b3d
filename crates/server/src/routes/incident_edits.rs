//! Incidents changed by hand: `POST /api/v1/incidents` (`{"title", "alert_ids"}`: an
//! incident the correlator did not see), `POST /api/v1/incidents/{id}/alerts`
//! (`{"alert_id"}`: link an alert), `DELETE /api/v1/incidents/{id}/alerts/{alert_id}`
//! (unlink one) and `POST /api/v1/incidents/{id}/merge` (`{"incident_id"}`: the other
//! incident moves into this one and is closed). Each is a line in the timeline naming the
//! key that made it.

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::incidents::IncidentDesk;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use uuid::Uuid;
use watchpost_core::{Alert, Incident};
use watchpost_incident::edit::EditError;

/// Alerts an incident opened by hand starts with at most.
const MAX_ALERTS_BY_HAND: usize = 100;
const MAX_TITLE_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    title: String,
    alert_ids: Vec<String>,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: NewIncident = json_body(&body, "an incident ({\"title\", \"alert_ids\"})")?;
    let title = input.title.trim();
    if title.is_empty()
        || title.chars().count() > MAX_TITLE_CHARS
        || title.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_parameter(
            "title",
            format!("1 to {MAX_TITLE_CHARS} printable characters"),
        ));
    }
    if input.alert_ids.is_empty() || input.alert_ids.len() > MAX_ALERTS_BY_HAND {
        return Err(ApiError::invalid_parameter(
            "alert_ids",
            format!("1 to {MAX_ALERTS_BY_HAND} alert ids"),
        ));
    }
    let mut alerts = Vec::with_capacity(input.alert_ids.len());
    for (i, id) in input.alert_ids.iter().enumerate() {
        alerts.push(alert(&state, id, &format!("alert_ids[{i}]")).await?);
    }
    let by = by(&principal);
    let incident = edited(desk(&state)?.open_by_hand(title, &alerts, &by).await)?;
    Ok((StatusCode::CREATED, Json(json!(incident))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    alert_id: String,
}

pub async fn link(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = incident_id(&id, "id")?;
    let input: Link = json_body(&body, "an alert ({\"alert_id\"})")?;
    let alert = alert(&state, &input.alert_id, "alert_id").await?;
    let outcome = desk(&state)?.link(id, &alert, &by(&principal)).await;
    let incident = found(outcome, id)?;
    Ok((StatusCode::CREATED, Json(json!(incident))))
}

pub async fn unlink(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((id, alert_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = incident_id(&id, "id")?;
    let alert_id: Uuid = alert_id.parse().map_err(|_| {
        ApiError::invalid_parameter("alert_id", format!("`{alert_id}` is not an alert id"))
    })?;
    let outcome = desk(&state)?.unlink(id, alert_id, &by(&principal)).await;
    Ok(Json(json!(found(outcome, id)?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    incident_id: String,
}

pub async fn merge(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = incident_id(&id, "id")?;
    let input: Merge = json_body(&body, "the incident to merge in ({\"incident_id\"})")?;
    let other = incident_id(&input.incident_id, "incident_id")?;
    let outcome = desk(&state)?.merge(id, other, &by(&principal)).await;
    Ok(Json(json!(found(outcome, id)?)))
}

fn desk(state: &AppState) -> Result<&Arc<IncidentDesk>, ApiError> {
    state.alerts.incidents().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "incidents_unavailable",
            "the incident desk is not running",
        )
    })
}

fn by(principal: &Principal) -> String {
    format!("api:{}", principal.name)
}

async fn alert(state: &AppState, id: &str, field: &str) -> Result<Alert, ApiError> {
    let parsed: Uuid = id
        .parse()
        .map_err(|_| ApiError::invalid_parameter(field, format!("`{id}` is not an alert id")))?;
    state
        .store
        .get_alert(parsed)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::invalid_parameter(field, format!("no alert {id}")))
}

fn incident_id(text: &str, field: &str) -> Result<Uuid, ApiError> {
    text.parse()
        .map_err(|_| ApiError::invalid_parameter(field, format!("`{text}` is not an incident id")))
}

fn found(
    outcome: Result<Option<Result<Incident, EditError>>, watchpost_store::StoreError>,
    id: Uuid,
) -> Result<Incident, ApiError> {
    match outcome.map_err(ApiError::store)? {
        Some(done) => edited(Ok(done)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no incident {id} (or no incident to merge in)"),
        )),
    }
}

fn edited(
    outcome: Result<Result<Incident, EditError>, watchpost_store::StoreError>,
) -> Result<Incident, ApiError> {
    outcome
        .map_err(ApiError::store)?
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()))
}
