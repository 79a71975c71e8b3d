//! `watchpost actions list|show|approve|reject|undo`: response actions through the running
//! server's API, with the same server and key options as `watchpost incidents`.

use crate::alerts_triage::{ServerArg, call, client, target};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ActionsCommand {
    /// The newest actions.
    List {
        /// Only actions in this state: simulated, pending, queued, running, done, failed,
        /// refused, rejected, undone.
        #[arg(long)]
        status: Option<String>,
        /// Only the actions of this incident.
        #[arg(long)]
        incident: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        server: ServerArg,
    },
    /// An action: its target, history, result, undo and blast radius.
    Show {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Approve a pending action: it is carried out, or queued for its host's agent, now.
    Approve {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Turn a pending action down.
    Reject {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Take a done action back (lift its ban, restore its file, unlock, end isolation).
    Undo {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub async fn run(config: &Option<PathBuf>, command: &ActionsCommand) -> anyhow::Result<ExitCode> {
    let http = client()?;
    match command {
        ActionsCommand::List {
            status,
            incident,
            limit,
            server,
        } => {
            let target = target(config, server)?;
            let mut url = format!("{}/api/v1/actions?limit={limit}", target.base);
            for (name, value) in [("status", status), ("incident", incident)] {
                if let Some(value) = value {
                    url.push_str(&format!("&{name}={value}"));
                }
            }
            let list = call(http.get(url), &target).await?;
            for a in list["items"].as_array().into_iter().flatten() {
                print!("{}", line(a));
            }
        }
        ActionsCommand::Show { id, server } => {
            let target = target(config, server)?;
            let a = call(
                http.get(format!("{}/api/v1/actions/{id}", target.base)),
                &target,
            )
            .await?;
            print!("{}{}", line(&a), details(&a));
        }
        ActionsCommand::Approve { id, server } | ActionsCommand::Undo { id, server } => {
            let verb = if matches!(command, ActionsCommand::Approve { .. }) {
                "approve"
            } else {
                "undo"
            };
            let target = target(config, server)?;
            let a = call(
                http.post(format!("{}/api/v1/actions/{id}/{verb}", target.base)),
                &target,
            )
            .await?;
            print!("{}", line(&a));
        }
        ActionsCommand::Reject { id, reason, server } => {
            let target = target(config, server)?;
            let a = call(
                http.post(format!("{}/api/v1/actions/{id}/reject", target.base))
                    .json(&json!({ "reason": reason })),
                &target,
            )
            .await?;
            print!("{}", line(&a));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// One action on one line: id, state, kind, target, last word of its history, its undo.
pub(crate) fn line(a: &Value) -> String {
    let target = &a["target"];
    let aim = match text(target, "type") {
        "address" => text(target, "ip").to_string(),
        "process" => format!(
            "{}/{}",
            text(target, "host"),
            target["pid"].as_i64().unwrap_or(0)
        ),
        "file" => format!("{}:{}", text(target, "host"), text(target, "path")),
        "account" => format!("{}/{}", text(target, "host"), text(target, "user")),
        "host" => text(target, "host").to_string(),
        "app_account" => format!("account {}", text(target, "user")),
        other => other.to_string(),
    };
    let last = a["history"]
        .as_array()
        .and_then(|h| h.last())
        .map(|s| text(s, "what").to_string())
        .unwrap_or_default();
    let undo = match text(a, "undo") {
        "" => String::new(),
        u => format!("  [undo: {u}]"),
    };
    format!(
        "  {} {:<9} {:<15} {:<40} {}{}\n",
        text(a, "id"),
        text(a, "state"),
        text(a, "kind"),
        aim,
        last,
        undo
    )
}

/// History and blast radius, for `show`.
fn details(a: &Value) -> String {
    let mut out = format!(
        "origin: {}\nreason: {}\n",
        text(a, "origin"),
        text(a, "reason")
    );
    if !a["blast_radius"].is_null() {
        out.push_str(&format!("blast radius: {}\n", a["blast_radius"]));
    }
    out.push_str("history:\n");
    for s in a["history"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {}  {}\n",
            text(s, "at"),
            text(s, "by"),
            text(s, "what")
        ));
    }
    out
}
