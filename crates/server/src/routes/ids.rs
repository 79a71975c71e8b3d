//! `POST /api/v1/ids/analyze`: web inspection for applications that cannot host the tower
//! layer (PHP, Python, Node): they send a request profile and act on the verdict. Findings
//! are stored as detections, like everything else the server sees.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use watchpost_web::{Decision, Request};

/// The request profile: `method`, `path` and `query` (wire form), `headers` (an object or a
/// list of pairs), `body`, the client's address, and optionally the response status.
#[derive(Deserialize)]
pub struct AnalyzeRequest {
    #[serde(flatten)]
    request: Request,
    #[serde(default)]
    client_ip: Option<String>,
    /// The status the application answered with, when the profile is sent afterwards:
    /// failed logins, error bursts and denied admin requests are counted from it.
    #[serde(default)]
    response_status: Option<u16>,
}

pub async fn analyze(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: AnalyzeRequest = super::json_body(&body, "a request profile")?;
    let ip: Option<IpAddr> = match input.client_ip.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse().map_err(|_| {
            ApiError::invalid_parameter("client_ip", format!("`{text}` is not an IP address"))
        })?),
    };
    let mut outcome = state.web.check(&input.request, ip);
    if let Some(status) = input.response_status {
        outcome
            .detections
            .extend(state.web.after_response(&input.request, ip, status));
    }
    if !outcome.detections.is_empty() {
        state
            .alerts
            .record(&outcome.detections)
            .await
            .map_err(ApiError::store)?;
        state
            .metrics
            .detections
            .inc_by(outcome.detections.len() as u64);
    }
    let decision = match &outcome.decision {
        Decision::Pass => json!({"action": "pass"}),
        Decision::Block { status, body } => {
            json!({"action": "block", "status": status, "body": body})
        }
        Decision::Decoy(decoy) => json!({
            "action": "decoy",
            "status": decoy.status,
            "content_type": decoy.content_type,
            "location": decoy.location,
            "body": decoy.body,
        }),
    };
    Ok(Json(json!({
        "request_id": outcome.request_id,
        "attack": outcome.verdict.is_attack(),
        "score": outcome.verdict.score,
        "threshold": outcome.verdict.threshold,
        "decision": decision,
        "findings": outcome.verdict.hits,
        "exceeded": outcome.verdict.exceeded,
        "detections": outcome.detections.iter().map(|d| d.id).collect::<Vec<_>>(),
    })))
}
