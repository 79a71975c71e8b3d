//! Senders (admin): every agent and proxy with its state, enrolling one (its token shown
//! once), rotating a token (the old one kept for an hour) and revoking one.

use super::{Query, answer};
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, attr, error_box, esc, field, table, when};
use crate::routes::senders;
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(_): Query,
) -> Response {
    let mut body = String::from("<div data-live id=\"senders\">");
    match answer(senders::list(State(state)).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let id = field(s, "id");
                    let revoked = field(s, "revoked_at");
                    let status = if !revoked.is_empty() {
                        format!("revoked {}", when(&revoked))
                    } else {
                        "active".into()
                    };
                    let actions = if revoked.is_empty() {
                        format!(
                            "<button{} data-body=\"{{}}\" data-show=\"token\">Rotate</button>\
                             <button{} data-confirm=\"Revoke this sender? Its tokens stop working at once.\">Revoke</button><span data-result></span>",
                            attr("data-api", &format!("POST /api/v1/senders/{id}/rotate")),
                            attr("data-api", &format!("DELETE /api/v1/senders/{id}")),
                        )
                    } else {
                        String::new()
                    };
                    vec![
                        esc(&field(s, "name")),
                        format!("<code>{}</code>", esc(&id)),
                        esc(&field(s, "kind")),
                        esc(&field(s, "version")),
                        when(&field(s, "last_seen")),
                        esc(&field(s, "address")),
                        status,
                        actions,
                    ]
                })
                .collect();
            body.push_str(&table(
                &[
                    "Name",
                    "Id",
                    "Kind",
                    "Version",
                    "Last seen",
                    "Address",
                    "State",
                    "",
                ],
                &rows,
                "No sender enrolled.",
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    body.push_str(
        "<section class=\"card wide\"><h2>Enroll a sender</h2>\
         <p class=\"hint\">A revoked sender's name enrolls it again with a new token. Rotating keeps \
         the old token working for an hour.</p>\
         <form data-api=\"POST /api/v1/senders\" data-show=\"token\">\
         <label>Name<input name=\"name\" required placeholder=\"web-1, edge-proxy\"></label>\
         <label>Kind<select name=\"kind\"><option>agent</option><option>proxy</option></select></label>\
         <button type=\"submit\">Enroll</button><div data-result></div></form></section>",
    );
    Layout {
        title: "Senders",
        section: "/senders",
        principal: &principal,
        live_topics: "agents",
    }
    .render(&body)
}
