//! Alerts: the filtered list with triage (acknowledge, resolve, false positive, silence
//! similar) one by one or on a selection, and one alert with its evidence, its pipeline
//! trace and the notifications sent.

use super::{Query, answer, filter_input, filter_select, next_link, only};
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{
    Layout, error_box, esc, field, host_link, json_block, plain, severity, status, table, when,
};
use crate::routes::alerts;
use crate::state::AppState;
use axum::extract::{Extension, Path, Query as Q, State};
use axum::response::Response;
use serde_json::{Value, json};

const FILTERS: &[&str] = &[
    "status",
    "min_severity",
    "host",
    "rule_id",
    "source_ip",
    "q",
    "from",
    "to",
    "cursor",
    "sort",
];
/// The orders offered, with their names.
const SORTS: &[(&str, &str)] = &[
    ("-last_seen", "most recent"),
    ("-severity", "most severe"),
    ("-first_seen", "newest"),
    ("first_seen", "oldest"),
];
const STATUSES: &[&str] = &["firing", "acknowledged", "resolved"];
const SEVERITIES: &[&str] = &["info", "low", "medium", "high", "critical"];
/// How long "silence similar" silences for.
const SILENCE_MINUTES: i64 = 120;

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(raw): Query,
) -> Response {
    let query = only(&raw, FILTERS);
    let mut body = String::from("<form method=\"get\" class=\"filters\">");
    body.push_str(&filter_select(&query, "status", "Status", STATUSES));
    body.push_str(&filter_select(
        &query,
        "min_severity",
        "Severity at least",
        SEVERITIES,
    ));
    body.push_str(&filter_input(&query, "host", "Host", "web-1"));
    body.push_str(&filter_input(&query, "rule_id", "Rule", "rule id"));
    body.push_str(&filter_input(&query, "source_ip", "Source", "203.0.113.7"));
    body.push_str(&filter_input(&query, "q", "Text", "anywhere in the alert"));
    let chosen = query.get("sort").map_or("-last_seen", String::as_str);
    body.push_str("<label>Order<select name=\"sort\">");
    for (value, label) in SORTS {
        let selected = if *value == chosen { " selected" } else { "" };
        body.push_str(&format!(
            "<option value=\"{value}\"{selected}>{label}</option>"
        ));
    }
    body.push_str("</select></label><button type=\"submit\">Filter</button></form>");
    let triage = principal.role >= Role::Analyst;
    if triage {
        body.push_str(
            "<div class=\"bulk\" data-result-scope><span>Selected:</span>\
             <button data-api=\"POST /api/v1/alerts/bulk\" data-bulk=\"acknowledged\">Acknowledge</button>\
             <button data-api=\"POST /api/v1/alerts/bulk\" data-bulk=\"resolved\">Resolve</button>\
             <button data-api=\"POST /api/v1/alerts/bulk\" data-bulk=\"false_positive\">False positive</button>\
             <span data-result></span></div>",
        );
    }
    body.push_str("<p class=\"notice\" data-new-alerts hidden>New alerts arrived: <button class=\"link\" data-refresh>show them</button></p>");
    match answer(alerts::list(State(state), Q(query.clone())).await) {
        Ok(page) => {
            body.push_str("<div data-live id=\"alert-table\">");
            body.push_str(&alert_table(&page, &principal));
            body.push_str(&next_link("/alerts", &query, &page["next_cursor"]));
            body.push_str("</div>");
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    Layout {
        title: "Alerts",
        section: "/alerts",
        principal: &principal,
        live_topics: "alerts",
    }
    .render(&body)
}

fn alert_table(page: &Value, principal: &Principal) -> String {
    let triage = principal.role >= Role::Analyst;
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let id = field(a, "id");
            let mut row = Vec::new();
            if triage {
                row.push(format!(
                    "<input type=\"checkbox\" name=\"alert\" value=\"{}\" aria-label=\"select\">",
                    esc(&id)
                ));
            }
            row.extend([
                severity(&field(a, "severity")),
                format!(
                    "<a href=\"/alerts/{}\">{}</a><br><small>{}</small>",
                    esc(&id),
                    esc(&field(a, "title")),
                    esc(&field(a, "rule_id"))
                ),
                status(&status_name(a)),
                esc(&field(a, "host")),
                esc(&field(a, "source_ip")),
                esc(&field(a, "count")),
                when(&field(a, "last_seen")),
            ]);
            if triage {
                row.push(actions(a, principal));
            }
            row
        })
        .collect();
    let mut headers = Vec::new();
    if triage {
        headers.push("<input type=\"checkbox\" data-select-all aria-label=\"select all\">");
    }
    headers.extend([
        "Severity",
        "Alert",
        "Status",
        "Host",
        "Source",
        "Count",
        "Last seen",
    ]);
    if triage {
        headers.push("Actions");
    }
    table(&headers, &rows, "No alert matches.")
}

/// `false_positive` when closed as one, else the status.
fn status_name(alert: &Value) -> String {
    if alert["false_positive"].as_bool() == Some(true) {
        "false_positive".into()
    } else {
        field(alert, "status")
    }
}

/// The triage buttons of one alert.
fn actions(alert: &Value, principal: &Principal) -> String {
    let id = esc(&field(alert, "id"));
    let change = |to: &str, label: &str| {
        let body = json!({"status": to, "by": principal.name});
        format!(
            "<button data-api=\"PUT /api/v1/alerts/{id}/status\" data-body=\"{}\" data-action=\"{to}\">{label}</button>",
            esc(&body.to_string())
        )
    };
    let mut matchers = vec![format!("rule={}", quoted(&field(alert, "rule_id")))];
    for label in ["host", "source_ip"] {
        let value = field(alert, label);
        if !value.is_empty() {
            let name = if label == "source_ip" {
                "source_ip"
            } else {
                "host"
            };
            matchers.push(format!("{name}={}", quoted(&value)));
        }
    }
    let silence = json!({
        "matchers": matchers,
        "duration_minutes": SILENCE_MINUTES,
        "created_by": principal.name,
        "comment": format!("silenced from the dashboard: alerts like {}", field(alert, "title")),
    });
    let mut out = String::from("<div class=\"actions\">");
    match field(alert, "status").as_str() {
        "firing" => {
            out.push_str(&change("acknowledged", "Acknowledge"));
            out.push_str(&change("resolved", "Resolve"));
        }
        "acknowledged" => out.push_str(&change("resolved", "Resolve")),
        _ => out.push_str(&change("firing", "Reopen")),
    }
    if alert["false_positive"].as_bool() != Some(true) {
        out.push_str(&change("false_positive", "False positive"));
    }
    out.push_str(&format!(
        "<button data-api=\"POST /api/v1/silences\" data-body=\"{}\" title=\"Silence alerts with the same rule, host and source for {SILENCE_MINUTES} minutes\">Silence similar</button><span data-result></span></div>",
        esc(&silence.to_string())
    ));
    out
}

/// A matcher value in double quotes, with quotes and backslashes escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    let mut body = String::new();
    let title;
    match answer(alerts::get(State(state), Path(id.clone())).await) {
        Ok(found) => {
            let alert = &found["alert"];
            title = field(alert, "title");
            body.push_str("<div data-live id=\"alert-detail\">");
            body.push_str(&format!(
                "<p class=\"headline\">{} {} <span class=\"count\">{} detections</span></p>",
                severity(&field(alert, "severity")),
                status(&status_name(alert)),
                esc(&field(alert, "count"))
            ));
            if principal.role >= Role::Analyst {
                body.push_str(&actions(alert, &principal));
            }
            body.push_str(&facts(alert));
            body.push_str(&history(alert));
            body.push_str("</div>");
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Events</h2>{}</section>",
                events(&found["events"])
            ));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Detections</h2>{}</section>",
                detections(&found["detections"])
            ));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Pipeline trace</h2>{}</section>",
                trace(&found["trace"])
            ));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Notifications</h2>{}</section>",
                notifications(&found["notifications"])
            ));
        }
        Err(e) => {
            title = "Alert".into();
            body.push_str(&error_box(&e));
        }
    }
    Layout {
        title: &title,
        section: "/alerts",
        principal: &principal,
        live_topics: "alerts",
    }
    .render(&body)
}

fn facts(alert: &Value) -> String {
    let mut rows = Vec::new();
    let mut put = |name: &str, value: String| {
        if !value.is_empty() {
            rows.push(vec![esc(name), value]);
        }
    };
    put("Rule", esc(&field(alert, "rule_id")));
    put("Detector", esc(&field(alert, "detector")));
    put("Category", esc(&field(alert, "category")));
    let host = field(alert, "host");
    if !host.is_empty() {
        put("Host", host_link(&host));
    }
    put("Source", esc(&field(alert, "source_ip")));
    put("First seen", when(&field(alert, "first_seen")));
    put("Last seen", when(&field(alert, "last_seen")));
    let tags: Vec<String> = alert["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("<span class=\"tag\">{}</span>", esc(&plain(t))))
        .collect();
    put("Tags", tags.join(" "));
    for (k, v) in alert["labels"].as_object().into_iter().flatten() {
        put(k, esc(&plain(v)));
    }
    put("Id", esc(&field(alert, "id")));
    format!(
        "<section class=\"card wide\"><h2>Facts</h2>{}</section>",
        table(&["", ""], &rows, "")
    )
}

fn history(alert: &Value) -> String {
    let rows: Vec<Vec<String>> = alert["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            vec![
                when(&field(h, "at")),
                esc(&format!("{} → {}", field(h, "from"), field(h, "to"))),
                esc(&field(h, "by")),
                esc(&field(h, "reason")),
            ]
        })
        .collect();
    format!(
        "<section class=\"card wide\"><h2>Status history</h2>{}</section>",
        table(
            &["When", "Change", "By", "Reason"],
            &rows,
            "No status change yet."
        )
    )
}

/// The events behind the alert: what happened, with the process and its ancestry or the
/// web request, and the whole event on demand.
fn events(events: &Value) -> String {
    let list = events.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "<p class=\"empty\">The events are no longer stored (or the alert came without any).</p>".into();
    }
    let mut out = String::new();
    for event in &list {
        out.push_str("<article class=\"event\">");
        out.push_str(&format!(
            "<p>{} <b>{}</b> {}</p>",
            when(&field(event, "@timestamp")),
            esc(&plain(&event["host"]["name"])),
            esc(&field(event, "message"))
        ));
        if let Some(process) = event.get("process").filter(|p| p.is_object()) {
            out.push_str(&ancestry(process));
        }
        if let Some(http) = event.get("http").filter(|h| h.is_object()) {
            out.push_str(&format!(
                "<p class=\"request\"><code>{} {}</code> from {} <small>{}</small></p>",
                esc(&plain(&http["request"]["method"])),
                esc(&plain(&event["url"]["original"])),
                esc(&plain(&event["source"]["ip"])),
                esc(&plain(&event["user_agent"]["original"]))
            ));
        }
        out.push_str(&format!(
            "<details><summary>Whole event</summary>{}</details></article>",
            json_block(event)
        ));
    }
    out
}

/// A process and its parents, the oldest first.
fn ancestry(process: &Value) -> String {
    let mut chain = Vec::new();
    let mut current = Some(process);
    while let Some(p) = current.filter(|p| p.is_object()) {
        chain.push(p);
        current = p.get("parent");
        if chain.len() > 10 {
            break;
        }
    }
    let mut out = String::from("<ol class=\"ancestry\">");
    for p in chain.iter().rev() {
        let args: Vec<String> = p["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(plain)
            .collect();
        let command = if args.is_empty() {
            plain(&p["command_line"]).to_string()
        } else {
            args.join(" ")
        };
        let command = if command.is_empty() {
            plain(&p["name"])
        } else {
            command
        };
        out.push_str(&format!(
            "<li><code>{}</code> <small>pid {} {}</small></li>",
            esc(&command),
            esc(&plain(&p["pid"])),
            esc(&plain(&p["user"]["name"]))
        ));
    }
    out.push_str("</ol>");
    out
}

fn detections(detections: &Value) -> String {
    let rows: Vec<Vec<String>> = detections
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                when(&field(d, "timestamp")),
                severity(&field(d, "severity")),
                format!(
                    "{}<br><small>{}</small>",
                    esc(&field(d, "rule_title")),
                    esc(&field(d, "summary"))
                ),
                format!(
                    "<details><summary>evidence</summary>{}</details>",
                    json_block(&d["evidence"])
                ),
            ]
        })
        .collect();
    table(
        &["When", "Severity", "Rule", "Evidence"],
        &rows,
        "No detection stored.",
    )
}

fn trace(trace: &Value) -> String {
    let rows: Vec<Vec<String>> = trace
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                when(&field(t, "at")),
                esc(&field(t, "stage")),
                esc(&field(t, "verdict")),
                esc([field(t, "route"), field(t, "receiver")].join(" ").trim()),
                esc(&field(t, "detail")),
            ]
        })
        .collect();
    table(
        &["When", "Stage", "Verdict", "Route / receiver", "Detail"],
        &rows,
        "No trace recorded.",
    )
}

fn notifications(list: &Value) -> String {
    let rows: Vec<Vec<String>> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            let notice = &n["notification"];
            vec![
                when(&field(notice, "created_at")),
                esc(&format!(
                    "{} ({})",
                    field(notice, "receiver"),
                    field(notice, "kind")
                )),
                esc(&field(n, "status")),
                esc(&field(n, "attempts")),
                esc(&field(n, "last_error")),
            ]
        })
        .collect();
    table(
        &["When", "Receiver", "Status", "Attempts", "Last error"],
        &rows,
        "No notification listed this alert.",
    )
}
