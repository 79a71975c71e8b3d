//! API errors: `{"error": {"code", "message", "details"}}` with the right HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error returned by an API handler.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable machine-readable code (`invalid_parameter`, `payload_too_large`, ...).
    pub code: &'static str,
    pub message: String,
    /// Details for the client; a `retry_after_seconds` here is also sent as `Retry-After`.
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = details;
        self
    }

    /// A request parameter that could not be used; names the parameter.
    pub fn invalid_parameter(name: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("parameter `{name}`: {problem}"),
        )
        .with_details(json!({ "parameter": name }))
    }

    /// The ingest queue refused events: it is shutting down, or the store could not commit
    /// them (a full disk, a lost database). Either way nothing was accepted and the sender
    /// should retry: 503 with `Retry-After`.
    pub fn ingest(error: crate::ingest::IngestError) -> ApiError {
        match error {
            crate::ingest::IngestError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                error.to_string(),
            ),
            crate::ingest::IngestError::Store(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("{error}; nothing in this request was stored"),
            )
            .with_details(json!({ "retry_after_seconds": 5 })),
        }
    }

    /// The store failed; the message is logged in full and summarised to the client.
    pub fn store(error: watchpost_store::StoreError) -> ApiError {
        if let watchpost_store::StoreError::QueryTimeout { seconds } = error {
            // The caller's query, not the store, is at fault: no error in the log.
            tracing::info!(seconds, "a query ran past storage.query_timeout_seconds");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "query_timeout",
                error.to_string(),
            )
            .with_details(json!({ "timeout_seconds": seconds }));
        }
        tracing::error!(%error, "store operation failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the store failed: {error}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.details["retry_after_seconds"].as_u64();
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_past_its_bound_says_so_and_names_the_bound() {
        let e = ApiError::store(watchpost_store::StoreError::QueryTimeout { seconds: 30 });
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.code, "query_timeout");
        assert!(e.message.contains("30 s"), "{}", e.message);
        assert_eq!(e.details["timeout_seconds"], 30);
    }
}
