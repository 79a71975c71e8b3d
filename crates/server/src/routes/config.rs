//! The configuration over the API: `GET /api/v1/config` (secrets masked) and
//! `PUT /api/v1/config` (validated like the file: an invalid configuration is refused with
//! its errors and nothing changes; a valid one is written and in force at once).

use super::json_body;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use watchpost_config::{ReloadOutcome, SaveError};

/// The body of `PUT /api/v1/config`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConfig {
    /// The whole configuration, as `GET` shows it; masked values keep theirs.
    config: Value,
}

pub async fn show(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "path": state.config.path(),
        "generation": state.config.generation(),
        "last_error": state.config.last_error(),
        "config": state.config.get().masked_json(),
    }))
}

pub async fn replace(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: NewConfig = json_body(
        &body,
        "{\"config\": {…}} (the configuration as GET shows it)",
    )?;
    let handle = state.config.clone();
    // Writing and re-reading a file: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || handle.save(input.config))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match outcome {
        Ok(ReloadOutcome::Applied { restart_needed }) => Ok(Json(json!({
            "applied": true,
            "generation": state.config.generation(),
            "restart_needed": restart_needed,
        }))),
        Ok(ReloadOutcome::Unchanged) => Ok(Json(json!({
            "applied": false,
            "generation": state.config.generation(),
            "restart_needed": [],
        }))),
        Ok(ReloadOutcome::Rejected(errors)) | Err(SaveError::Invalid(errors)) => {
            let list: Vec<Value> = errors
                .0
                .iter()
                .map(|e| json!({"key": e.key, "line": e.line, "message": e.message}))
                .collect();
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_config",
                format!("the configuration is not valid; nothing changed: {errors}"),
            )
            .with_details(json!({ "errors": list })))
        }
        Err(SaveError::NoFile) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_config_file",
            "the server runs on defaults and the environment, with no file to write: start it \
             with --config FILE to edit the configuration here",
        )),
        Err(SaveError::Io(why)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config_not_written",
            why,
        )),
    }
}
