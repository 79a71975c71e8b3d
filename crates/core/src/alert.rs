//! [`Alert`]: what people are told about. Repeated detections of the same rule on the same
//! entity fold into one alert with a count, keyed by a stable [`Fingerprint`].

use crate::{Detection, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A stable 64-bit FNV-1a digest of rule, entity and labels, as 16 hex digits.
///
/// Stable across releases and machines (no randomised hasher), so it can key deduplication,
/// PagerDuty's `dedup_key` and the store's unique index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    /// The fingerprint of a rule, an optional entity key and labels (order-independent,
    /// since labels are a sorted map).
    pub fn compute(rule_id: &str, entity: Option<&str>, labels: &BTreeMap<String, String>) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
            // A separator that cannot occur in UTF-8 keeps ("ab","c") apart from ("a","bc").
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        };
        feed(rule_id.as_bytes());
        feed(entity.unwrap_or("").as_bytes());
        for (k, v) in labels {
            feed(k.as_bytes());
            feed(v.as_bytes());
        }
        Fingerprint(format!("{hash:016x}"))
    }

    /// The fingerprint a detection folds into.
    pub fn of_detection(d: &Detection, labels: &BTreeMap<String, String>) -> Self {
        let entity = d.entity.as_ref().map(ToString::to_string);
        Fingerprint::compute(&d.rule_id, entity.as_deref(), labels)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lifecycle of an alert. `Acknowledged` means a person owns it; `Resolved` means it is over
/// (by hand, by the detector, or by timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl FromStr for AlertStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "firing" => Ok(AlertStatus::Firing),
            "acknowledged" => Ok(AlertStatus::Acknowledged),
            "resolved" => Ok(AlertStatus::Resolved),
            _ => Err(format!(
                "unknown alert status `{s}`: expected firing, acknowledged or resolved"
            )),
        }
    }
}

/// One alert: the fold of every detection with the same fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: Uuid,
    pub fingerprint: Fingerprint,
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The detector that raised it (`sigma`, `web`, `fim`…), for routing.
    #[serde(default)]
    pub detector: String,
    /// The detection category (`sqli`, `process_creation`…), for routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// ATT&CK tactic and technique ids and the rule's other tags, for routing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(with = "crate::time::flexible")]
    pub first_seen: DateTime<Utc>,
    #[serde(with = "crate::time::flexible")]
    pub last_seen: DateTime<Utc>,
    /// How many detections folded into this alert.
    pub count: u64,
    /// The most recent detection, for context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_detection_id: Option<Uuid>,
    /// Set when someone closed it as a false positive.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub false_positive: bool,
    /// The origin of the detection that opened it ([`Detection::origin`]): a sender's
    /// resolve may close only an alert it opened itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<String>,
    /// Its status changes, oldest first (the most recent [`MAX_STATUS_HISTORY`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<StatusChange>,
}

/// Status changes kept per alert.
pub const MAX_STATUS_HISTORY: usize = 100;

/// One change of an alert's status, and who or what made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    #[serde(with = "crate::time::flexible")]
    pub at: DateTime<Utc>,
    pub from: AlertStatus,
    pub to: AlertStatus,
    /// A person (`ana`), or what acted (`detection`, `resolve_timeout`).
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Alert {
    /// A new firing alert from its first detection.
    pub fn from_detection(d: &Detection, labels: BTreeMap<String, String>) -> Alert {
        Alert {
            id: Uuid::now_v7(),
            fingerprint: Fingerprint::of_detection(d, &labels),
            rule_id: d.rule_id.clone(),
            title: d.rule_title.clone(),
            severity: d.severity,
            status: AlertStatus::Firing,
            labels,
            detector: d.detector.clone(),
            category: d.category.clone(),
            tags: d
                .attack
                .tactics
                .iter()
                .chain(&d.attack.techniques)
                .chain(&d.attack.other)
                .cloned()
                .collect(),
            host: d.host.clone(),
            source_ip: d.source_ip().map(str::to_string),
            first_seen: d.timestamp,
            last_seen: d.timestamp,
            count: 1,
            last_detection_id: Some(d.id),
            false_positive: false,
            opened_by: d.origin.clone(),
            history: Vec::new(),
        }
    }

    /// Whether a resolve from `origin` may close this alert: the server's own detectors
    /// (no origin) may close any; a sender only what its own detection opened.
    pub fn may_be_resolved_by(&self, origin: Option<&str>) -> bool {
        origin.is_none() || origin == self.opened_by.as_deref()
    }

    /// Moves the alert to `to`, recording who did it and why. Returns `false` (and changes
    /// nothing) when it is already there.
    pub fn change_status(
        &mut self,
        to: AlertStatus,
        by: &str,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> bool {
        if self.status == to {
            return false;
        }
        self.history.push(StatusChange {
            at,
            from: self.status,
            to,
            by: by.to_string(),
            reason,
        });
        if self.history.len() > MAX_STATUS_HISTORY {
            let excess = self.history.len() - MAX_STATUS_HISTORY;
            self.history.drain(..excess);
        }
        self.status = to;
        true
    }

    /// Folds `d` into `alerts` (keyed by fingerprint): a repeat counts into its alert, a new
    /// fingerprint opens one, and a detector's resolve ([`Detection::resolves`]) resolves
    /// the open alert it names, by `detector:NAME`, and opens none. Returns the fingerprint
    /// of the alert that changed, if one did.
    pub fn fold(alerts: &mut BTreeMap<Fingerprint, Alert>, d: &Detection) -> Option<Fingerprint> {
        let fp = Fingerprint::of_detection(d, &BTreeMap::new());
        if d.resolves {
            let alert = alerts
                .get_mut(&fp)
                .filter(|a| a.may_be_resolved_by(d.origin.as_deref()))?;
            let by = format!("detector:{}", d.detector);
            let reason = Some(if d.summary.is_empty() {
                d.rule_title.clone()
            } else {
                d.summary.clone()
            });
            return alert
                .change_status(AlertStatus::Resolved, &by, reason, d.timestamp)
                .then_some(fp);
        }
        match alerts.get_mut(&fp) {
            Some(alert) => alert.absorb(d),
            None => {
                alerts.insert(fp.clone(), Alert::from_detection(d, BTreeMap::new()));
            }
        }
        Some(fp)
    }

    /// Folds a repeat detection in: count, last seen, the highest severity seen. A resolved
    /// alert that fires again is firing again.
    pub fn absorb(&mut self, d: &Detection) {
        self.count += 1;
        if d.timestamp > self.last_seen {
            self.last_seen = d.timestamp;
        }
        if d.timestamp < self.first_seen {
            self.first_seen = d.timestamp;
        }
        self.severity = self.severity.max(d.severity);
        self.last_detection_id = Some(d.id);
        if self.status == AlertStatus::Resolved {
            self.false_positive = false;
            self.change_status(
                AlertStatus::Firing,
                "detection",
                Some(format!("detected again ({})", d.rule_id)),
                d.timestamp,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Entity;

    fn detection(ip: &str, severity: Severity) -> Detection {
        let mut d = Detection::new("web.sqli", "SQL injection", severity, "web");
        d.entity = Some(Entity::Ip { ip: ip.into() });
        d
    }

    #[test]
    fn a_detectors_resolve_closes_its_open_alert_and_opens_none() {
        let mut alerts = BTreeMap::new();
        let raised = detection("198.51.100.1", Severity::High);
        let fp = Alert::fold(&mut alerts, &raised).unwrap();
        let mut over = detection("198.51.100.1", Severity::Info);
        over.resolves = true;
        over.summary = "back to normal".into();
        assert_eq!(Alert::fold(&mut alerts, &over), Some(fp.clone()));
        let alert = &alerts[&fp];
        assert_eq!(alert.status, AlertStatus::Resolved);
        assert_eq!(alert.count, 1, "a resolve is not a repeat");
        let last = alert.history.last().unwrap();
        assert_eq!(last.by, "detector:web");
        assert_eq!(last.reason.as_deref(), Some("back to normal"));
        // Resolving again, or resolving what never fired, changes nothing.
        assert_eq!(Alert::fold(&mut alerts, &over), None);
        let mut elsewhere = detection("198.51.100.2", Severity::Info);
        elsewhere.resolves = true;
        assert_eq!(Alert::fold(&mut alerts, &elsewhere), None);
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn a_senders_resolve_closes_only_what_it_opened() {
        let mut alerts = BTreeMap::new();
        let raised = detection("198.51.100.1", Severity::High);
        let fp = Alert::fold(&mut alerts, &raised).unwrap();
        assert_eq!(alerts[&fp].opened_by, None);
        let mut forged = detection("198.51.100.1", Severity::Info);
        forged.resolves = true;
        forged.origin = Some("sender:agent1".into());
        assert_eq!(Alert::fold(&mut alerts, &forged), None, "server-opened");
        assert_eq!(alerts[&fp].status, AlertStatus::Firing);

        let mut own = detection("198.51.100.2", Severity::High);
        own.origin = Some("sender:proxy1".into());
        let own_fp = Alert::fold(&mut alerts, &own).unwrap();
        assert_eq!(alerts[&own_fp].opened_by.as_deref(), Some("sender:proxy1"));
        let mut other = own.clone();
        other.resolves = true;
        other.origin = Some("sender:agent1".into());
        assert_eq!(Alert::fold(&mut alerts, &other), None, "another sender's");
        other.origin = Some("sender:proxy1".into());
        assert_eq!(Alert::fold(&mut alerts, &other), Some(own_fp.clone()));
        assert_eq!(alerts[&own_fp].status, AlertStatus::Resolved);
    }

    #[test]
    fn fingerprint_is_stable_and_separates_entities() {
        let labels = BTreeMap::from([("route".to_string(), "/login".to_string())]);
        let a = Fingerprint::of_detection(&detection("198.51.100.1", Severity::High), &labels);
        let b = Fingerprint::of_detection(&detection("198.51.100.1", Severity::Low), &labels);
        let c = Fingerprint::of_detection(&detection("198.51.100.2", Severity::High), &labels);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Pinned value: a change here breaks dedup keys already stored and sent to PagerDuty.
        assert_eq!(
            Fingerprint::compute("r", Some("ip:1.2.3.4"), &BTreeMap::new()).0,
            "cb10df9d220ceb48"
        );
        assert_ne!(
            Fingerprint::compute("ab", Some("c"), &BTreeMap::new()),
            Fingerprint::compute("a", Some("bc"), &BTreeMap::new())
        );
    }

    #[test]
    fn absorb_counts_and_refires() {
        let first = detection("198.51.100.1", Severity::Medium);
        let mut alert = Alert::from_detection(&first, BTreeMap::new());
        alert.status = AlertStatus::Resolved;
        alert.absorb(&detection("198.51.100.1", Severity::Critical));
        assert_eq!(alert.count, 2);
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.status, AlertStatus::Firing);
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(serde_json::from_value::<Alert>(json).unwrap(), alert);
    }
}
