//! [`Detection`]: what a detector saw, with the evidence and the entity it concerns.

use crate::{AttackTags, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// The thing a detection is about; alerts are deduplicated per rule and entity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entity {
    Ip {
        ip: String,
    },
    User {
        name: String,
    },
    Host {
        name: String,
    },
    Process {
        host: String,
        pid: i64,
        name: Option<String>,
    },
    /// An incident: the notices about it (opened, escalated) are alerts of their own.
    Incident {
        id: Uuid,
    },
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::Ip { ip } => write!(f, "ip:{ip}"),
            Entity::User { name } => write!(f, "user:{name}"),
            Entity::Host { name } => write!(f, "host:{name}"),
            Entity::Process { host, pid, .. } => write!(f, "process:{host}/{pid}"),
            Entity::Incident { id } => write!(f, "incident:{id}"),
        }
    }
}

/// A detector's finding. It says what was seen and why it matters; what to do about it is
/// decided later (routing, decisions), so a detection carries no action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub id: Uuid,
    #[serde(with = "crate::time::flexible")]
    pub timestamp: DateTime<Utc>,
    /// The rule's stable id (a Sigma `id`, a web signature id, `host.cpu_threshold`, ...).
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    /// Which detector produced it: `sigma`, `web`, `host`, `honeypot`, `intel`, `baseline`.
    pub detector: String,
    /// ECS-like category (`process`, `web`, `network`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default)]
    pub attack: AttackTags,
    /// Compliance mappings (`pci-dss:10.2.4`, `nist-800-53:si-4`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compliance: Vec<String>,
    /// Ids of the events that matched.
    #[serde(default)]
    pub event_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Entity>,
    /// One line for humans: what was seen.
    #[serde(default)]
    pub summary: String,
    /// Why it matched: the fields, values and patterns, as the detector reports them.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub evidence: Value,
    /// The detector says the condition its rule raised is over (a metric back to normal):
    /// the open alert with this detection's fingerprint resolves, and no alert is opened.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resolves: bool,
    /// Who shipped it: `sender:<id>` for an agent or proxy, absent for the server's own
    /// detectors. Set by the server when it receives a batch, never taken from a payload;
    /// a sender's resolve closes only an alert its own detection opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

impl Detection {
    /// A detection of `rule_id` now, with everything optional left empty.
    pub fn new(rule_id: &str, rule_title: &str, severity: Severity, detector: &str) -> Detection {
        Detection {
            id: Uuid::now_v7(),
            timestamp: crate::time::now_millis(),
            rule_id: rule_id.to_string(),
            rule_title: rule_title.to_string(),
            severity,
            detector: detector.to_string(),
            category: None,
            host: None,
            attack: AttackTags::default(),
            compliance: Vec::new(),
            event_ids: Vec::new(),
            entity: None,
            summary: String::new(),
            evidence: Value::Null,
            resolves: false,
            origin: None,
        }
    }

    /// The source IP this detection concerns, if its entity is an address.
    pub fn source_ip(&self) -> Option<&str> {
        match &self.entity {
            Some(Entity::Ip { ip }) => Some(ip),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_round_trip() {
        let mut d = Detection::new(
            "proc_curl_pipe_sh",
            "Download piped to shell",
            Severity::High,
            "sigma",
        );
        d.entity = Some(Entity::Process {
            host: "web-1".into(),
            pid: 42,
            name: Some("sh".into()),
        });
        d.attack = AttackTags::from_sigma_tags(["attack.execution", "attack.t1059.004"]);
        d.event_ids = vec![Uuid::now_v7()];
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["entity"]["type"], "process");
        assert_eq!(json["severity"], "high");
        assert_eq!(serde_json::from_value::<Detection>(json).unwrap(), d);
        assert_eq!(d.entity.as_ref().unwrap().to_string(), "process:web-1/42");
    }
}
