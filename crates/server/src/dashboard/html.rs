//! HTML building blocks for the dashboard: escaping, the page shell with its navigation,
//! and the small pieces every page repeats (times, severities, tables, JSON values).

use crate::auth::Role;
use crate::auth::middleware::Principal;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use std::fmt::Write;

pub use watchpost_core::html::escape as esc;

/// An HTML attribute, ` name="value"`, its value escaped. Every attribute whose value is
/// not a constant goes through here, so that no value (a configuration key, a rule
/// title, a host name) can close the quote it sits in.
pub fn attr(name: &str, value: &str) -> String {
    format!(" {name}=\"{}\"", esc(value))
}

/// Text for a URL's query or path segment.
pub fn url_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A string field of a JSON object ("" when absent); numbers and booleans as written.
pub fn field(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A JSON value shown as text: strings bare, everything else as JSON.
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time, shown to the second in UTC; the full value stays in `datetime`.
pub fn when(rfc3339: &str) -> String {
    if rfc3339.is_empty() {
        return "–".into();
    }
    let shown: String = rfc3339.replacen('T', " ", 1).chars().take(19).collect();
    format!("<time datetime=\"{}\">{}</time>", esc(rfc3339), esc(&shown))
}

/// A severity as a coloured badge.
pub fn severity(name: &str) -> String {
    format!(
        "<span class=\"sev sev-{0}\">{0}</span>",
        esc(if name.is_empty() { "info" } else { name })
    )
}

/// A percentage as a meter and its figure; "–" when unknown.
pub fn percent(value: &Value) -> String {
    value.as_f64().map_or("–".to_string(), |v| {
        format!(
            "<meter min=\"0\" max=\"100\" low=\"70\" high=\"90\" optimum=\"10\" value=\"{v:.0}\"></meter> {v:.0} %"
        )
    })
}

/// Links to the same page over different spans (`last 1h`, `last 24h`…), the one shown
/// marked current; `href` makes each span's link.
pub fn span_tabs(spans: &[&str], current: &str, href: impl Fn(&str) -> String) -> String {
    let mut out = String::from("<nav class=\"tabs\">");
    for span in spans {
        let marked = if *span == current {
            " aria-current=\"true\""
        } else {
            ""
        };
        out.push_str(&format!(
            "<a href=\"{}\"{marked}>last {span}</a>",
            esc(&href(span))
        ));
    }
    out.push_str("</nav>");
    out
}

/// A host's name, linking to its page.
pub fn host_link(name: &str) -> String {
    format!("<a href=\"/hosts/{}\">{}</a>", url_part(name), esc(name))
}

/// An alert status as a badge.
pub fn status(name: &str) -> String {
    format!("<span class=\"status status-{0}\">{0}</span>", esc(name))
}

/// A table: header cells and rows of already-escaped cells.
pub fn table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// An API error shown on a page: its message, and the status it came with.
pub fn error_box(error: &crate::error::ApiError) -> String {
    format!(
        "<div class=\"error\" role=\"alert\">{} ({})</div>",
        esc(&error.message),
        error.status.as_u16()
    )
}

/// A JSON document, indented, in a `<pre>`.
pub fn json_block(value: &Value) -> String {
    format!(
        "<pre class=\"json\">{}</pre>",
        esc(&serde_json::to_string_pretty(value).unwrap_or_default())
    )
}

/// Where a page sits in the navigation, and who may see the link.
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Overview", Role::Viewer),
    ("/alerts", "Alerts", Role::Viewer),
    ("/incidents", "Incidents", Role::Viewer),
    ("/hosts", "Hosts", Role::Viewer),
    ("/events", "Events", Role::Viewer),
    ("/rules", "Rules", Role::Viewer),
    ("/silences", "Silences", Role::Viewer),
    ("/blocklist", "Blocklist", Role::Viewer),
    ("/config", "Configuration", Role::Viewer),
    ("/api-keys", "API keys", Role::Admin),
    ("/senders", "Senders", Role::Admin),
];

/// A page: its title, the navigation entry it belongs to, and the stream topics that
/// make its live sections refresh (empty for none).
pub struct Layout<'a> {
    pub title: &'a str,
    pub section: &'a str,
    pub principal: &'a Principal,
    pub live_topics: &'a str,
}

impl Layout<'_> {
    /// The whole document around `body`.
    pub fn render(&self, body: &str) -> Response {
        let mut nav = String::new();
        for (href, name, role) in NAV {
            if self.principal.role < *role {
                continue;
            }
            let current = if *href == self.section {
                " aria-current=\"page\""
            } else {
                ""
            };
            let _ = write!(nav, "<a href=\"{href}\"{current}>{name}</a>");
        }
        let who = if self.principal.key_id.is_some() {
            format!(
                "<span class=\"who\">{} · {}</span><form method=\"post\" action=\"/logout\"><button class=\"link\">Log out</button></form>",
                esc(&self.principal.name),
                self.principal.role.as_str()
            )
        } else {
            format!("<span class=\"who\">{}</span>", esc(&self.principal.name))
        };
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · Watchpost</title><link rel=\"stylesheet\" href=\"/assets/app.css\">\
             <script src=\"/assets/app.js\" defer></script></head>\
             <body data-role=\"{role}\" data-live-topics=\"{topics}\">\
             <header><a class=\"brand\" href=\"/\">Watchpost</a>\
             <button class=\"menu\" aria-label=\"Menu\" data-toggle-nav>☰</button>\
             <nav>{nav}</nav><div class=\"session\">{who}<span class=\"live-state\" data-live-state></span></div></header>\
             <main><h1>{title}</h1>{body}</main></body></html>",
            title = esc(self.title),
            role = self.principal.role.as_str(),
            topics = esc(self.live_topics),
        );
        Html(html).into_response()
    }
}

/// A page that says what went wrong, with the status.
pub fn problem_page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Watchpost</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><main class=\"narrow\"><h1>{t}</h1><p class=\"error\" role=\"alert\">{m}</p>\
         <p><a href=\"/\">Overview</a> · <a href=\"/login\">Log in with another key</a></p></main></body></html>",
        t = esc(title),
        m = esc(message)
    );
    (status, Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_are_percent_encoded() {
        assert_eq!(url_part("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
    }

    #[test]
    fn times_are_shown_to_the_second() {
        assert_eq!(
            when("2026-12-03T08:12:05.123456Z"),
            "<time datetime=\"2026-12-03T08:12:05.123456Z\">2026-12-03 08:12:05</time>"
        );
        assert_eq!(when(""), "–");
    }
}
