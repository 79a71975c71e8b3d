//! `watchpost incidents list|show|assign|note|close`: incidents through the running
//! server's API (so that its correlator sees every change at once), with the same server
//! and key options as `watchpost alerts ack`.

use crate::alerts_triage::{ServerArg, Target, call, client, target};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum IncidentsCommand {
    /// The most recently updated incidents.
    List {
        /// Only incidents in this status: open, investigating, contained, resolved, closed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        server: ServerArg,
    },
    /// An incident: its attack chain, entities, risk terms and timeline.
    Show {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Give an incident to someone (an empty name unassigns it); moves an open incident
    /// to investigating.
    Assign {
        id: String,
        who: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Add a note to an incident's timeline.
    Note {
        id: String,
        text: String,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Close an incident (`--resolved` marks it resolved instead).
    Close {
        id: String,
        #[arg(long)]
        resolved: bool,
        #[command(flatten)]
        server: ServerArg,
    },
}

pub async fn run(config: &Option<PathBuf>, command: &IncidentsCommand) -> anyhow::Result<ExitCode> {
    let http = client()?;
    match command {
        IncidentsCommand::List {
            status,
            limit,
            server,
        } => {
            let target = target(config, server)?;
            let mut url = format!("{}/api/v1/incidents?limit={limit}", target.base);
            if let Some(status) = status {
                url.push_str(&format!("&status={status}"));
            }
            let list = call(http.get(url), &target).await?;
            println!(
                "{:<36} {:<13} {:<8} {:>4} {:>6}  title · assignee",
                "id", "status", "severity", "risk", "alerts"
            );
            for i in list["items"].as_array().into_iter().flatten() {
                println!(
                    "{:<36} {:<13} {:<8} {:>4} {:>6}  {}{}",
                    text(i, "id"),
                    text(i, "status"),
                    text(i, "severity"),
                    i["risk"]["score"].as_u64().unwrap_or(0),
                    i["alert_ids"].as_array().map_or(0, Vec::len),
                    text(i, "title"),
                    i["assignee"]
                        .as_str()
                        .map(|a| format!(" · {a}"))
                        .unwrap_or_default()
                );
            }
        }
        IncidentsCommand::Show { id, server } => {
            let target = target(config, server)?;
            let i = call(
                http.get(format!("{}/api/v1/incidents/{id}", target.base)),
                &target,
            )
            .await?;
            print!("{}", describe(&i));
        }
        IncidentsCommand::Assign { id, who, server } => {
            let target = target(config, server)?;
            let current = call(
                http.get(format!("{}/api/v1/incidents/{id}", target.base)),
                &target,
            )
            .await?;
            let mut body = json!({"assignee": who});
            if current["status"] == "open" && !who.trim().is_empty() {
                body["status"] = json!("investigating");
            }
            changed(&http, &target, id, body).await?;
        }
        IncidentsCommand::Note { id, text, server } => {
            let target = target(config, server)?;
            call(
                http.post(format!("{}/api/v1/incidents/{id}/notes", target.base))
                    .json(&json!({"text": text})),
                &target,
            )
            .await?;
            println!("noted on {id}");
        }
        IncidentsCommand::Close {
            id,
            resolved,
            server,
        } => {
            let target = target(config, server)?;
            let status = if *resolved { "resolved" } else { "closed" };
            changed(&http, &target, id, json!({"status": status})).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn changed(
    http: &reqwest::Client,
    target: &Target,
    id: &str,
    body: Value,
) -> anyhow::Result<()> {
    let i = call(
        http.patch(format!("{}/api/v1/incidents/{id}", target.base))
            .json(&body),
        target,
    )
    .await?;
    println!(
        "{} is {}{}",
        text(&i, "id"),
        text(&i, "status"),
        i["assignee"]
            .as_str()
            .map(|a| format!(", assigned to {a}"))
            .unwrap_or_default()
    );
    Ok(())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// An incident as text: header, risk terms, chain, timeline.
fn describe(i: &Value) -> String {
    let mut out = format!(
        "{} · {} · {} · risk {}\n{}\n{}\nentities: {}\n",
        text(i, "id"),
        text(i, "status"),
        text(i, "severity"),
        i["risk"]["score"].as_u64().unwrap_or(0),
        text(i, "title"),
        text(i, "summary"),
        i["entities"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("\nrisk:\n");
    for t in i["risk"]["terms"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:>3}  {:<11} {}\n",
            t["points"].as_u64().unwrap_or(0),
            text(t, "name"),
            text(t, "why")
        ));
    }
    out.push_str("\nchain:\n");
    for s in i["chain"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:<8} {:<8} {:<14} {}{}\n",
            text(s, "first_seen"),
            text(s, "tactic"),
            text(s, "severity"),
            text(s, "detector"),
            text(s, "title"),
            s["joined_by"]
                .as_str()
                .map(|k| format!("  (via {k})"))
                .unwrap_or_default()
        ));
    }
    out.push_str("\nactions:\n");
    for a in i["actions"].as_array().into_iter().flatten() {
        out.push_str(&crate::actions_cmd::line(a));
    }
    out.push_str("\ntimeline:\n");
    for e in i["timeline"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {}  {}\n",
            text(e, "at"),
            text(e, "by"),
            text(e, "what")
        ));
    }
    out
}
