//! MITRE ATT&CK tags: tactics by id and name, techniques, and reading them from Sigma tags.

use serde::{Deserialize, Serialize};

/// An ATT&CK enterprise tactic with its id (`TA0002`) and short name (`execution`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tactic {
    pub id: &'static str,
    pub name: &'static str,
    pub title: &'static str,
}

/// The enterprise tactics, in kill-chain order.
pub const TACTICS: &[Tactic] = &[
    Tactic {
        id: "TA0043",
        name: "reconnaissance",
        title: "Reconnaissance",
    },
    Tactic {
        id: "TA0042",
        name: "resource_development",
        title: "Resource Development",
    },
    Tactic {
        id: "TA0001",
        name: "initial_access",
        title: "Initial Access",
    },
    Tactic {
        id: "TA0002",
        name: "execution",
        title: "Execution",
    },
    Tactic {
        id: "TA0003",
        name: "persistence",
        title: "Persistence",
    },
    Tactic {
        id: "TA0004",
        name: "privilege_escalation",
        title: "Privilege Escalation",
    },
    Tactic {
        id: "TA0005",
        name: "defense_evasion",
        title: "Defense Evasion",
    },
    Tactic {
        id: "TA0006",
        name: "credential_access",
        title: "Credential Access",
    },
    Tactic {
        id: "TA0007",
        name: "discovery",
        title: "Discovery",
    },
    Tactic {
        id: "TA0008",
        name: "lateral_movement",
        title: "Lateral Movement",
    },
    Tactic {
        id: "TA0009",
        name: "collection",
        title: "Collection",
    },
    Tactic {
        id: "TA0011",
        name: "command_and_control",
        title: "Command and Control",
    },
    Tactic {
        id: "TA0010",
        name: "exfiltration",
        title: "Exfiltration",
    },
    Tactic {
        id: "TA0040",
        name: "impact",
        title: "Impact",
    },
];

impl Tactic {
    /// Finds a tactic by id (`TA0002`) or name (`execution`, `privilege-escalation`).
    pub fn lookup(key: &str) -> Option<&'static Tactic> {
        let normalized = key.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        TACTICS
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(&normalized) || t.name == normalized)
    }
}

/// The ATT&CK and compliance tags of a rule or detection, split by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackTags {
    /// Tactic ids, `TA0002`.
    #[serde(default)]
    pub tactics: Vec<String>,
    /// Technique ids, `T1059` or `T1059.001`.
    #[serde(default)]
    pub techniques: Vec<String>,
    /// Everything else (`cve.2021-44228`, `detection.threat_hunting`, `car.2016-04-005`).
    #[serde(default)]
    pub other: Vec<String>,
}

impl AttackTags {
    /// Reads Sigma tags: `attack.execution` → tactic, `attack.t1059.001` → technique,
    /// `attack.g0032` and anything else → other. Duplicates are dropped, order kept.
    pub fn from_sigma_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> AttackTags {
        let mut out = AttackTags::default();
        for tag in tags {
            let lower = tag.trim().to_ascii_lowercase();
            let (bucket, value) = match lower.strip_prefix("attack.") {
                Some(rest) if is_technique(rest) => {
                    (&mut out.techniques, rest.to_ascii_uppercase())
                }
                Some(rest) => match Tactic::lookup(rest) {
                    Some(t) => (&mut out.tactics, t.id.to_string()),
                    None => (&mut out.other, lower.clone()),
                },
                None => (&mut out.other, lower.clone()),
            };
            if !bucket.contains(&value) {
                bucket.push(value);
            }
        }
        out
    }
}

fn is_technique(tag: &str) -> bool {
    let Some(digits) = tag.strip_prefix('t') else {
        return false;
    };
    let (main, sub) = digits.split_once('.').unwrap_or((digits, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sigma_tags() {
        let tags = AttackTags::from_sigma_tags([
            "attack.execution",
            "attack.t1059.001",
            "attack.T1059.001",
            "attack.privilege-escalation",
            "attack.g0032",
            "cve.2021-44228",
        ]);
        assert_eq!(tags.tactics, vec!["TA0002", "TA0004"]);
        assert_eq!(tags.techniques, vec!["T1059.001"]);
        assert_eq!(tags.other, vec!["attack.g0032", "cve.2021-44228"]);
        assert_eq!(
            Tactic::lookup("TA0011").unwrap().name,
            "command_and_control"
        );
    }
}
