//! One module per page. Each reads through the API's own handlers, so a page shows
//! exactly what the API answers, and renders HTML from it.

pub mod alerts;
pub mod api_keys;
pub mod blocklist;
pub mod config;
pub mod events;
pub mod hosts;
pub mod incidents;
pub mod overview;
pub mod rules;
pub mod senders;
pub mod silences;

use crate::error::ApiError;
use axum::Json;
use serde_json::Value;
use std::collections::HashMap;

/// The query string a page was asked with, without empty fields (an empty filter box
/// means no filter).
pub type Query = axum::extract::Query<HashMap<String, String>>;

/// An API handler's JSON answer, or its error for the page to show.
pub fn answer(result: Result<Json<Value>, ApiError>) -> Result<Value, ApiError> {
    result.map(|Json(v)| v)
}

/// A query with only the named, non-empty fields.
pub fn only(raw: &HashMap<String, String>, names: &[&str]) -> HashMap<String, String> {
    raw.iter()
        .filter(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The link to the next page of a list: the same query with the cursor.
pub fn next_link(path: &str, query: &HashMap<String, String>, cursor: &Value) -> String {
    let Some(cursor) = cursor.as_str() else {
        return String::new();
    };
    let mut pairs: Vec<_> = query.iter().filter(|(k, _)| *k != "cursor").collect();
    pairs.sort();
    let mut href = format!("{path}?");
    for (k, v) in pairs {
        href.push_str(&format!(
            "{}={}&",
            super::html::url_part(k),
            super::html::url_part(v)
        ));
    }
    href.push_str(&format!("cursor={}", super::html::url_part(cursor)));
    format!(
        "<p class=\"pager\"><a href=\"{}\">Next page →</a></p>",
        super::html::esc(&href)
    )
}

/// A text input of a filter form, keeping what was asked.
pub fn filter_input(raw: &HashMap<String, String>, name: &str, label: &str, hint: &str) -> String {
    let value = raw.get(name).map(String::as_str).unwrap_or("");
    use super::html::attr;
    format!(
        "<label>{label}<input{}{}{}></label>",
        attr("name", name),
        attr("value", value),
        attr("placeholder", hint)
    )
}

/// A select of a filter form, keeping what was asked.
pub fn filter_select(
    raw: &HashMap<String, String>,
    name: &str,
    label: &str,
    options: &[&str],
) -> String {
    let chosen = raw.get(name).map(String::as_str).unwrap_or("");
    let mut out = format!(
        "<label>{label}<select{}><option value=\"\">any</option>",
        super::html::attr("name", name)
    );
    for option in options {
        let selected = if *option == chosen { " selected" } else { "" };
        out.push_str(&format!("<option{selected}>{option}</option>"));
    }
    out.push_str("</select></label>");
    out
}
