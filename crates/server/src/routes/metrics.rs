//! `GET /metrics`: Prometheus/OpenMetrics exposition.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(backlog) = state.store.notification_backlog().await {
        let family = &state.metrics.notification_backlog;
        family.clear();
        for b in backlog {
            family
                .get_or_create(&crate::metrics::ReceiverLabels {
                    receiver: b.receiver,
                })
                .set(b.pending);
        }
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
