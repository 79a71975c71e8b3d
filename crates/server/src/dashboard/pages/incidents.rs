//! Incidents: the list (status, risk, alerts, assignee), and one incident with its attack
//! chain drawn along the kill chain, its risk terms, the response actions taken or waiting
//! (approve, reject, undo, with what each touches), and its timeline, where an analyst
//! changes its status, takes it, and writes notes.

use super::{Query, answer, filter_select, only};
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{
    Layout, attr, error_box, esc, field, severity, table, url_part, when,
};
use crate::dashboard::svg::{self, ChainMark};
use crate::routes::incidents;
use crate::state::AppState;
use axum::extract::{Extension, Path, Query as Q, State};
use axum::response::Response;
use serde_json::{Value, json};

const STATUSES: &[&str] = &["open", "investigating", "contained", "resolved", "closed"];

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(raw): Query,
) -> Response {
    let query = only(&raw, &["status"]);
    let mut body = String::from("<form method=\"get\" class=\"filters\">");
    body.push_str(&filter_select(&query, "status", "Status", STATUSES));
    body.push_str("<button type=\"submit\">Show</button></form>");
    body.push_str("<div data-live id=\"incidents\">");
    match answer(incidents::list(State(state), Q(query)).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| {
                    let id = field(i, "id");
                    vec![
                        format!(
                            "<a href=\"/incidents/{}\" data-incident>{}</a>",
                            url_part(&id),
                            esc(&field(i, "title"))
                        ),
                        esc(&field(i, "status")),
                        severity(&field(i, "severity")),
                        format!(
                            "<strong>{}</strong>",
                            i["risk"]["score"].as_u64().unwrap_or(0)
                        ),
                        i["alert_ids"].as_array().map_or(0, Vec::len).to_string(),
                        esc(&field(i, "assignee")),
                        when(&field(i, "updated_at")),
                    ]
                })
                .collect();
            body.push_str(&table(
                &[
                    "Incident", "Status", "Severity", "Risk", "Alerts", "Assignee", "Updated",
                ],
                &rows,
                "No incident.",
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    Layout {
        title: "Incidents",
        section: "/incidents",
        principal: &principal,
        live_topics: "incidents",
    }
    .render(&body)
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let analyst = principal.role >= Role::Analyst;
    let mut body = String::new();
    let title;
    match answer(incidents::get(State(state), Path(id.clone())).await) {
        Ok(incident) => {
            title = field(&incident, "title");
            body.push_str("<div data-live id=\"incident-detail\">");
            body.push_str(&format!(
                "<p class=\"headline\">{} <span class=\"status\">{}</span> risk <strong data-risk>{}</strong> · {}</p>",
                severity(&field(&incident, "severity")),
                esc(&field(&incident, "status")),
                incident["risk"]["score"].as_u64().unwrap_or(0),
                esc(&field(&incident, "summary")),
            ));
            if analyst {
                body.push_str(&work_forms(&incident));
            }
            body.push_str(&chain(&incident));
            body.push_str(&risk(&incident));
            body.push_str(&actions(&incident, analyst));
            body.push_str(&timeline(&incident));
            body.push_str("</div>");
        }
        Err(e) => {
            title = "Incident".into();
            body.push_str(&error_box(&e));
        }
    }
    Layout {
        title: &title,
        section: "/incidents",
        principal: &principal,
        live_topics: "incidents,actions",
    }
    .render(&body)
}

/// Status, assignee and note forms, through the incident API.
fn work_forms(incident: &Value) -> String {
    let id = url_part(&field(incident, "id"));
    let current = field(incident, "status");
    let options: String = STATUSES
        .iter()
        .map(|s| {
            let selected = if *s == current { " selected" } else { "" };
            format!("<option{selected}>{s}</option>")
        })
        .collect();
    format!(
        "<section class=\"card wide\"><h2>Work it</h2>\
         <form data-api=\"PATCH /api/v1/incidents/{id}\" class=\"inline\">\
         <label>Status<select name=\"status\">{options}</select></label>\
         <label>Assignee<input name=\"assignee\"{assignee}></label>\
         <button type=\"submit\">Save</button><div data-result></div></form>\
         <form data-api=\"POST /api/v1/incidents/{id}/notes\">\
         <label>Note<textarea name=\"text\" required maxlength=\"4000\"></textarea></label>\
         <button type=\"submit\">Add note</button><div data-result></div></form></section>",
        assignee = attr("value", &field(incident, "assignee")),
    )
}

/// The chain drawn, then its steps as a table numbered alike.
fn chain(incident: &Value) -> String {
    let steps = incident["chain"].as_array().cloned().unwrap_or_default();
    let marks: Vec<ChainMark> = steps
        .iter()
        .map(|s| ChainMark {
            tactic: s["tactic"].as_str().map(str::to_string),
            severity: field(s, "severity"),
            label: format!(
                "{} · {} · {}",
                field(s, "first_seen"),
                field(s, "detector"),
                field(s, "title")
            ),
        })
        .collect();
    let rows: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tactic = s["tactic"]
                .as_str()
                .and_then(watchpost_core::Tactic::lookup)
                .map_or("–", |t| t.title);
            vec![
                (i + 1).to_string(),
                when(&field(s, "first_seen")),
                esc(tactic),
                esc(&field(s, "detector")),
                format!(
                    "<a href=\"/alerts/{}\">{}</a>",
                    url_part(&field(s, "alert_id")),
                    esc(&field(s, "title"))
                ),
                severity(&field(s, "severity")),
                esc(&field(s, "joined_by")),
            ]
        })
        .collect();
    format!(
        "<section class=\"card wide\"><h2>Attack chain</h2>{}{}</section>",
        svg::attack_chain(&marks),
        table(
            &[
                "#",
                "First seen",
                "Tactic",
                "Detector",
                "Alert",
                "Severity",
                "Tied by"
            ],
            &rows,
            "No step."
        )
    )
}

fn risk(incident: &Value) -> String {
    let rows: Vec<Vec<String>> = incident["risk"]["terms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                esc(&field(t, "name")),
                t["points"].as_u64().unwrap_or(0).to_string(),
                esc(&field(t, "why")),
            ]
        })
        .collect();
    format!(
        "<section class=\"card wide\"><h2>Risk {}</h2>{}</section>",
        incident["risk"]["score"].as_u64().unwrap_or(0),
        table(&["Term", "Points", "Why"], &rows, "No term.")
    )
}

/// The response actions, with the buttons their state allows.
fn actions(incident: &Value, analyst: bool) -> String {
    let rows: Vec<Vec<String>> = incident["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let id = url_part(&field(a, "id"));
            let state = field(a, "state");
            let mut buttons = String::new();
            if analyst {
                let button = |verb: &str, label: &str, body: Option<Value>| {
                    format!(
                        "<button data-api=\"POST /api/v1/actions/{id}/{verb}\"{}{}>{label}</button>",
                        body.map(|b| attr("data-body", &b.to_string())).unwrap_or_default(),
                        attr("data-action", verb),
                    )
                };
                match state.as_str() {
                    "pending" => {
                        buttons.push_str(&button("approve", "Approve", None));
                        buttons.push_str(&button(
                            "reject",
                            "Reject",
                            Some(json!({"reason": "rejected in the dashboard"})),
                        ));
                    }
                    "done" if !matches!(field(a, "kind").as_str(), "kill_process" | "notify") => {
                        buttons.push_str(&button("undo", "Undo", None));
                    }
                    _ => {}
                }
                buttons.push_str("<span data-result></span>");
            }
            let last = a["history"]
                .as_array()
                .and_then(|h| h.last())
                .map(|s| field(s, "what"))
                .unwrap_or_default();
            vec![
                esc(&field(a, "kind")),
                esc(&target(&a["target"])),
                format!("<span class=\"status\" data-state>{}</span>", esc(&state)),
                esc(&last),
                esc(&field(a, "undo")),
                buttons,
            ]
        })
        .collect();
    format!(
        "<section class=\"card wide\" id=\"actions\"><h2>Response</h2>{}</section>",
        table(
            &["Action", "Target", "State", "Last step", "Undo", ""],
            &rows,
            "No action: no playbook matched this incident."
        )
    )
}

/// An action's target in a few words.
fn target(t: &Value) -> String {
    match t["type"].as_str().unwrap_or("") {
        "address" => field(t, "ip"),
        "process" => format!("process {} on {}", t["pid"], field(t, "host")),
        "file" => format!("{} on {}", field(t, "path"), field(t, "host")),
        "account" => format!("{} on {}", field(t, "user"), field(t, "host")),
        "host" => field(t, "host"),
        "app_account" => format!("account {}", field(t, "user")),
        "incident" => "this incident".into(),
        other => other.to_string(),
    }
}

fn timeline(incident: &Value) -> String {
    let rows: Vec<Vec<String>> = incident["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                when(&field(e, "at")),
                esc(&field(e, "by")),
                esc(&field(e, "what")),
            ]
        })
        .collect();
    format!(
        "<section class=\"card wide\"><h2>Timeline</h2>{}</section>",
        table(&["When", "Who", "What"], &rows, "Nothing yet.")
    )
}
