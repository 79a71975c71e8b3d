//! The HTTP routes, one module per area.

mod detections;
mod events;
mod health;
mod ids;
mod metrics;
mod senders;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The server's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/status", get(health::status))
        .route("/api/v1/system/health", get(health::system_health))
        .route("/api/v1/events", get(events::list).post(events::ingest))
        .route("/api/v1/detections", get(detections::list))
        .route("/api/v1/ids/analyze", post(ids::analyze))
        .route(watchpost_ship::INGEST_PATH, post(senders::ingest))
        .route("/api/v1/agents", get(senders::list))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}
