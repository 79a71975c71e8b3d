//! Logging in to the dashboard: the login page takes an API key, checks it, and keeps it
//! in a cookie the browser sends back with every page, API call and stream. The cookie
//! is `HttpOnly` (page scripts cannot read it), `SameSite=Strict` (other sites' pages do
//! not send it) and `Secure` under TLS; a state change carried by it must also name the
//! dashboard's own origin ([`same_origin`]).

use super::html::esc;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

/// The cookie holding the key.
pub const COOKIE: &str = "watchpost_key";
/// How long a login lasts in the browser: a working day.
const COOKIE_MAX_AGE_SECONDS: u32 = 12 * 3600;
/// The longest login form accepted.
const MAX_FORM_BYTES: usize = 4096;

/// The key in the request's login cookie.
pub fn cookie_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Whether the request's `Origin` names the host it was sent to (browsers send it with
/// every state-changing `fetch`, same-origin ones included).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        _ => false,
    }
}

/// The login page, coming back to `uri` after.
pub fn to_login(uri: &Uri) -> Response {
    let next = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    Redirect::to(&format!("/login?next={}", super::html::url_part(&next))).into_response()
}

/// Only a path on this server is followed after login (never `//other.site`).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
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

pub async fn login(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    if body.len() > MAX_FORM_BYTES {
        return login_form(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/",
            Some("the form is too large"),
        );
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
    match state.gate.check_key(&state, &key).await {
        Ok(_) => {
            let secure = if state.config.get().api.tls_cert_file.is_some() {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={key}; Path=/; HttpOnly; SameSite=Strict; Max-Age={COOKIE_MAX_AGE_SECONDS}{secure}"
            );
            let mut response = Redirect::to(&next).into_response();
            if let Ok(value) = cookie.parse() {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => login_form(StatusCode::UNAUTHORIZED, &next, Some(&e.message)),
    }
}

pub async fn logout() -> Response {
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
    fn the_key_is_read_from_the_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; watchpost_key=wpk_x_y; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_key(&headers), Some("wpk_x_y"));
        headers.insert(header::COOKIE, "watchpost_key=".parse().unwrap());
        assert_eq!(cookie_key(&headers), None);
    }

    #[test]
    fn only_the_servers_own_origin_counts() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(!same_origin(&headers), "no Origin");
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(!same_origin(&headers));
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
