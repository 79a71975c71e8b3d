//! [`Decision`]: what to do about an address or a network, for how long, and why.
//!
//! Detection, decision and enforcement are separate: a detector reports what it saw, a
//! decision (made by an analyst or a playbook) says "ban this address for four hours", and
//! enforcers (the web shield, the agents, any CrowdSec bouncer reading the decision stream)
//! apply it. A decision is data with a time to live: it ends by itself at `until`, or
//! earlier when someone deletes it, and both are kept so that enforcers learn of the end.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a decision applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionScope {
    /// One address (`value` is an IPv4 or IPv6 address).
    Ip,
    /// A network (`value` is a CIDR such as `203.0.113.0/24`).
    Range,
    /// An application account (`value` is its user name): suspended in every application
    /// whose Watchpost layer, or whose own code, follows these decisions.
    Username,
}

impl DecisionScope {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionScope::Ip => "ip",
            DecisionScope::Range => "range",
            DecisionScope::Username => "username",
        }
    }

    /// The scope as CrowdSec's Local API names it (`Ip`, `Range`).
    pub fn crowdsec_name(self) -> &'static str {
        match self {
            DecisionScope::Ip => "Ip",
            DecisionScope::Range => "Range",
            DecisionScope::Username => "Username",
        }
    }
}

impl std::str::FromStr for DecisionScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "ip" => Ok(DecisionScope::Ip),
            "range" => Ok(DecisionScope::Range),
            "username" => Ok(DecisionScope::Username),
            other => Err(format!(
                "unknown scope `{other}`: expected ip, range or username"
            )),
        }
    }
}

/// A decision about an address or network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Given by the store, in order of creation (enforcers such as CrowdSec bouncers expect
    /// an integer).
    pub id: i64,
    /// What enforcers do: `ban` (refuse every request or packet) is the one they all know.
    #[serde(rename = "type")]
    pub kind: String,
    pub scope: DecisionScope,
    /// The address, or the network in CIDR form, normalised (`2001:db8::1`, `10.0.0.0/8`),
    /// or the account's user name.
    pub value: String,
    /// Who or what made it: `api:<key name>`, `cli`, `playbook:<name>`.
    pub origin: String,
    /// Why: the rule, alert or incident behind it, or the analyst's words.
    pub reason: String,
    #[serde(with = "crate::time::flexible")]
    pub created_at: DateTime<Utc>,
    /// When it ends by itself.
    #[serde(with = "crate::time::flexible")]
    pub until: DateTime<Utc>,
    /// Recorded as "would have done": enforcers never see a simulated decision.
    #[serde(default)]
    pub simulated: bool,
    /// When it was lifted before `until`, and by whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<String>,
}

impl Decision {
    /// In force at `now`: not simulated, not lifted, not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        !self.simulated && self.deleted_at.is_none() && now < self.until
    }

    /// When it stopped being in force: lifted, or expired; `None` while in force.
    pub fn ended_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.deleted_at {
            Some(at) => Some(at.min(self.until)),
            None => (self.until <= now).then_some(self.until),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn decision(now: DateTime<Utc>) -> Decision {
        Decision {
            id: 1,
            kind: "ban".into(),
            scope: DecisionScope::Ip,
            value: "203.0.113.7".into(),
            origin: "cli".into(),
            reason: "sqli".into(),
            created_at: now,
            until: now + Duration::hours(4),
            simulated: false,
            deleted_at: None,
            deleted_by: None,
        }
    }

    #[test]
    fn a_decision_is_in_force_until_it_expires_or_is_lifted() {
        let now = crate::time::now_millis();
        let mut d = decision(now);
        assert!(d.active_at(now));
        assert_eq!(d.ended_at(now), None);
        assert!(!d.active_at(now + Duration::hours(4)));
        assert_eq!(d.ended_at(now + Duration::hours(5)), Some(d.until));
        d.deleted_at = Some(now + Duration::minutes(1));
        assert!(!d.active_at(now + Duration::minutes(2)));
        assert_eq!(d.ended_at(now), d.deleted_at);
        let mut s = decision(now);
        s.simulated = true;
        assert!(!s.active_at(now));
    }

    #[test]
    fn serde_round_trip_and_scope_names() {
        let d = decision(crate::time::now_millis());
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["type"], "ban");
        assert_eq!(json["scope"], "ip");
        assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), d);
        assert_eq!("Range".parse::<DecisionScope>(), Ok(DecisionScope::Range));
        assert!("user".parse::<DecisionScope>().is_err());
    }
}
