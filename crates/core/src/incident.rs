//! [`Incident`]: a case a person works on, grouping related alerts.

use crate::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an incident stands in the response process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Investigating,
    Contained,
    Resolved,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Closed => "closed",
        }
    }
}

/// A security incident: related alerts, an owner, a status and a running summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Uuid,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    #[serde(default)]
    pub alert_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default)]
    pub summary: String,
    #[serde(with = "crate::time::flexible")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::flexible")]
    pub updated_at: DateTime<Utc>,
}

impl Incident {
    /// A new open incident created now.
    pub fn new(title: &str, severity: Severity) -> Incident {
        let now = crate::time::now_millis();
        Incident {
            id: Uuid::now_v7(),
            title: title.to_string(),
            severity,
            status: IncidentStatus::Open,
            alert_ids: Vec::new(),
            assignee: None,
            summary: String::new(),
            created_at: now,
            updated_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let mut i = Incident::new("Web shell on web-1", Severity::Critical);
        i.alert_ids.push(Uuid::now_v7());
        let json = serde_json::to_value(&i).unwrap();
        assert_eq!(json["status"], "open");
        assert_eq!(serde_json::from_value::<Incident>(json).unwrap(), i);
    }
}
