//! [`Action`]: one thing a response does about an incident (ban an address, kill a
//! process tree, quarantine a file, lock an account, isolate a host, notify), with who
//! asked, why, its result and how to undo it.
//!
//! An action is a record before it is a deed: a playbook proposes it, a guard may refuse
//! it, an analyst may have to approve it, a simulation only writes it down, an agent
//! carries it out and reports back, and someone may undo it later. Every step stays on the
//! record, so the incident shows what was done and how to take it back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Ban an address at every proxy, tower layer and bouncer (a decision).
    BlockAddress,
    /// Kill a process and every process below it, on its host, through the agent.
    KillProcess,
    /// Move a file aside with its hash and metadata, restorable, through the agent.
    QuarantineFile,
    /// Lock a local account (password and expiry) on a host, through the agent.
    LockAccount,
    /// Cut a host off the network except its link to the server, through the agent.
    IsolateHost,
    /// Suspend an application account: a decision every Watchpost layer (and any
    /// application following the decision stream) enforces, and a signed webhook to the
    /// applications configured.
    SuspendAccount,
    /// Raise an alert about the incident through the alert pipeline (routed, notified,
    /// ticketed like any alert).
    Notify,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::BlockAddress,
        ActionKind::KillProcess,
        ActionKind::QuarantineFile,
        ActionKind::LockAccount,
        ActionKind::IsolateHost,
        ActionKind::SuspendAccount,
        ActionKind::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::BlockAddress => "block_address",
            ActionKind::KillProcess => "kill_process",
            ActionKind::QuarantineFile => "quarantine_file",
            ActionKind::LockAccount => "lock_account",
            ActionKind::IsolateHost => "isolate_host",
            ActionKind::SuspendAccount => "suspend_account",
            ActionKind::Notify => "notify",
        }
    }

    /// Carried out by the agent of the target's host (the server only queues it).
    pub fn on_host(self) -> bool {
        matches!(
            self,
            ActionKind::KillProcess
                | ActionKind::QuarantineFile
                | ActionKind::LockAccount
                | ActionKind::IsolateHost
        )
    }
}

impl std::str::FromStr for ActionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ActionKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action `{s}`: expected one of {}",
                    ActionKind::ALL.map(|k| k.as_str()).join(", ")
                )
            })
    }
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// Recorded only: the playbook runs in `simulate` mode ("would have done").
    Simulated,
    /// Waiting for an analyst's approval.
    Pending,
    /// Approved or automatic, waiting for the agent of its host to take it.
    Queued,
    /// Taken by the agent, result not yet reported.
    Running,
    Done,
    Failed,
    /// A guard refused it (loopback, allowlisted, the server's own address…).
    Refused,
    /// An analyst turned it down.
    Rejected,
    /// Taken back, by a person or because its time to live ran out.
    Undone,
}

impl ActionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionState::Simulated => "simulated",
            ActionState::Pending => "pending",
            ActionState::Queued => "queued",
            ActionState::Running => "running",
            ActionState::Done => "done",
            ActionState::Failed => "failed",
            ActionState::Refused => "refused",
            ActionState::Rejected => "rejected",
            ActionState::Undone => "undone",
        }
    }
}

impl std::str::FromStr for ActionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            format!(
                "unknown action state `{s}`: expected simulated, pending, queued, running, done, failed, refused, rejected or undone"
            )
        })
    }
}

/// What an action is aimed at, as the playbook found it in the incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionTarget {
    Address {
        ip: String,
    },
    Process {
        host: String,
        pid: i64,
    },
    File {
        host: String,
        path: String,
    },
    Account {
        host: String,
        user: String,
    },
    Host {
        host: String,
    },
    /// An account of the applications (not of a host).
    AppAccount {
        user: String,
    },
    Incident {
        id: Uuid,
    },
}

impl ActionTarget {
    /// The host whose agent carries the action out, for host actions.
    pub fn host(&self) -> Option<&str> {
        match self {
            ActionTarget::Process { host, .. }
            | ActionTarget::File { host, .. }
            | ActionTarget::Account { host, .. }
            | ActionTarget::Host { host } => Some(host),
            ActionTarget::Address { .. }
            | ActionTarget::AppAccount { .. }
            | ActionTarget::Incident { .. } => None,
        }
    }
}

impl std::fmt::Display for ActionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionTarget::Address { ip } => write!(f, "ip:{ip}"),
            ActionTarget::Process { host, pid } => write!(f, "process:{host}/{pid}"),
            ActionTarget::File { host, path } => write!(f, "file:{host}:{path}"),
            ActionTarget::Account { host, user } => write!(f, "user:{host}/{user}"),
            ActionTarget::Host { host } => write!(f, "host:{host}"),
            ActionTarget::AppAccount { user } => write!(f, "account:{user}"),
            ActionTarget::Incident { id } => write!(f, "incident:{id}"),
        }
    }
}

/// What the agent or the server reports having done, and what undoing it needs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub ok: bool,
    /// What happened, for people (`killed 3 processes: 4242 sh, 4250 curl, 4251 sh`).
    pub message: String,
    /// What the undo needs (the quarantined copy's path and hash, the decision's id, the
    /// nftables table's name…), for the program.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub undo: serde_json::Value,
}

/// One action of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub id: Uuid,
    pub kind: ActionKind,
    pub target: ActionTarget,
    pub state: ActionState,
    /// The incident it answers, when a playbook proposed it for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
    /// The playbook that proposed it, or `api:<key>` for a person.
    pub origin: String,
    /// Why: the playbook's name and what matched, or a person's words.
    pub reason: String,
    /// How long the action holds before it is undone by itself (bans, isolation, locks),
    /// in seconds; 0 for actions that do not last (kill) or last until undone (quarantine).
    #[serde(default)]
    pub ttl_seconds: u64,
    #[serde(with = "crate::time::flexible")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::flexible")]
    pub updated_at: DateTime<Utc>,
    /// When it took effect (done), for its time to live.
    #[serde(
        default,
        with = "crate::time::flexible_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub done_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ActionResult>,
    /// What taking it back does, for people (`lift decision 17`, `restore /etc/cron.d/x`).
    #[serde(default)]
    pub undo: String,
    /// Set while an undo is queued for the agent (a `queued` or `running` action with
    /// `undoing` is being taken back, not carried out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undoing: bool,
    /// Who did what to it, in order (`proposed by playbook contain`, `approved by api:ana`).
    #[serde(default)]
    pub history: Vec<ActionStep>,
}

/// One line of an action's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionStep {
    #[serde(with = "crate::time::flexible")]
    pub at: DateTime<Utc>,
    pub by: String,
    pub what: String,
}

impl Action {
    /// A new action proposed now.
    pub fn new(kind: ActionKind, target: ActionTarget, origin: &str, reason: &str) -> Action {
        let now = crate::time::now_millis();
        Action {
            id: Uuid::now_v7(),
            kind,
            target,
            state: ActionState::Pending,
            incident_id: None,
            origin: origin.to_string(),
            reason: reason.to_string(),
            ttl_seconds: 0,
            created_at: now,
            updated_at: now,
            done_at: None,
            result: None,
            undo: String::new(),
            undoing: false,
            history: Vec::new(),
        }
    }

    /// Moves it to `state`, with a line in its history.
    pub fn step(&mut self, state: ActionState, by: &str, what: impl Into<String>) {
        let now = crate::time::now_millis();
        self.state = state;
        self.updated_at = now;
        if self.history.len() < MAX_HISTORY {
            self.history.push(ActionStep {
                at: now,
                by: by.to_string(),
                what: what.into(),
            });
        }
    }

    /// Its host, for actions an agent carries out.
    pub fn host(&self) -> Option<&str> {
        if self.kind.on_host() {
            self.target.host()
        } else {
            None
        }
    }
}

/// History lines kept per action at most.
pub const MAX_HISTORY: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_states_round_trip_by_name() {
        for kind in ActionKind::ALL {
            assert_eq!(kind.as_str().parse::<ActionKind>().unwrap(), kind);
        }
        assert!("format_disk".parse::<ActionKind>().is_err());
        assert_eq!(
            "queued".parse::<ActionState>().unwrap(),
            ActionState::Queued
        );
        assert!("whenever".parse::<ActionState>().is_err());
    }

    #[test]
    fn only_host_actions_name_a_host() {
        let mut a = Action::new(
            ActionKind::BlockAddress,
            ActionTarget::Address {
                ip: "203.0.113.7".into(),
            },
            "playbook:contain",
            "sqli",
        );
        assert_eq!(a.host(), None);
        a.kind = ActionKind::KillProcess;
        a.target = ActionTarget::Process {
            host: "web-1".into(),
            pid: 42,
        };
        assert_eq!(a.host(), Some("web-1"));
        a.step(ActionState::Queued, "watchpost", "automatic");
        assert_eq!(a.history.len(), 1);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["target"]["type"], "process");
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), a);
    }
}
