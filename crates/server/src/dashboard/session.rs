//! Logging in to the dashboard: the login page takes an API key, checks it, and starts a
//! server-side session. The browser's cookie holds only the session's random id (the
//! store keeps its SHA-256, never the id); the session ends after a working day, at
//! logout, or when its key is revoked. The cookie is `HttpOnly` (page scripts cannot
//! read it), `SameSite=Strict` (other sites' pages do not send it) and `Secure` under
//! TLS. Login and logout must come from the login page's own origin (the request guard
//! checks `Origin`), a change or a stream carried by the cookie too, and failed logins
//! are rate-limited per address and recorded as detections (`watchpost.login_failed`).

use super::html::esc;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rand::RngExt;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use watchpost_core::{AttackTags, Detection, Entity, Severity};

/// The cookie holding the session id.
pub const COOKIE: &str = "watchpost_session";
/// How long a login lasts: a working day.
const SESSION_SECONDS: i64 = 12 * 3600;
/// The longest login form accepted.
const MAX_FORM_BYTES: usize = 4096;

/// The session id in the request's login cookie.
pub fn cookie_session(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// What the store keeps of a session id.
pub fn hash(session: &str) -> String {
    watchpost_core::hex(&Sha256::digest(session.as_bytes()))
}

/// The login page, coming back to `uri` after.
pub fn to_login(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Redirect::to(&format!("/login?next={}", super::html::url_part(&next))).into_response()
}

/// Only a path on this server is followed after login. Browsers drop tabs and line
/// breaks from a URL and read `\` as `/`, so `/\t/evil` would become `//evil`, another
/// host: a `next` holding any of those, or whitespace, or starting `//`, goes to `/`.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n[1..].starts_with(['/', '\\'])
                && !n
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '\\') =>
        {
            n
        }
        _ => "/",
    }
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_page(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if !state.config.get().api.enable_authentication {
        return Redirect::to(next).into_response();
    }
    login_form(StatusCode::OK, next, None)
}

fn login_form(status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Log in · Watchpost</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><main class=\"narrow\"><h1>Watchpost</h1>\
         <form method=\"post\" action=\"/login\" class=\"card\">\
         <label for=\"api_key\">API key</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"current-password\" required placeholder=\"wpk_…\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         {error}<button type=\"submit\">Log in</button>\
         <p class=\"hint\">The first admin key is printed when the server first starts and kept in \
         <code>admin-api-key</code> in its data directory; <code>watchpost api-key create</code> makes others.</p>\
         </form></main></body></html>",
        next = esc(next),
    );
    (status, Html(html)).into_response()
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    if body.len() > MAX_FORM_BYTES {
        return login_form(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/",
            Some("the form is too large"),
        );
    }
    let config = state.config.get();
    if let Some(wait) = state
        .gate
        .over_login_rate(peer.ip(), config.api.login_attempts_per_minute)
    {
        state.metrics.refusal("login_rate", 1);
        // One record per address and minute: the refusals themselves are counted above.
        if state.gate.report_due("login_rate", peer.ip()) {
            record_login_failure(
                &state,
                peer,
                "watchpost.login_rate_limited",
                "too many login attempts",
            )
            .await;
        }
        let mut response = login_form(
            StatusCode::TOO_MANY_REQUESTS,
            "/",
            Some(&format!(
                "too many login attempts from this address; try again in {wait} s"
            )),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(wait));
        return response;
    }
    let mut key = String::new();
    let mut next = String::from("/");
    for (name, value) in form_urlencoded_pairs(&body) {
        match name.as_str() {
            "api_key" => key = value.trim().to_string(),
            "next" => next = value,
            _ => {}
        }
    }
    let next = safe_next(Some(&next)).to_string();
    let principal = match state.gate.check_key(&state, &key).await {
        Ok(principal) => principal,
        Err(e) => {
            state.metrics.refusal("login_failed", 1);
            record_login_failure(&state, peer, "watchpost.login_failed", &e.message).await;
            return login_form(StatusCode::UNAUTHORIZED, &next, Some(&e.message));
        }
    };
    let mut id = [0u8; 32];
    rand::rng().fill(&mut id);
    let id = watchpost_core::hex(&id);
    let now = chrono::Utc::now();
    let session = watchpost_store::Session {
        id_hash: hash(&id),
        key_id: principal.key_id.clone().unwrap_or_default(),
        created_at: now,
        expires_at: now + chrono::Duration::seconds(SESSION_SECONDS),
    };
    if let Err(e) = state.store.insert_session(&session).await {
        tracing::error!(error = %e, "could not store a login session");
        return login_form(
            StatusCode::SERVICE_UNAVAILABLE,
            &next,
            Some("the store could not keep the login; try again"),
        );
    }
    // Ended sessions go now and then, without a job of their own.
    let _ = state.store.delete_sessions(None, now).await;
    let secure = if config.api.tls_cert_file.is_some() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}"
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Records a failed login as a detection about the address it came from, so that routes
/// and rules can alert on it (one alert per address, counting).
async fn record_login_failure(state: &AppState, peer: SocketAddr, rule: &str, why: &str) {
    let (title, severity) = if rule == "watchpost.login_rate_limited" {
        ("Dashboard logins over the rate limit", Severity::Medium)
    } else {
        ("Failed login to the dashboard", Severity::Low)
    };
    let mut d = Detection::new(rule, title, severity, "server");
    d.category = Some("authentication".into());
    d.attack = AttackTags::from_sigma_tags(["attack.credential-access", "attack.t1110"]);
    d.entity = Some(Entity::Ip {
        ip: peer.ip().to_string(),
    });
    d.summary = format!("{title} from {}: {why}", peer.ip());
    d.evidence = serde_json::json!({"source.ip": peer.ip().to_string(), "reason": why});
    if let Err(e) = state.alerts.record(&[d]).await {
        tracing::warn!(error = %e, "a failed login could not be recorded");
    }
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = cookie_session(&headers)
        && let Err(e) = state.store.delete_session(&hash(session)).await
    {
        tracing::warn!(error = %e, "a session could not be ended at logout");
    }
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = cookie.parse() {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn form_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let digit = |b: u8| (b as char).to_digit(16);
                    match (digit(bytes[i + 1]), digit(bytes[i + 2])) {
                        (Some(high), Some(low)) => {
                            out.push((high * 16 + low) as u8);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_read_from_the_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; watchpost_session=abc123; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_session(&headers), Some("abc123"));
        headers.insert(header::COOKIE, "watchpost_session=".parse().unwrap());
        assert_eq!(cookie_session(&headers), None);
        assert_ne!(hash("abc123"), "abc123");
    }

    #[test]
    fn login_goes_back_only_to_a_local_path() {
        assert_eq!(
            safe_next(Some("/alerts?status=firing")),
            "/alerts?status=firing"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        // What browsers strip or rewrite before they resolve a location.
        for sneaky in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/x",
            "/ /evil",
            "/\\/evil",
            "/a\\b",
        ] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
        assert_eq!(safe_next(Some("/alerts/%2F%2Fx")), "/alerts/%2F%2Fx");
    }

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_urlencoded_pairs(b"api_key=wpk_a%5Fb&next=%2Falerts%3Fx%3D1+2&bad=%zz"),
            vec![
                ("api_key".into(), "wpk_a_b".into()),
                ("next".into(), "/alerts?x=1 2".into()),
                ("bad".into(), "%zz".into()),
            ]
        );
    }
}
