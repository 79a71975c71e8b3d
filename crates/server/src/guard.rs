//! The checks every request passes before it is routed, whether or not authentication is
//! on, and the headers every answer carries.
//!
//! - **Host**: a request must name this server (`api.server_names`, the address it
//!   listens on, or a loopback name), else 421. A page on another site that had its DNS
//!   name rebound to this server's address names its own host and is refused.
//! - **Origin**: a state change or a WebSocket upgrade that carries an `Origin` must come
//!   from this server's own origin (scheme, host and port compared) or one listed in
//!   `api.cors_origins`, else 403. Browsers send `Origin` with every such request; a
//!   client without one is not a browser that another site's page drives.
//! - **Content type**: a POST or PUT with a body and without an API key header must be
//!   JSON (a JSON content type makes a browser ask first, and the answer denies other
//!   sites), else 415. The dashboard's login and logout forms are the exception, and need their own
//!   origin in `Origin`.
//! - **Headers on every answer**: a Content-Security-Policy without inline script, no
//!   framing, `nosniff`, no referrer to other sites.
//!
//! What the origin check found is left in the request ([`OriginCheck`]) for the
//! authorisation step, which asks more of a request carried by the login cookie.

use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use watchpost_config::ConfigHandle;

/// The dashboard's and Swagger UI's policy: scripts and styles from the server only
/// (inline style attributes allowed, inline script not), no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Where and how the server listens, as a browser sees it.
#[derive(Debug, Clone)]
pub struct Listening {
    pub scheme: &'static str,
    pub addr: SocketAddr,
}

/// What the guard needs.
pub struct GuardState {
    pub config: Arc<ConfigHandle>,
    pub listening: Listening,
    pub metrics: Arc<Metrics>,
}

/// What the request's `Origin` said, for the authorisation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginCheck {
    /// No `Origin` header.
    Absent,
    /// This server's own origin.
    SameOrigin,
    /// An origin `api.cors_origins` lists.
    Allowed,
    /// Another origin: it may read what CORS grants it, and change nothing.
    Foreign,
}

/// The middleware: see the module doc.
pub async fn guard(
    State(guard): State<Arc<GuardState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = guard.config.get();
    let api = &config.api;
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(host) = host
        && !host_served(host, &guard.listening, api)
    {
        guard.metrics.refusal("host_not_served", 1);
        return secured(
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "host_not_served",
                format!(
                    "this server does not answer for `{host}`: list the names it is reached by in \
                     api.server_names"
                ),
            )
            .into_response(),
        );
    }
    let origin = match headers.get(header::ORIGIN) {
        None => OriginCheck::Absent,
        Some(value) => {
            let value = value.to_str().unwrap_or("");
            if host.is_some_and(|h| same_origin(value, guard.listening.scheme, h)) {
                OriginCheck::SameOrigin
            } else if api.enable_cors
                && api
                    .cors_origins
                    .iter()
                    .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(value))
            {
                OriginCheck::Allowed
            } else {
                OriginCheck::Foreign
            }
        }
    };
    let method = request.method().clone();
    let path = request.uri().path();
    let changes = crate::auth::access::changes_state(&method);
    let form = matches!(path, "/login" | "/logout") && method == Method::POST;
    if origin == OriginCheck::Foreign && (changes || is_upgrade(headers)) {
        guard.metrics.refusal("cross_origin", 1);
        return secured(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "a change or a live stream must come from this server's own origin or one in \
                 api.cors_origins (the Origin header names another)",
            )
            .into_response(),
        );
    }
    if form && origin != OriginCheck::SameOrigin {
        guard.metrics.refusal("cross_origin", 1);
        return secured(
            ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "logging in and out must come from the dashboard's own login page (its Origin \
                 header names another site, or none)",
            )
            .into_response(),
        );
    }
    if changes
        && !form
        && matches!(method, Method::POST | Method::PUT | Method::PATCH)
        && !carries_key_header(headers)
        && has_body(headers)
        && !is_json(headers)
    {
        guard.metrics.refusal("not_json", 1);
        return secured(
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "json_required",
                "a change sent without an API key header must be JSON: send `Content-Type: \
                 application/json` (or application/x-ndjson for events)",
            )
            .into_response(),
        );
    }
    request.extensions_mut().insert(origin);
    secured(next.run(request).await)
}

/// Whether the request asks to become a WebSocket (the live stream).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether the request names its caller in a header a page on another site cannot set
/// without the browser asking this server first.
fn carries_key_header(headers: &HeaderMap) -> bool {
    headers.contains_key("x-api-key") || headers.contains_key(header::AUTHORIZATION)
}

/// Whether a request declares a body: a content type, or a length other than zero. (A
/// change without one carries nothing a form or a page could have forged beyond what
/// the `Origin` check refuses.)
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::CONTENT_TYPE)
        || headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence == "application/x-ndjson"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Adds the security headers to an answer.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// A host and port as written in a `Host` header or an origin (`[::1]:8080`, `x.org`).
fn split_host_port(authority: &str) -> (String, Option<u16>) {
    let authority = authority.trim();
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return (format!("[{}]", host.to_ascii_lowercase()), port);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_ascii_lowercase(), port.parse().ok()),
        _ => (authority.to_ascii_lowercase(), None),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" { 443 } else { 80 }
}

/// Whether `origin` (`scheme://host[:port]`) is the origin of a request sent to `host`
/// over `scheme`: scheme, host and port all equal, default ports filled in.
pub fn same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    let Some((origin_scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme) || authority.contains(['/', '@']) {
        return false;
    }
    let (origin_host, origin_port) = split_host_port(authority);
    let (host, port) = split_host_port(host);
    origin_host == host
        && origin_port.unwrap_or(default_port(scheme)) == port.unwrap_or(default_port(scheme))
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request naming `host` in its `Host` header is for this server.
pub fn host_served(host: &str, listening: &Listening, api: &watchpost_config::ApiConfig) -> bool {
    let (name, port) = split_host_port(host);
    if is_loopback_name(&name) {
        return true;
    }
    let listen_ip = listening.addr.ip();
    if !listen_ip.is_unspecified()
        && name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            == Ok(listen_ip)
    {
        return true;
    }
    let named = api.server_names.iter().any(|served| {
        let (served_name, served_port) = split_host_port(served);
        served_name == name && served_port.is_none_or(|p| Some(p) == port)
    });
    if named {
        return true;
    }
    // With no names given, a server reachable beyond loopback with keys required answers
    // whatever name it is reached by: the keys protect it, and an operator need not list
    // names to start.
    api.server_names.is_empty() && !listen_ip.is_loopback() && api.enable_authentication
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "http://127.0.0.1:8080",
            "http",
            "127.0.0.1:8080"
        ));
        assert!(same_origin(
            "http://LOCALHOST:8080",
            "http",
            "localhost:8080"
        ));
        assert!(same_origin(
            "https://soc.example",
            "https",
            "soc.example:443"
        ));
        assert!(same_origin("http://[::1]:80", "http", "[::1]"));
        assert!(!same_origin(
            "http://127.0.0.1:8081",
            "http",
            "127.0.0.1:8080"
        ));
        assert!(!same_origin(
            "https://127.0.0.1:8080",
            "http",
            "127.0.0.1:8080"
        ));
        assert!(!same_origin(
            "http://evil.example",
            "http",
            "127.0.0.1:8080"
        ));
        assert!(!same_origin("null", "http", "127.0.0.1:8080"));
        assert!(!same_origin(
            "http://a@127.0.0.1:8080",
            "http",
            "127.0.0.1:8080"
        ));
    }

    #[test]
    fn only_the_servers_names_are_served() {
        let mut api = watchpost_config::ApiConfig::default();
        let loopback = Listening {
            scheme: "http",
            addr: "127.0.0.1:8080".parse().unwrap(),
        };
        assert!(host_served("127.0.0.1:8080", &loopback, &api));
        assert!(host_served("localhost:8080", &loopback, &api));
        assert!(host_served("[::1]:8080", &loopback, &api));
        assert!(!host_served("rebind.evil.example", &loopback, &api));
        assert!(!host_served("rebind.evil.example:8080", &loopback, &api));
        api.server_names = vec!["watchpost.corp".into(), "soc.corp:8443".into()];
        assert!(host_served("watchpost.corp:8080", &loopback, &api));
        assert!(host_served("soc.corp:8443", &loopback, &api));
        assert!(!host_served("soc.corp:9999", &loopback, &api));
        let anywhere = Listening {
            scheme: "https",
            addr: "0.0.0.0:8080".parse().unwrap(),
        };
        api.server_names.clear();
        assert!(host_served("watchpost.corp", &anywhere, &api));
        api.enable_authentication = false;
        assert!(!host_served("watchpost.corp", &anywhere, &api));
        let on_address = Listening {
            scheme: "https",
            addr: "10.0.0.5:8080".parse().unwrap(),
        };
        api.server_names = vec!["watchpost.corp".into()];
        assert!(host_served("10.0.0.5:8080", &on_address, &api));
        assert!(!host_served("evil.example", &on_address, &api));
    }
}
