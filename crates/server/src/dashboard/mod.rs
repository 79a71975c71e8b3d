//! The web dashboard, served at `/` by `watchpost serve`: pages rendered by the server
//! from the same handlers the API answers with, SVG charts drawn by the server, and one
//! small script (`assets/dashboard/app.js`) that sends the pages' actions to the API and
//! re-renders their live sections when the stream reports a change. Everything is in the
//! binary; no JavaScript toolchain builds it.
//!
//! Who may see which page is in [`crate::auth::access::PAGES`]; a browser logs in with an
//! API key ([`session`]) and keeps the role that key has.

mod assets;
mod html;
mod pages;
pub mod session;
mod svg;

use crate::auth::Role;
use crate::auth::middleware::Principal;
use crate::state::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

/// The dashboard's routes, merged into the server's router under the same gate.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/assets/{file}", get(assets::serve))
        .route("/", get(pages::overview::page))
        .route("/alerts", get(pages::alerts::list))
        .route("/alerts/{id}", get(pages::alerts::detail))
        .route("/incidents", get(pages::incidents::list))
        .route("/incidents/{id}", get(pages::incidents::detail))
        .route("/hosts", get(pages::hosts::list))
        .route("/hosts/{name}", get(pages::hosts::detail))
        .route("/events", get(pages::events::search))
        .route("/rules", get(pages::rules::page))
        .route("/silences", get(pages::silences::page))
        .route("/blocklist", get(pages::blocklist::page))
        .route("/config", get(pages::config::page))
        .route("/api-keys", get(pages::api_keys::page))
        .route("/senders", get(pages::senders::page))
}

/// The page shown to a caller whose key's role is below the page's.
pub fn forbidden(principal: &Principal, needed: Role) -> Response {
    html::problem_page(
        StatusCode::FORBIDDEN,
        "Not allowed",
        &format!(
            "This page needs the {} role; the key `{}` has {}.",
            needed.as_str(),
            principal.name,
            principal.role.as_str()
        ),
    )
}
