//! The HTTP routes, one module per area.

mod actions;
pub(crate) mod alerts;
pub(crate) mod api_keys;
pub(crate) mod blocklist;
pub(crate) mod config;
pub(crate) mod decisions;
mod detections;
pub(crate) mod events;
mod health;
pub(crate) mod hosts;
mod ids;
mod incident_edits;
pub(crate) mod incidents;
pub(crate) mod metric_series;
mod metrics;
pub(crate) mod rules;
pub(crate) mod senders;
pub(crate) mod silences;
pub(crate) mod statistics;
mod suppressions;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use serde_json::json;
use uuid::Uuid;

pub use rules::load_disabled;

/// The server's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/openapi.json", get(crate::openapi::openapi_json))
        .route("/api/docs", get(crate::openapi::docs_page))
        .route("/api/docs/init.js", get(crate::openapi::docs_init))
        .route(
            "/api/docs/swagger-ui-bundle.js",
            get(crate::openapi::docs_bundle),
        )
        .route("/api/docs/swagger-ui.css", get(crate::openapi::docs_css))
        .route("/api/v1/status", get(health::status))
        .route("/api/v1/system/health", get(health::system_health))
        .route("/api/v1/events", get(events::list).post(events::ingest))
        .route("/api/v1/detections", get(detections::list))
        .route("/api/v1/ids/analyze", post(ids::analyze))
        .route(watchpost_ship::INGEST_PATH, post(senders::ingest))
        .route("/api/v1/agents", get(senders::list))
        .route("/api/v1/senders", post(senders::enroll))
        .route("/api/v1/senders/{id}", delete(senders::revoke))
        .route("/api/v1/senders/{id}/rotate", post(senders::rotate))
        .route("/api/v1/hosts", get(hosts::list))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/bulk", post(alerts::bulk))
        .route("/api/v1/alerts/{id}", get(alerts::get))
        .route(
            "/api/v1/alerts/{id}/notifications",
            get(alerts::notifications),
        )
        .route("/api/v1/alerts/{id}/status", put(alerts::set_status))
        .route("/api/v1/notifications", get(alerts::list_notifications))
        .route("/api/v1/notifications/{id}/resend", post(alerts::resend))
        .route(
            "/api/v1/silences",
            get(silences::list).post(silences::create),
        )
        .route(
            "/api/v1/silences/{id}",
            get(silences::get).delete(silences::expire),
        )
        .route(
            "/api/v1/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route("/api/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/api/v1/api-calls", get(api_keys::calls))
        .route("/api/v1/metrics", get(metric_series::series))
        .route("/api/v1/rules", get(rules::list))
        .route("/api/v1/rules/test", post(rules::test))
        .route("/api/v1/rules/{id}", put(rules::switch))
        .route(
            "/api/v1/blocklist",
            get(blocklist::list).post(blocklist::block),
        )
        .route("/api/v1/blocklist/{ip}", delete(blocklist::unblock))
        .route(
            "/api/v1/decisions",
            get(decisions::list).post(decisions::create),
        )
        .route("/api/v1/decisions/{id}", delete(decisions::lift))
        .route(
            "/api/v1/incidents",
            get(incidents::list).post(incident_edits::create),
        )
        .route(
            "/api/v1/incidents/{id}",
            get(incidents::get).patch(incidents::patch),
        )
        .route("/api/v1/incidents/{id}/notes", post(incidents::note))
        .route("/api/v1/incidents/{id}/alerts", post(incident_edits::link))
        .route(
            "/api/v1/incidents/{id}/alerts/{alert_id}",
            delete(incident_edits::unlink),
        )
        .route("/api/v1/incidents/{id}/merge", post(incident_edits::merge))
        .route("/api/v1/suppressions", get(suppressions::list))
        .route("/api/v1/suppressions/{id}", delete(suppressions::end))
        .route(
            "/api/v1/suppressions/{id}/accept",
            post(suppressions::accept),
        )
        .route(
            "/api/v1/suppressions/{id}/reject",
            post(suppressions::reject),
        )
        .route("/api/v1/actions", get(actions::list))
        .route("/api/v1/actions/{id}", get(actions::get))
        .route("/api/v1/actions/{id}/approve", post(actions::approve))
        .route("/api/v1/actions/{id}/reject", post(actions::reject))
        .route("/api/v1/actions/{id}/undo", post(actions::undo))
        .route("/api/v1/agent/actions", get(actions::agent_poll))
        .route(
            "/api/v1/agent/actions/{id}/result",
            post(actions::agent_result),
        )
        .route("/v1/decisions/stream", get(decisions::bouncer_stream))
        .route("/v1/decisions", get(decisions::bouncer_lookup))
        .route("/api/v1/stream", get(crate::stream::stream))
        .route("/api/v1/statistics", get(statistics::statistics))
        .route("/api/v1/dashboard/summary", get(statistics::dashboard))
        .route("/api/v1/config", get(config::show).put(config::replace))
        .merge(crate::dashboard::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::middleware::authorize,
        ))
        .fallback(not_found)
        .with_state(state)
}

/// An id from the path or a body; the error names where it came from.
pub(crate) fn parse_id(text: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text)
        .map_err(|_| ApiError::invalid_parameter(what, format!("`{text}` is not an id (a UUID)")))
}

/// A request body read whole within `max` bytes (`api.max_body_bytes`). A declared
/// length past it is refused before anything is read (413), a body without one is cut
/// off one byte past it (413), and one that does not arrive in time is answered 408.
pub(crate) async fn bounded_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    max: usize,
) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body exceeds {max} bytes (api.max_body_bytes)"),
        )
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let cause = e.into_inner();
        if caused_by::<http_body_util::LengthLimitError>(&*cause) {
            too_large()
        } else if caused_by::<crate::accept::BodyTimeout>(&*cause) {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                crate::accept::BodyTimeout.to_string(),
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the body could not be read: {cause}"),
            )
        }
    })
}

/// Whether `T` is `error` or anywhere in its chain of causes (body errors come wrapped
/// by each layer they pass).
fn caused_by<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<T>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// A JSON request body as `T`; the error says what was expected and where it broke.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body must be {what}: {e}"),
        )
        .with_details(json!({"line": e.line(), "column": e.column()}))
    })
}

async fn not_found(uri: axum::http::Uri) -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {}", uri.path()),
    )
}
