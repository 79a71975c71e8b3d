//! API keys (admin): every key with its role, expiry and last use, making one (shown
//! once), revoking one, and the latest state-changing calls.

use super::{Query, answer};
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, error_box, esc, field, table, when};
use crate::routes::api_keys;
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use std::collections::HashMap;

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(_): Query,
) -> Response {
    let mut body = String::from("<div data-live id=\"api-keys\">");
    match answer(api_keys::list(State(state.clone())).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    let id = field(k, "id");
                    vec![
                        esc(&field(k, "name")),
                        format!("<code>wpk_{}</code>", esc(&id)),
                        esc(&field(k, "role")),
                        when(&field(k, "created_at")),
                        when(&field(k, "expires_at")),
                        when(&field(k, "last_used_at")),
                        format!(
                            "<button data-api=\"DELETE /api/v1/api-keys/{}\" data-confirm=\"Revoke this key? Whoever uses it loses access at once.\">Revoke</button><span data-result></span>",
                            esc(&id)
                        ),
                    ]
                })
                .collect();
            body.push_str(&table(
                &["Name", "Id", "Role", "Created", "Expires", "Last used", ""],
                &rows,
                "No key.",
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    body.push_str(
        "<section class=\"card wide\"><h2>New key</h2>\
         <form data-api=\"POST /api/v1/api-keys\" data-show=\"key\">\
         <label>Name<input name=\"name\" required placeholder=\"ci, grafana, alice\"></label>\
         <label>Role<select name=\"role\"><option>viewer</option><option>analyst</option><option>admin</option></select></label>\
         <label>Expires in (days, empty for never)<input name=\"expires_in_days\" data-type=\"number\" type=\"number\" min=\"1\"></label>\
         <button type=\"submit\">Create</button><div data-result></div></form></section>",
    );
    let recent = HashMap::from([("limit".to_string(), "50".to_string())]);
    match answer(api_keys::calls(State(state), Q(recent)).await) {
        Ok(calls) => {
            let rows: Vec<Vec<String>> = calls["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    vec![
                        when(&field(c, "at")),
                        esc(&field(c, "actor")),
                        esc(&format!("{} {}", field(c, "method"), field(c, "path"))),
                        esc(&field(c, "status")),
                        esc(&field(c, "client_ip")),
                    ]
                })
                .collect();
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Latest changes through the API</h2>{}</section>",
                table(
                    &["When", "Who", "Call", "Status", "From"],
                    &rows,
                    "No call recorded."
                )
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    Layout {
        title: "API keys",
        section: "/api-keys",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}
