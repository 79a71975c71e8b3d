//! What `Store::statistics` returns: counts over a time range.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A value and how often it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: i64,
}

/// A rule's detections in the range, with its title and ATT&CK tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub rule_id: String,
    pub title: String,
    pub count: i64,
    pub category: Option<String>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
}

/// Detections starting at `start`, by severity name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeBucket {
    pub start: DateTime<Utc>,
    pub by_severity: BTreeMap<String, i64>,
}

/// A host's latest per-minute figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostHealth {
    pub host: String,
    pub last_seen: Option<DateTime<Utc>>,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
}

/// A host the server knows of: from its metrics, its detections, its open alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostSummary {
    pub host: String,
    /// The latest metric sample or detection.
    pub last_seen: Option<DateTime<Utc>>,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    /// Firing and acknowledged alerts.
    pub open_alerts: i64,
}

/// Counts of detections (and events and alerts) over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statistics {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Events stored with a timestamp in the range.
    pub events: i64,
    pub detections: i64,
    pub by_severity: Vec<Count>,
    /// The ten most frequent, as for hosts and source addresses.
    pub by_detector: Vec<Count>,
    pub by_host: Vec<Count>,
    pub by_source_ip: Vec<Count>,
    /// Up to 1,000 rules, the most frequent first.
    pub by_rule: Vec<RuleCount>,
    pub bucket_seconds: i64,
    /// Detections per bucket of `bucket_seconds` (buckets with none are left out).
    pub over_time: Vec<TimeBucket>,
    /// Every alert, whatever its time, by status.
    pub alerts_by_status: BTreeMap<String, i64>,
    /// Firing and acknowledged alerts by severity.
    pub open_alerts_by_severity: BTreeMap<String, i64>,
    pub host_health: Vec<HostHealth>,
}
