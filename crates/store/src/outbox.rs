//! The notification outbox: every notice the alert pipeline makes is written here before
//! anything is sent, with each delivery attempt beside it, so a crash or a receiver that is
//! down delays a notice but never loses it, and "what was sent, and why" has an answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;
use watchpost_alert::Notification;

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt, or for a retry after a failure.
    Pending,
    Sent,
    /// Every attempt failed; kept until someone re-sends it.
    Dead,
    /// Not sent on purpose (no channel for the receiver, below its minimum severity).
    Skipped,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Skipped => "skipped",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "sent" => DeliveryStatus::Sent,
            "dead" => DeliveryStatus::Dead,
            "skipped" => DeliveryStatus::Skipped,
            _ => {
                return Err(format!(
                    "unknown delivery status `{s}`: expected pending, sent, dead or skipped"
                ));
            }
        })
    }
}

/// A notification in the outbox with its delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub notification: Notification,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(with = "watchpost_core::time::flexible")]
    pub next_attempt: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent {
        detail: String,
    },
    /// Failed; try again at `retry_at`.
    Retry {
        error: String,
        retry_at: DateTime<Utc>,
    },
    /// Failed for the last time.
    Dead {
        error: String,
    },
    Skipped {
        reason: String,
    },
}

/// An attempt to record: which notification, through which channel, what came of it, when.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub notification_id: Uuid,
    /// `name (type)`, or `-` when no channel was involved.
    pub channel: String,
    pub outcome: AttemptOutcome,
    pub at: DateTime<Utc>,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub notification_id: Uuid,
    #[serde(with = "watchpost_core::time::flexible")]
    pub at: DateTime<Utc>,
    /// `sent`, `failed`, `dead`, `skipped` or `requeued`.
    pub outcome: String,
    /// The channel that tried (its name and kind, `ops-webhook (webhook)`).
    pub channel: String,
    pub detail: String,
}

/// Notices waiting for one receiver: how many, since when, and why the last attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    pub receiver: String,
    pub pending: i64,
    pub oldest: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A notification with every attempt made to deliver it, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationHistory {
    #[serde(flatten)]
    pub entry: OutboxEntry,
    pub attempts_made: Vec<DeliveryAttempt>,
}
