//! Cross-site scripting: markup that runs script (script-capable tags, event-handler
//! attributes, `javascript:` URLs, CSS expressions) and script that breaks out of a
//! JavaScript string into a call.

use super::{Hit, Sink};
use crate::detect::Category::Xss;

/// Tags that run or load script, or change how the page is parsed.
const DANGEROUS_TAGS: &[&str] = &[
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "base",
    "link",
    "meta",
    "style",
    "form",
    "isindex",
    "xss",
    "import",
    "template",
    "portal",
    "noscript",
    "xml",
    "vmlframe",
    "bgsound",
    "layer",
    "ilayer",
    "handler",
    "listener",
    "animate",
    "set",
    "image",
    "marquee",
    "video",
    "audio",
    "source",
    "details",
    "dialog",
    "body",
    "html",
    "img",
    "input",
    "button",
    "select",
    "textarea",
    "keygen",
    "a",
    "div",
    "table",
    "td",
    "iframe2",
    "plaintext",
    "xmp",
    "title",
    "textpath",
    "use",
    "foreignobject",
    "discard",
    "x",
];

/// Script-running schemes in URLs.
const SCHEMES: &[&str] = &[
    "javascript:",
    "vbscript:",
    "livescript:",
    "data:text/html",
    "data:image/svg",
    "mocha:",
];

/// Calls and objects script payloads reach for.
const SINKS: &[&str] = &[
    "alert(",
    "alert`",
    "prompt(",
    "prompt`",
    "confirm(",
    "confirm`",
    "eval(",
    "document.cookie",
    "document.domain",
    "document.write",
    "document.location",
    "window.location",
    "fromcharcode",
    "atob(",
    "settimeout(",
    "setinterval(",
    "constructor(",
    ".innerhtml",
    "top[",
    "self[",
    "window[",
    "globalthis[",
    "location.hash",
    "import(",
    "onerror=",
    "print(",
];

pub(crate) fn check(lower: &str, sink: &mut Sink) {
    let squeezed = squeeze(lower);
    if let Some(rule) = markup(lower, &squeezed) {
        sink.hit(Hit::new(Xss, rule, 5, 1, lower));
        return;
    }
    if script_url(&squeezed) {
        sink.hit(Hit::new(Xss, "xss.script_url", 5, 1, lower));
        return;
    }
    if squeezed.contains("expression(")
        || squeezed.contains("-moz-binding")
        || squeezed.contains("behavior:url")
    {
        sink.hit(Hit::new(Xss, "xss.css_script", 5, 1, lower));
        return;
    }
    // Breaking out of an attribute: a quote, then an event handler.
    if let Some(at) = lower.find(['"', '\'']) {
        let rest = &lower[at + 1..];
        if event_handler(rest) {
            sink.hit(Hit::new(Xss, "xss.attribute_breakout", 5, 1, lower));
            return;
        }
    }
    // Breaking out of a JavaScript string or expression into a call.
    if SINKS.iter().any(|s| squeezed.contains(s))
        && (lower.contains(['\'', '"', ';', '`', '<', '>', '=', '+', '-', '/']))
    {
        sink.hit(Hit::new(Xss, "xss.script_call", 5, 1, lower));
        return;
    }
    // Template and framework injections that run script (AngularJS sandbox escapes).
    if (squeezed.contains("{{") && squeezed.contains("constructor")) || squeezed.contains("$eval(")
    {
        sink.hit(Hit::new(Xss, "xss.client_template", 5, 1, lower));
    }
}

/// A script scheme followed by code (`javascript:alert(1)`, not `javascript: basics`).
fn script_url(squeezed: &str) -> bool {
    SCHEMES.iter().any(|s| {
        squeezed.match_indices(s).any(|(at, _)| {
            let rest = &squeezed[at + s.len()..];
            let rest = &rest[..rest.len().min(120)];
            s.starts_with("data:")
                || rest.contains([
                    '(', ')', '=', ';', '.', '\'', '"', '`', '[', '/', '\\', '{', '%', '+',
                ])
        })
    })
}

/// `lower` without whitespace, control characters and NULs, which browsers skip inside
/// schemes (`java\tscript:`) and which split keywords.
fn squeeze(lower: &str) -> String {
    lower
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && *c != '\u{feff}')
        .collect()
}

fn markup(lower: &str, squeezed: &str) -> Option<&'static str> {
    let b = lower.as_bytes();
    let mut from = 0;
    while let Some(at) = memchr::memchr(b'<', &b[from..]).map(|i| from + i) {
        from = at + 1;
        let rest = &lower[at + 1..];
        let rest = rest.trim_start_matches(['/', '!', '?', '%', ' ']);
        let name_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b':' || *c == b'-')
            .count();
        if name_len == 0 {
            continue;
        }
        let name = &rest[..name_len];
        let name = name.rsplit(':').next().unwrap_or(name);
        let tail = &rest[name_len..];
        let tag_body = &tail[..tail.find('>').unwrap_or(tail.len())];
        if matches!(
            name,
            "script"
                | "iframe"
                | "object"
                | "embed"
                | "applet"
                | "frameset"
                | "vmlframe"
                | "isindex"
                | "portal"
        ) {
            return Some("xss.script_tag");
        }
        if event_handler(tag_body) {
            return Some("xss.event_handler");
        }
        let attrs = squeeze(tag_body);
        if script_url(&attrs)
            || ((attrs.contains("src=")
                || attrs.contains("href=")
                || attrs.contains("action=")
                || attrs.contains("data="))
                && DANGEROUS_TAGS.contains(&name)
                && (attrs.contains("javascript") || attrs.contains("data:")))
        {
            return Some("xss.script_url");
        }
        if matches!(
            name,
            "svg"
                | "math"
                | "base"
                | "meta"
                | "link"
                | "style"
                | "xss"
                | "import"
                | "set"
                | "animate"
                | "handler"
                | "listener"
        ) && (tail.starts_with(['>', ' ', '/', '\t', '\n']) || tail.is_empty())
        {
            return Some("xss.dangerous_tag");
        }
    }
    let _ = squeezed;
    None
}

/// ` onload=`, `/onerror =`: an `on…` attribute assigned a value.
fn event_handler(text: &str) -> bool {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&b[from..], b"on").map(|i| from + i) {
        from = at + 2;
        let boundary = at == 0
            || matches!(
                b[at - 1],
                b' ' | b'/' | b'"' | b'\'' | b'\t' | b'\n' | b'\r' | b'\x0c' | b';' | b'+' | b','
            );
        if !boundary {
            continue;
        }
        let name_len = b[at + 2..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if name_len < 3 {
            continue;
        }
        let after = &b[at + 2 + name_len..];
        let eq = after.iter().position(|c| !c.is_ascii_whitespace());
        if eq.is_some_and(|i| after[i] == b'=') {
            return true;
        }
    }
    false
}
