//! The server's client blocklist, which `POST /api/v1/ids/analyze` consults first:
//! `GET /api/v1/blocklist`, `POST /api/v1/blocklist` (`{"ip", "minutes", "reason"}`),
//! `DELETE /api/v1/blocklist/{ip}`. Blocks live in memory, with their time to live; a
//! restart starts empty.

use super::json_body;
use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::time::Duration;

/// Longest block: 30 days.
const MAX_MINUTES: u64 = 30 * 24 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    ip: String,
    minutes: u64,
    reason: String,
}

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let items: Vec<Value> = state
        .web
        .blocklist()
        .entries()
        .into_iter()
        .map(|(ip, reason, left)| {
            json!({"ip": ip.to_string(), "reason": reason, "seconds_left": left.as_secs()})
        })
        .collect();
    Json(json!({ "items": items }))
}

pub async fn block(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let input: NewBlock = json_body(&body, "a block (ip, minutes, reason)")?;
    let ip: IpAddr = input.ip.trim().parse().map_err(|_| {
        ApiError::invalid_parameter("ip", format!("`{}` is not an IP address", input.ip))
    })?;
    if !(1..=MAX_MINUTES).contains(&input.minutes) {
        return Err(ApiError::invalid_parameter(
            "minutes",
            format!("{} is out of range: 1 to {MAX_MINUTES}", input.minutes),
        ));
    }
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid_parameter(
            "reason",
            "say why in 1 to 500 characters",
        ));
    }
    if !state
        .web
        .blocklist()
        .block(ip, Duration::from_secs(input.minutes * 60), reason)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "allowlisted",
            format!("{ip} is on the allowlist and is never blocked"),
        ));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"ip": ip.to_string(), "reason": reason, "seconds_left": input.minutes * 60})),
    ))
}

pub async fn unblock(
    State(state): State<AppState>,
    Path(ip): Path<String>,
) -> Result<StatusCode, ApiError> {
    let parsed: IpAddr = ip
        .parse()
        .map_err(|_| ApiError::invalid_parameter("ip", format!("`{ip}` is not an IP address")))?;
    if state.web.blocklist().unblock(parsed) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{parsed} is not blocked"),
        ))
    }
}
