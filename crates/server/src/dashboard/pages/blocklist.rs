//! The web IDS's blocklist: addresses blocked (by the honeypot, behaviour rules or by
//! hand) with the time left, blocking one, and lifting a block.

use super::Query;
use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::dashboard::html::{Layout, esc, field, table};
use crate::routes::blocklist;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(_): Query,
) -> Response {
    let analyst = principal.role >= Role::Analyst;
    let Json(list) = blocklist::list(State(state)).await;
    let rows: Vec<Vec<String>> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            let ip = field(b, "ip");
            let minutes = b["seconds_left"].as_u64().unwrap_or(0).div_ceil(60);
            let lift = if analyst {
                format!(
                    "<button data-api=\"DELETE /api/v1/blocklist/{}\">Unblock</button><span data-result></span>",
                    esc(&crate::dashboard::html::url_part(&ip))
                )
            } else {
                String::new()
            };
            vec![esc(&ip), esc(&field(b, "reason")), format!("{minutes} min"), lift]
        })
        .collect();
    let mut body = format!(
        "<div data-live id=\"blocklist\">{}</div>",
        table(
            &["Address", "Reason", "Left", ""],
            &rows,
            "No address is blocked."
        )
    );
    if analyst {
        body.push_str(
            "<section class=\"card wide\"><h2>Block an address</h2>\
             <form data-api=\"POST /api/v1/blocklist\">\
             <label>Address<input name=\"ip\" required placeholder=\"203.0.113.7\"></label>\
             <label>For (minutes)<input name=\"minutes\" data-type=\"number\" type=\"number\" min=\"1\" value=\"60\"></label>\
             <label>Reason<input name=\"reason\" required></label>\
             <button type=\"submit\">Block</button><div data-result></div></form></section>",
        );
    }
    Layout {
        title: "Blocklist",
        section: "/blocklist",
        principal: &principal,
        live_topics: "",
    }
    .render(&body)
}
