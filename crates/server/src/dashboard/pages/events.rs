//! Event search: the stored events by time, host, source, category, action, address,
//! user and free text, newest first, each openable in full.

use super::{Query, answer, filter_input, next_link, only};
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, error_box, esc, json_block, plain, when};
use crate::routes::events;
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use serde_json::Value;

const FILTERS: &[&str] = &[
    "q",
    "host",
    "source",
    "category",
    "action",
    "source_ip",
    "user",
    "from",
    "to",
    "cursor",
];

pub async fn search(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(raw): Query,
) -> Response {
    let mut query = only(&raw, FILTERS);
    query.insert("limit".into(), "50".into());
    let mut body = String::from("<form method=\"get\" class=\"filters\">");
    body.push_str(&filter_input(&query, "q", "Text", "anywhere in the event"));
    body.push_str(&filter_input(&query, "host", "Host", "web-1"));
    body.push_str(&filter_input(&query, "source", "Source", "agent, syslog…"));
    body.push_str(&filter_input(&query, "category", "Category", "process"));
    body.push_str(&filter_input(&query, "action", "Action", "exec"));
    body.push_str(&filter_input(&query, "source_ip", "Source address", ""));
    body.push_str(&filter_input(&query, "user", "User", ""));
    body.push_str(&filter_input(
        &query,
        "from",
        "From",
        "2026-12-01T00:00:00Z",
    ));
    body.push_str(&filter_input(&query, "to", "To", "RFC 3339 or epoch"));
    body.push_str("<button type=\"submit\">Search</button></form>");
    match answer(events::list(State(state), Q(query.clone())).await) {
        Ok(page) => {
            let list = page["items"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                body.push_str("<p class=\"empty\">No event matches.</p>");
            }
            for event in &list {
                body.push_str(&event_row(event));
            }
            query.remove("limit");
            body.push_str(&next_link("/events", &query, &page["next_cursor"]));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    Layout {
        title: "Events",
        section: "/events",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}

fn event_row(event: &Value) -> String {
    let categories: Vec<String> = event["event"]["category"]
        .as_array()
        .into_iter()
        .flatten()
        .map(plain)
        .collect();
    let what = if let Some(command) = event["process"]["command_line"].as_str() {
        command.to_string()
    } else if let Some(args) = event["process"]["args"]
        .as_array()
        .filter(|a| !a.is_empty())
    {
        args.iter().map(plain).collect::<Vec<_>>().join(" ")
    } else if let Some(url) = event["url"]["original"].as_str() {
        url.to_string()
    } else {
        plain(&event["message"])
    };
    format!(
        "<details class=\"event\"><summary>{} <b>{}</b> <span class=\"tag\">{}</span> <span class=\"tag\">{}</span> <code>{}</code></summary>{}</details>",
        when(&plain(&event["@timestamp"])),
        esc(&plain(&event["host"]["name"])),
        esc(&categories.join(",")),
        esc(&plain(&event["event"]["action"])),
        esc(&what.chars().take(300).collect::<String>()),
        json_block(event)
    )
}
