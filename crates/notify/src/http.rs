//! One HTTP client for every channel, and how a receiver's answer is read.

use crate::channel::SendError;
use reqwest::{RequestBuilder, Response, StatusCode};
use std::time::Duration;

/// Longest answer body kept for an error message.
const MAX_ERROR_BODY: usize = 512;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A client with rustls on ring (the one TLS provider of the build).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("watchpost/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends and classifies: 2xx is delivered; 408, 429 and 5xx are worth retrying (with the
/// receiver's `Retry-After` when it gives one); other answers are refusals.
pub async fn send(request: RequestBuilder) -> Result<(StatusCode, String), SendError> {
    let response = request.send().await.map_err(|e| {
        SendError::transient(if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            format!("cannot connect: {e}")
        } else {
            format!("request failed: {e}")
        })
    })?;
    classify(response).await
}

async fn classify(response: Response) -> Result<(StatusCode, String), SendError> {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
    let body = response.text().await.unwrap_or_default();
    let mut excerpt: String = body.chars().take(MAX_ERROR_BODY).collect();
    if excerpt.len() < body.len() {
        excerpt.push('…');
    }
    if status.is_success() {
        return Ok((status, excerpt));
    }
    let message = format!("HTTP {}: {}", status.as_u16(), excerpt.trim());
    let retryable = status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error();
    Err(SendError {
        message,
        retryable,
        retry_after,
    })
}
