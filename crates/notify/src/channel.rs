//! What every channel does: deliver one notification, or say why not and whether trying
//! again can help.

use async_trait::async_trait;
use std::time::Duration;
use watchpost_alert::Notification;

/// A failed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct SendError {
    pub message: String,
    /// Whether a later attempt may succeed (a timeout, a 5xx, a 429), as opposed to a
    /// refusal that will not change (a 400, a bad key).
    pub retryable: bool,
    /// The receiver's own `Retry-After`, honoured over our backoff.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn permanent(message: String) -> SendError {
        SendError {
            message,
            retryable: false,
            retry_after: None,
        }
    }

    pub fn transient(message: String) -> SendError {
        SendError {
            message,
            retryable: true,
            retry_after: None,
        }
    }
}

/// A place notifications go.
#[async_trait]
pub trait Channel: Send + Sync {
    /// `webhook`, `slack`, `pagerduty`.
    fn kind(&self) -> &'static str;

    /// Sends `n`; on success, a short note for the history (`HTTP 200`).
    async fn send(&self, n: &Notification) -> Result<String, SendError>;
}
