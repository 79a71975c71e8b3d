//! Silences: the active and pending ones (and those ended this week), a form for a new
//! one, and expiring one early.

use super::{Query, answer};
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, error_box, esc, field, plain, table, when};
use crate::routes::silences;
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use std::collections::HashMap;

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(_): Query,
) -> Response {
    let analyst = principal.role >= Role::Analyst;
    let mut body = String::from("<div data-live id=\"silences\">");
    let all = HashMap::from([("all".to_string(), "true".to_string())]);
    match answer(silences::list(State(state), Q(all)).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|item| {
                    let s = &item["silence"];
                    let state = plain(&item["state"]);
                    let matchers: Vec<String> = s["matchers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|m| format!("<code>{}</code>", esc(&plain(m))))
                        .collect();
                    let expire = if analyst && state != "expired" {
                        format!(
                            "<button data-api=\"DELETE /api/v1/silences/{}\">Expire</button><span data-result></span>",
                            esc(&field(s, "id"))
                        )
                    } else {
                        String::new()
                    };
                    vec![
                        matchers.join("<br>"),
                        esc(&state),
                        when(&field(s, "starts_at")),
                        when(&field(s, "ends_at")),
                        esc(&field(s, "created_by")),
                        esc(&field(s, "comment")),
                        expire,
                    ]
                })
                .collect();
            body.push_str(&table(
                &["Matchers", "State", "Starts", "Ends", "By", "Comment", ""],
                &rows,
                "No silence in the last 7 days.",
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    if analyst {
        body.push_str(&format!(
            "<section class=\"card wide\"><h2>New silence</h2>\
             <form data-api=\"POST /api/v1/silences\">\
             <label>Matchers, one per line (<code>host=\"web-1\"</code>, <code>rule=~\"ssh-.*\"</code>, <code>severity!=\"critical\"</code>)\
             <textarea name=\"matchers\" data-type=\"lines\" rows=\"3\" required></textarea></label>\
             <label>For (minutes)<input name=\"duration_minutes\" data-type=\"number\" type=\"number\" min=\"1\" value=\"60\"></label>\
             <label>Comment<input name=\"comment\" required placeholder=\"why\"></label>\
             <input type=\"hidden\" name=\"created_by\" value=\"{}\">\
             <button type=\"submit\">Silence</button><div data-result></div></form></section>",
            esc(&principal.name)
        ));
    }
    Layout {
        title: "Silences",
        section: "/silences",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}
