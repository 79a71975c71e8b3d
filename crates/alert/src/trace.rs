//! The record of what each pipeline stage decided about an alert, so that "why did (or
//! didn't) this page anyone" has an answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The pipeline stages, in the order an alert meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Route,
    Group,
    Inhibit,
    Mute,
    Silence,
    Cooldown,
    RateLimit,
    Notify,
    Escalate,
    Status,
}

/// What a stage did with the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Let it through (or took it: a route, a group).
    Passed,
    /// Held it back; the detail says why and until when.
    Suppressed,
    /// Sent a notice (the detail names the receiver and notification).
    Sent,
    /// Changed its state (acknowledged, resolved by timeout…).
    Changed,
}

/// One stage's verdict on one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub alert_id: Uuid,
    #[serde(with = "watchpost_core::time::flexible")]
    pub at: DateTime<Utc>,
    pub stage: Stage,
    pub verdict: Verdict,
    /// The route id the entry concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    pub detail: String,
}
