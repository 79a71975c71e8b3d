//! `GET /api/v1/metrics?host=&metric=&from=&to=&step=`: one host metric as a time series
//! from the per-minute and per-hour rollups (`cpu.percent`, `disk.used_percent:/`, ...).
//! Prometheus exposition stays at `/metrics`, outside the API.

use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

pub async fn series(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let host = p
        .text("host")
        .ok_or_else(|| ApiError::invalid_parameter("host", "required: the host's name"))?;
    let metric = p.text("metric").ok_or_else(|| {
        ApiError::invalid_parameter(
            "metric",
            "required: e.g. cpu.percent or disk.used_percent:/",
        )
    })?;
    let to = p.time("to")?.unwrap_or_else(Utc::now);
    let from = p.time("from")?.unwrap_or(to - Duration::hours(24));
    let step = match p.text("step") {
        None => Duration::minutes(5),
        Some(text) => watchpost_core::time::parse_span(&text)
            .map_err(|e| ApiError::invalid_parameter("step", e))?,
    };
    p.finish()?;
    if from >= to {
        return Err(ApiError::invalid_parameter("from", "must be before `to`"));
    }
    if step < Duration::minutes(1) {
        return Err(ApiError::invalid_parameter(
            "step",
            "the finest series is per minute (1m)",
        ));
    }
    let points = state
        .store
        .metric_series(&host, &metric, from, to, step.num_seconds())
        .await
        .map_err(|e| match e {
            watchpost_store::StoreError::TooLarge(why) => ApiError::invalid_parameter("step", why),
            other => ApiError::store(other),
        })?;
    Ok(Json(json!({
        "host": host,
        "metric": metric,
        "from": from,
        "to": to,
        "step_seconds": step.num_seconds(),
        "points": points,
    })))
}
