//! [`Suppression`]: a false positive taught back to detection, scoped to the rule and to
//! what identified the thing it mistook (a host and a program, a web route and parameter),
//! never the whole rule.
//!
//! Marking an alert a false positive proposes one; it shows how many past detections it
//! would have suppressed, and suppresses nothing until someone accepts it. An accepted
//! suppression comes up for review and ends by itself.

use crate::{Detection, Entity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Fields among a rule's matched fields that name what was seen (a program, an account, a
/// file, an address), as opposed to what it did (a command line, which changes each time).
const IDENTITY_FIELDS: &[&str] = &[
    "Image",
    "ParentImage",
    "User",
    "OriginalFileName",
    "TargetFilename",
    "process.executable",
    "process.parent.executable",
    "process.name",
    "user.name",
    "file.path",
    "destination.ip",
    "destination.port",
    "source.ip",
    "url.path",
];
/// Conditions kept per suppression at most, and characters per value.
const MAX_CONDITIONS: usize = 16;
const MAX_VALUE_CHARS: usize = 512;

/// Where a suppression stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionState {
    /// Proposed by a false positive; suppresses nothing yet.
    Proposed,
    Active,
    Rejected,
    /// Ended (its time ran out, or someone ended it).
    Expired,
}

impl SuppressionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionState::Proposed => "proposed",
            SuppressionState::Active => "active",
            SuppressionState::Rejected => "rejected",
            SuppressionState::Expired => "expired",
        }
    }
}

impl std::str::FromStr for SuppressionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(Value::String(s.to_string()))
            .map_err(|_| format!("`{s}`: expected proposed, active, rejected or expired"))
    }
}

/// A suppression of one rule's detections where they name the same things.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub id: Uuid,
    pub rule_id: String,
    /// Every one must hold for a detection to be suppressed (see [`conditions_of`]).
    pub conditions: BTreeMap<String, String>,
    pub state: SuppressionState,
    /// Why: the false positive's reason, or a person's words.
    pub reason: String,
    /// Alerts marked false positive that proposed it (the first and the times since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_alert: Option<Uuid>,
    pub marks: u64,
    pub proposed_by: String,
    #[serde(with = "crate::time::flexible")]
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub decided_at: Option<DateTime<Utc>>,
    /// When an accepted suppression should be looked at again.
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub review_at: Option<DateTime<Utc>>,
    /// When an accepted suppression ends by itself.
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    /// Past detections of the rule it would have suppressed (the replay when proposed),
    /// out of how many looked at, over how many days.
    pub replay: Replay,
    /// Detections suppressed since it was accepted.
    #[serde(default)]
    pub hits: u64,
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_hit: Option<DateTime<Utc>>,
}

/// What replaying a suppression over past detections found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub would_suppress: u64,
    pub of: u64,
    pub days: u32,
    /// The replay stopped at its bound: there were more detections than `of`.
    #[serde(default)]
    pub truncated: bool,
}

impl Suppression {
    /// A proposal to suppress `rule_id`'s detections where `conditions` hold.
    pub fn proposed(
        rule_id: &str,
        conditions: BTreeMap<String, String>,
        reason: &str,
        by: &str,
    ) -> Suppression {
        Suppression {
            id: Uuid::now_v7(),
            rule_id: rule_id.to_string(),
            conditions,
            state: SuppressionState::Proposed,
            reason: reason.to_string(),
            from_alert: None,
            marks: 1,
            proposed_by: by.to_string(),
            created_at: crate::time::now_millis(),
            decided_by: None,
            decided_at: None,
            review_at: None,
            expires_at: None,
            replay: Replay::default(),
            hits: 0,
            last_hit: None,
        }
    }

    /// Whether it suppresses `d` (it must be active; the caller checks the state).
    pub fn matches(&self, d: &Detection) -> bool {
        if d.rule_id != self.rule_id {
            return false;
        }
        let seen = conditions_of(d);
        self.conditions
            .iter()
            .all(|(k, v)| seen.get(k).is_some_and(|s| s == v))
    }

    /// Whether it is in force at `now`.
    pub fn in_force(&self, now: DateTime<Utc>) -> bool {
        self.state == SuppressionState::Active && self.expires_at.is_none_or(|e| now < e)
    }
}

/// What identified what a detection mistook, as a suppression's conditions: for a web
/// detection the route and the parameter (any client sending the same harmless content
/// there is the same false positive); otherwise the host, the detection's entity (an
/// address, an account, a program's name, never a process number) and the identity fields
/// among those its rule matched.
pub fn conditions_of(d: &Detection) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() && out.len() < MAX_CONDITIONS {
            out.insert(k.to_string(), v.chars().take(MAX_VALUE_CHARS).collect());
        }
    };
    if d.detector.starts_with("web") {
        if let Some(path) = d.evidence.get("path").and_then(Value::as_str) {
            put("url.path", path);
        }
        let parameter = d
            .evidence
            .get("findings")
            .and_then(Value::as_array)
            .and_then(|f| f.first())
            .and_then(|f| f.get("parameter"))
            .and_then(Value::as_str);
        if let Some(p) = parameter {
            put("parameter", p);
        }
        if let Some(host) = &d.host {
            put("host", host);
        }
        return out;
    }
    if let Some(host) = &d.host {
        put("host", host);
    }
    match &d.entity {
        Some(Entity::Ip { ip }) => put("source.ip", ip),
        Some(Entity::User { name }) => put("user.name", name),
        Some(Entity::Process {
            name: Some(name), ..
        }) => put("process.name", name),
        _ => {}
    }
    if let Some(fields) = d.evidence.get("fields").and_then(Value::as_object) {
        for name in IDENTITY_FIELDS {
            if let Some(v) = fields.get(*name).and_then(Value::as_str) {
                put(name, v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Severity;
    use serde_json::json;

    fn suppression(d: &Detection) -> Suppression {
        Suppression {
            state: SuppressionState::Active,
            ..Suppression::proposed(&d.rule_id, conditions_of(d), "backup job", "api:ana")
        }
    }

    #[test]
    fn a_host_suppression_names_the_program_not_the_command_or_the_process() {
        let mut d = Detection::new("sigma.base64_exec", "Base64 run", Severity::High, "sigma");
        d.host = Some("backup-1".into());
        d.entity = Some(Entity::Process {
            host: "backup-1".into(),
            pid: 4242,
            name: Some("restic".into()),
        });
        d.evidence = json!({"fields": {"Image": "/usr/bin/restic", "CommandLine": "restic backup --tag 2026-12-08",
                                       "ParentImage": "/usr/sbin/cron"}});
        let s = suppression(&d);
        assert_eq!(
            s.conditions.keys().collect::<Vec<_>>(),
            ["Image", "ParentImage", "host", "process.name"]
        );
        // The same job tomorrow, with another command line and process number: suppressed.
        let mut tomorrow = d.clone();
        tomorrow.entity = Some(Entity::Process {
            host: "backup-1".into(),
            pid: 9999,
            name: Some("restic".into()),
        });
        tomorrow.evidence["fields"]["CommandLine"] = json!("restic backup --tag 2026-12-09");
        assert!(s.matches(&tomorrow));
        // The same rule on another host, or from another program: not suppressed.
        let mut elsewhere = d.clone();
        elsewhere.host = Some("web-1".into());
        assert!(!s.matches(&elsewhere));
        let mut other = d.clone();
        other.evidence["fields"]["Image"] = json!("/tmp/x");
        assert!(!s.matches(&other));
        let mut other_rule = d;
        other_rule.rule_id = "sigma.other".into();
        assert!(!s.matches(&other_rule));
    }

    #[test]
    fn a_web_suppression_names_the_route_and_parameter_whoever_sends() {
        let mut d = Detection::new("xss.script_tag", "XSS", Severity::High, "web");
        d.host = Some("cms".into());
        d.entity = Some(Entity::Ip {
            ip: "192.0.2.10".into(),
        });
        d.evidence = json!({"path": "/admin/posts", "findings": [{"parameter": "body"}]});
        let s = suppression(&d);
        let mut colleague = d.clone();
        colleague.entity = Some(Entity::Ip {
            ip: "192.0.2.11".into(),
        });
        assert!(s.matches(&colleague));
        let mut elsewhere = d;
        elsewhere.evidence["path"] = json!("/search");
        assert!(!s.matches(&elsewhere));
    }

    #[test]
    fn in_force_only_while_active_and_unexpired() {
        let d = Detection::new("r", "t", Severity::Low, "sigma");
        let mut s = suppression(&d);
        let now = Utc::now();
        assert!(s.in_force(now));
        s.expires_at = Some(now - chrono::Duration::seconds(1));
        assert!(!s.in_force(now));
        s.expires_at = None;
        s.state = SuppressionState::Proposed;
        assert!(!s.in_force(now));
    }
}
