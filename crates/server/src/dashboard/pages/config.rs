//! The configuration: every setting as a field (secrets masked), grouped by section,
//! editable by admins. Saving sends the whole configuration to `PUT /api/v1/config`,
//! which validates it like the file; each error is shown next to the field it names and
//! nothing changes until the whole configuration is valid.

use super::Query;
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, attr, esc};
use crate::routes::config;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use serde_json::Value;

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(_): Query,
) -> Response {
    let admin = principal.role >= Role::Admin;
    let Json(shown) = config::show(State(state)).await;
    let mut body = String::new();
    match shown["path"].as_str() {
        Some(path) => body.push_str(&format!(
            "<p>From <code>{}</code> (generation {}).</p>",
            esc(path),
            esc(&shown["generation"].to_string())
        )),
        None => body.push_str(
            "<p class=\"notice\">The server runs on defaults and the environment, with no file to \
             write: start it with <code>--config FILE</code> to edit the configuration here.</p>",
        ),
    }
    if let Some(error) = shown["last_error"].as_str() {
        body.push_str(&format!(
            "<p class=\"error\">The last reload of the file failed: {}</p>",
            esc(error)
        ));
    }
    let disabled = if admin { "" } else { " disabled" };
    body.push_str(
        "<form data-api=\"PUT /api/v1/config\" data-wrap=\"config\" data-fields class=\"config\">",
    );
    for (section, value) in shown["config"].as_object().into_iter().flatten() {
        body.push_str(&format!("<fieldset><legend>{}</legend>", esc(section)));
        fields(&mut body, std::slice::from_ref(section), value, disabled);
        body.push_str("</fieldset>");
    }
    if admin {
        body.push_str("<div class=\"sticky\"><button type=\"submit\">Save and apply</button><div data-result></div></div>");
    }
    body.push_str("</form>");
    Layout {
        title: "Configuration",
        section: "/config",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}

/// One field per setting; lists and maps whose keys are names (empty or holding lists)
/// as JSON text.
fn fields(out: &mut String, path: &[String], value: &Value, disabled: &str) {
    if let Value::Object(map) = value
        && !map.is_empty()
    {
        for (key, child) in map {
            let mut child_path = path.to_vec();
            child_path.push(key.clone());
            fields(out, &child_path, child, disabled);
        }
        return;
    }
    let name = path.join(".");
    let named = format!(
        "{}{}",
        attr("name", &name),
        attr(
            "data-path",
            &serde_json::to_string(path).unwrap_or_default()
        )
    );
    let label = esc(&path[1..].join("."));
    let input = match value {
        Value::Bool(b) => format!(
            "<select{named} data-type=\"bool\"{disabled}><option{}>true</option><option{}>false</option></select>",
            if *b { " selected" } else { "" },
            if *b { "" } else { " selected" }
        ),
        Value::Number(n) => format!(
            "<input{named} data-type=\"number\" inputmode=\"decimal\"{}{disabled}>",
            attr("value", &n.to_string())
        ),
        Value::String(s) => format!("<input{named}{}{disabled}>", attr("value", s)),
        Value::Null => {
            format!("<input{named} data-type=\"auto\" placeholder=\"not set\"{disabled}>")
        }
        Value::Array(_) | Value::Object(_) => format!(
            "<textarea{named} data-type=\"json\" rows=\"{}\" spellcheck=\"false\"{disabled}>{}</textarea>",
            serde_json::to_string_pretty(value).map_or(2, |t| t.lines().count().clamp(2, 12)),
            esc(&serde_json::to_string_pretty(value).unwrap_or_default())
        ),
    };
    out.push_str(&format!(
        "<div class=\"field\"{}><label>{label}{input}</label></div>",
        attr("data-field", &name)
    ));
}
