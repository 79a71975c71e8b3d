//! `GET /api/v1/hosts`: every host seen in the last 30 days (by its metrics or its
//! detections), with its latest CPU, memory and disk figures and its open alerts.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let hosts = state
        .store
        .hosts(chrono::Utc::now())
        .await
        .map_err(ApiError::store)?;
    Ok(Json(json!({ "items": hosts })))
}
