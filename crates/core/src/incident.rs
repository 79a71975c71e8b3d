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

/// A security incident: the alerts of one attack, the entities that tie them, the attack
/// chain they draw, a risk score that explains itself, an owner and a timeline.
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
    /// When the attack last did something (the newest detection), which the grouping
    /// window counts from.
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_activity: Option<DateTime<Utc>>,
    /// The entities its alerts name (`ip:203.0.113.7`, `user:www-data`, `host:web-1`).
    #[serde(default)]
    pub entities: Vec<String>,
    /// Sites its web alerts attacked (`host:shop`): shared by every attacker of the site,
    /// so only host alerts join an incident through them.
    #[serde(default)]
    pub sites: Vec<String>,
    /// What its detections acted on or from, that a response can act on in turn:
    /// `ip:203.0.113.7` (the attacker), `process:web-1/4242` (the process a host detection
    /// names, not its ancestors), `user:web-1/www-data` (the account it ran as),
    /// `file:web-1:/var/spool/cron/crontabs/www-data` (a file it changed), `host:web-1`,
    /// `account:alice` (an application account a web detection names).
    #[serde(default)]
    pub subjects: Vec<String>,
    /// One step per alert, in time order.
    #[serde(default)]
    pub chain: Vec<ChainStep>,
    #[serde(default)]
    pub risk: Risk,
    /// Everything done to it: opened, alerts joined, merges, status, assignee, notes.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

/// One alert of an incident's attack chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainStep {
    #[serde(with = "crate::time::flexible")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "crate::time::flexible")]
    pub last_seen: DateTime<Utc>,
    pub alert_id: Uuid,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub detector: String,
    /// The furthest ATT&CK tactic of its detections (`TA0002`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
    #[serde(default)]
    pub techniques: Vec<String>,
    /// Its entities.
    #[serde(default)]
    pub entities: Vec<String>,
    /// The entity that tied it to the incident; `None` for the step that opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_by: Option<String>,
    /// Detections folded into this step.
    pub count: u64,
}

/// A risk score (0 to 100) with the terms it is the sum of.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    pub score: u32,
    #[serde(default)]
    pub terms: Vec<RiskTerm>,
}

/// One term of a risk score: its name, its points, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskTerm {
    pub name: String,
    pub points: u32,
    pub why: String,
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "crate::time::flexible")]
    pub at: DateTime<Utc>,
    /// `watchpost` for the correlator, `api:<key name>` for a person.
    pub by: String,
    pub what: String,
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
            last_activity: None,
            entities: Vec::new(),
            sites: Vec::new(),
            subjects: Vec::new(),
            chain: Vec::new(),
            risk: Risk::default(),
            timeline: Vec::new(),
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
