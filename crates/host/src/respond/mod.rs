//! Host actions an agent carries out for the server's playbooks and analysts: kill a
//! process tree, quarantine a file, lock a local account, isolate the host from the network
//! while keeping its link to the server. Each returns what it did and what undoing it
//! needs, and each refuses what would harm the host more than the attack did (the first
//! processes, the agent itself, system files, root, a process that is not the one the
//! detection named).

mod account;
mod isolate;
mod kill;
mod quarantine;

pub use isolate::ISOLATION_TABLE;

use std::net::SocketAddr;
use std::path::PathBuf;
use watchpost_core::{Action, ActionKind, ActionResult, ActionTarget};

/// What the host actions need to know about the agent.
#[derive(Debug, Clone)]
pub struct HostActions {
    /// Where quarantined files go (0700, root's).
    pub quarantine_dir: PathBuf,
    /// The server's addresses and port: isolation keeps them reachable.
    pub server: Vec<SocketAddr>,
}

impl HostActions {
    /// Carries out `action` (or its undo, when `action.undoing`).
    pub fn carry_out(&self, action: &Action) -> ActionResult {
        let undo_data = action
            .result
            .as_ref()
            .map(|r| r.undo.clone())
            .unwrap_or_default();
        let outcome = match (&action.kind, &action.target, action.undoing) {
            (ActionKind::KillProcess, ActionTarget::Process { pid, .. }, false) => {
                kill::kill_tree(*pid, action.created_at)
            }
            (ActionKind::QuarantineFile, ActionTarget::File { path, .. }, false) => {
                quarantine::quarantine(&self.quarantine_dir, &action.id.to_string(), path)
            }
            (ActionKind::QuarantineFile, ActionTarget::File { path, .. }, true) => {
                quarantine::restore(path, &undo_data)
            }
            (ActionKind::LockAccount, ActionTarget::Account { user, .. }, false) => {
                account::lock(user)
            }
            (ActionKind::LockAccount, ActionTarget::Account { user, .. }, true) => {
                account::unlock(user, &undo_data)
            }
            (ActionKind::IsolateHost, ActionTarget::Host { .. }, false) => {
                isolate::isolate(&self.server)
            }
            (ActionKind::IsolateHost, ActionTarget::Host { .. }, true) => isolate::release(),
            (kind, target, undoing) => Err(format!(
                "{}{} on {target} is not a host action this agent carries out",
                if undoing { "undoing " } else { "" },
                kind.as_str()
            )),
        };
        match outcome {
            Ok((message, undo)) => ActionResult {
                ok: true,
                message,
                undo,
            },
            Err(message) => ActionResult {
                ok: false,
                message,
                undo: serde_json::Value::Null,
            },
        }
    }
}

/// What an action reports: a sentence for people and the data its undo needs.
type Outcome = Result<(String, serde_json::Value), String>;

/// Runs a program, returning its error output when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program} could not be run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
