//! Playbooks as they are written in `[[response.playbooks]]`.

use serde::{Deserialize, Serialize};

/// How a playbook's actions are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// At once, within the budget.
    Auto,
    /// Each waits for an analyst (dashboard, API or CLI).
    Approve,
    /// Written down as "would have done"; nothing is changed.
    Simulate,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approve => "approve",
            Mode::Simulate => "simulate",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "approve" => Ok(Mode::Approve),
            "simulate" => Ok(Mode::Simulate),
            other => Err(format!(
                "unknown mode `{other}`: expected auto, approve or simulate"
            )),
        }
    }
}

/// One playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlaybookConfig {
    /// Its name, unique: actions record it as their origin (`playbook:NAME`).
    pub name: String,
    /// `auto`, `approve` (the default: nothing runs unattended until someone says so) or
    /// `simulate`.
    pub mode: String,
    /// The least risk score (0–100) an incident must reach.
    pub min_risk: u32,
    /// The least severity an incident must reach (`info` … `critical`).
    pub min_severity: Option<String>,
    /// Alertmanager-style matchers (`rule=~"web\\..*"`, `tactic="TA0003"`); each must hold
    /// for at least one alert of the incident. Labels: rule, detector, tactic, severity,
    /// title.
    pub matchers: Vec<String>,
    /// What to do, in order.
    pub actions: Vec<ActionConfig>,
}

impl Default for PlaybookConfig {
    fn default() -> Self {
        PlaybookConfig {
            name: String::new(),
            mode: "approve".into(),
            min_risk: 0,
            min_severity: None,
            matchers: Vec::new(),
            actions: Vec::new(),
        }
    }
}

/// One action of a playbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// `block_address`, `kill_process`, `quarantine_file`, `lock_account`,
    /// `isolate_host`, `suspend_account` or `notify`.
    pub kind: String,
    /// How long it holds before it is undone by itself (`4h`, `30m`); the kind's default
    /// when absent (bans 4h, locks 24h, isolation 1h; kills and quarantines do not expire).
    #[serde(default)]
    pub ttl: Option<String>,
}
