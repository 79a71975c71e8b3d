//! Cross-site scripting: markup that runs script (script-capable tags, event-handler
//! attributes, `javascript:` URLs, CSS expressions) and script that breaks out of a
//! JavaScript string into a call.

use super::lists::{Literal, Patterns, patterns, without_chars};
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
    "frames[",
    "parent[",
    "content[",
    "this[",
    "alert.call",
    "confirm.call",
    "prompt.call",
    ".apply(",
    "=alert",
    "${alert",
    "(alert)",
    ".source+",
    "=confirm",
    "=prompt",
    "[alert",
    "alert,",
    "[\"cookie\"]",
    "['cookie']",
    "reflect.apply",
    "navigation.navigate",
    "(document)",
    "document.createelement",
    "appendchild(",
    "window.open(",
    "document.body",
    ".textcontent",
    "xmlns:",
    "alert?.(",
    "?.(document",
    "navigator.",
];

pub(crate) fn check(lower: &str, sink: &mut Sink) {
    if let Some((rule, score)) = judge(lower) {
        sink.hit(Hit::new(Xss, rule, score, 1, lower));
        return;
    }
    // Comments inside a property chain (`document/*x*/./*y*/cookie`) vanish to the parser.
    if lower.has("/*") {
        let stripped = crate::decode::without_block_comments(lower);
        if let Some((rule, score)) = judge(&stripped) {
            sink.hit(Hit::new(Xss, rule, score, 1, lower));
            return;
        }
    }
    // NULs inside keywords (`<scr\0ipt>`), which browsers of old skipped.
    if lower.contains('\0') {
        let stripped: String = lower.chars().filter(|c| *c != '\0').collect();
        if let Some((rule, score)) = judge(&stripped) {
            sink.hit(Hit::new(Xss, rule, score, 1, lower));
            return;
        }
    }
    // Tags split by fake tags (`o<x>nfocus=alert<x>(1)`) read whole once they are removed.
    if lower.contains('<') {
        let stripped = strip_short_tags(lower);
        if stripped != lower
            && let Some((rule, score)) = judge(&stripped)
        {
            sink.hit(Hit::new(Xss, rule, score, 1, lower));
        }
    }
}

fn judge(lower: &str) -> Option<(&'static str, u8)> {
    let squeezed = squeeze(lower);
    let squeezed: &str = &squeezed;
    if let Some(rule) = markup(lower, squeezed) {
        return Some((rule, 5));
    }
    if script_url(squeezed) || split_script_scheme(lower, squeezed) {
        return Some(("xss.script_url", 5));
    }
    // Script reached through CSS (`url(javascript:`, `expression(`, bindings), calls
    // through a tagged template or reflection (`Reflect.sort.call```), and `<xml src=…>`
    // data islands, which old IE bound into the page as markup: one pass for all.
    let mut island = false;
    for m in SCRIPT_CONSTRUCTS.find_overlapping_iter(squeezed) {
        let found = &squeezed[m.start()..m.end()];
        if found == "<xml" {
            island = true;
        } else if found.contains('`') || found.starts_with("reflect") {
            return Some(("xss.script_call", 5));
        } else {
            return Some(("xss.css_script", 5));
        }
    }
    if island && (squeezed.has("src=") || squeezed.has("dataformatas")) {
        return Some(("xss.data_island", 5));
    }
    if lower.contains('<') && spaced_tag(lower) {
        return Some(("xss.spaced_tag", 5));
    }
    if squeezed.has("[]") && jsfuck(squeezed) {
        return Some(("xss.jsfuck", 5));
    }
    if lower.contains('=') && known_event_assignment(lower) {
        return Some(("xss.event_handler", 5));
    }
    // Breaking out of an attribute: a quote, then an event handler.
    if let Some(at) = lower.find(['"', '\'']) {
        let rest = &lower[at + 1..];
        if event_handler(rest) {
            return Some(("xss.attribute_breakout", 5));
        }
    }
    let calls_sink = SINK_NAMES.is_match(squeezed);
    // An event handler that calls script, with or without a tag around it.
    if calls_sink && event_handler(lower) {
        return Some(("xss.event_handler", 5));
    }
    // Breaking out of a JavaScript string or expression into a call.
    if calls_sink
        && (lower.contains([
            '\'', '"', ';', '`', '<', '>', '=', '+', '-', '/', ',', '[', '.', '(',
        ]))
    {
        return Some(("xss.script_call", 5));
    }
    // Template and framework injections that run script (AngularJS sandbox escapes).
    if (squeezed.has("{{") && squeezed.has("constructor")) || squeezed.has("$eval(") {
        return Some(("xss.client_template", 5));
    }
    // Markup that closes the element the value is printed in, or breaks out of several
    // contexts at once (the `"'\`-->]]>` of polyglots).
    const CONTEXT_CLOSERS: &[&str] = &[
        "</textarea",
        "</title",
        "</style",
        "</noscript",
        "</xmp",
        "</iframe",
        "</template",
        "</option",
        "</select",
        "</script",
        "</noembed",
        "</plaintext",
    ];
    static CLOSERS: Patterns = patterns!(CONTEXT_CLOSERS);
    if CLOSERS.is_match(squeezed) || (squeezed.has("-->") && squeezed.has("]]>")) {
        return Some(("xss.context_breakout", 5));
    }
    // Tags that shape a whole document (`<body>`, `<head>`, `<xmp>`): never part of a
    // value, always an attempt to restructure the page.
    const DOCUMENT_TAGS: &[&str] = &[
        "<html",
        "<head",
        "<body",
        "<title",
        "<xmp",
        "<plaintext",
        "<frameset",
        "<noembed",
        "</body",
        "</html",
        "</head",
        "<form",
        "</form",
        "<input",
        "<isindex",
    ];
    // HTML comments and conditional comments hide the rest of the page (`<!-- IE 6-8 -->`),
    // and UTF-7 spells markup past filters (`+ADw-script+AD4-`).
    static HIDING_MARKUP: Patterns = patterns!(["<!--", "<![endif]", "+adw-"]);
    if HIDING_MARKUP.is_match(squeezed) {
        return Some(("xss.document_markup", 5));
    }
    static DOCUMENT_TAG_NAMES: Patterns = patterns!(DOCUMENT_TAGS);
    if lower.contains('<')
        && DOCUMENT_TAG_NAMES.find_overlapping_iter(lower).any(|m| {
            let rest = &lower[m.end()..];
            rest.is_empty() || rest.starts_with(|c: char| c == '>' || c == '/' || c.is_whitespace())
        })
    {
        return Some(("xss.document_markup", 5));
    }
    // A link or frame to an absolute URL, injected as markup.
    if lower.match_indices('<').any(|(at, _)| {
        let tag = &squeeze(&lower[at..])[..];
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        [
            "<a", "<img", "<frame", "<embed", "<xml", "<layer", "<ilayer", "<bgsound", "<import",
            "<link", "<base",
        ]
        .iter()
        .any(|t| tag.starts_with(t))
            && [
                "href=\"http",
                "href='http",
                "href=http",
                "src=\"http",
                "src='http",
                "src=http",
                "href=\"//",
                "src=\"//",
            ]
            .iter()
            .any(|p| tag.contains(p))
    }) {
        return Some(("xss.link_injection", 5));
    }
    // Any other markup with attributes: suspicious, not enough alone.
    if has_tag_with_attributes(lower) {
        return Some(("xss.html_injection", 3));
    }
    None
}

/// See [`judge`]: constructs that run script wherever they appear.
static SCRIPT_CONSTRUCTS: Patterns = patterns!([
    "url(javascript",
    "url(vbscript",
    "url('javascript",
    "url(\"javascript",
    "expression(",
    "expression\\28",
    "-moz-binding",
    "behavior:url",
    "behaviour:url",
    ".call`",
    ".apply`",
    "reflect.apply(",
    "reflect.construct(",
    "<xml",
]);

/// `<f o r m`, `<d i a l o g`: a tag name spelled with spaces between its letters, which
/// old parsers closed up.
fn spaced_tag(lower: &str) -> bool {
    lower.match_indices('<').any(|(at, _)| {
        let mut name = String::new();
        let mut chars = lower[at + 1..].chars().peekable();
        while let Some(c) = chars.next() {
            if !c.is_ascii_alphabetic() {
                break;
            }
            name.push(c);
            match chars.peek() {
                Some(' ' | '\t') => {
                    chars.next();
                }
                _ => break,
            }
            if name.len() > 12 {
                break;
            }
        }
        name.len() >= 3 && (DANGEROUS_TAGS.contains(&name.as_str()) || name == "dialog")
    })
}

/// JavaScript written with six characters (`[]()!+`): `!![]`, `[][(![]+[])[+[]]…`.
fn jsfuck(squeezed: &str) -> bool {
    if !(squeezed.has("!![]") || squeezed.has("+[]") || squeezed.has("[][")) {
        return false;
    }
    let value = squeezed.split_once('=').map_or(squeezed, |(_, v)| v);
    let code = value.bytes().filter(|b| b"[]()!+".contains(b)).count();
    code >= 4 && code * 10 >= value.len() * 9
}

/// An event handler of the DOM assigned in a value (`onload=`, `onerror =`), after
/// whitespace, a quote or a slash, as it would stand inside a tag.
fn known_event_assignment(lower: &str) -> bool {
    let b = lower.as_bytes();
    EVENT_NAMES.find_overlapping_iter(lower).any(|m| {
        let before = m.start() == 0
            || matches!(b[m.start() - 1], b' ' | b'\t' | b'\n' | b'"' | b'\'' | b'/');
        let after = lower[m.end()..].trim_start_matches([' ', '\t', '\n']);
        before && after.starts_with('=') && !after.starts_with("==")
    })
}

/// Event handler attributes browsers run script from.
static EVENT_NAMES: Patterns = patterns!([
    "onabort",
    "onafterprint",
    "onanimationend",
    "onanimationiteration",
    "onanimationstart",
    "onauxclick",
    "onbeforeprint",
    "onbeforeunload",
    "onbegin",
    "onblur",
    "oncanplay",
    "oncanplaythrough",
    "onchange",
    "onclick",
    "oncontextmenu",
    "oncopy",
    "oncut",
    "ondblclick",
    "ondrag",
    "ondragend",
    "ondragenter",
    "ondragleave",
    "ondragover",
    "ondragstart",
    "ondrop",
    "ondurationchange",
    "onend",
    "onended",
    "onerror",
    "onfocus",
    "onfocusin",
    "onfocusout",
    "onformdata",
    "onhashchange",
    "oninput",
    "oninvalid",
    "onkeydown",
    "onkeypress",
    "onkeyup",
    "onload",
    "onloadeddata",
    "onloadedmetadata",
    "onloadstart",
    "onmessage",
    "onmousedown",
    "onmouseenter",
    "onmouseleave",
    "onmousemove",
    "onmouseout",
    "onmouseover",
    "onmouseup",
    "onmousewheel",
    "onoffline",
    "ononline",
    "onpagehide",
    "onpageshow",
    "onpaste",
    "onpause",
    "onplay",
    "onplaying",
    "onpointerdown",
    "onpointerenter",
    "onpointerleave",
    "onpointermove",
    "onpointerout",
    "onpointerover",
    "onpointerup",
    "onpopstate",
    "onprogress",
    "onratechange",
    "onrepeat",
    "onreset",
    "onresize",
    "onscroll",
    "onscrollend",
    "onsearch",
    "onseeked",
    "onseeking",
    "onselect",
    "onselectionchange",
    "onselectstart",
    "onshow",
    "onstalled",
    "onstorage",
    "onsubmit",
    "onsuspend",
    "ontimeupdate",
    "ontoggle",
    "ontouchend",
    "ontouchmove",
    "ontouchstart",
    "ontransitionend",
    "onunload",
    "onvolumechange",
    "onwaiting",
    "onwheel",
    "onwebkitanimationend",
    "onwebkittransitionend",
    "onwebkitplaybacktargetavailabilitychanged",
    "onbeforetoggle",
    "onbeforeinput",
    "oncontentvisibilityautostatechange",
]);

/// `lower` without tags of one to three letters (`<x>`, `<b>`), which some filters strip.
fn strip_short_tags(lower: &str) -> String {
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        if (1..=3).contains(&len) && after[len..].starts_with('>') {
            rest = &after[len + 1..];
        } else {
            out.push('<');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `<name attr=…`: a tag with at least one attribute.
fn has_tag_with_attributes(lower: &str) -> bool {
    lower.match_indices('<').any(|(at, _)| {
        let after = &lower[at + 1..];
        let len = after
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'-'))
            .count();
        len > 0
            && after.as_bytes()[0].is_ascii_alphabetic()
            && after[len..].starts_with([' ', '/', '\t', '\n'])
            && after[len..]
                .split('>')
                .next()
                .is_some_and(|attrs| attrs.contains('='))
    })
}

/// A script scheme followed by code (`javascript:alert(1)`, not `javascript: basics`).
fn script_url(squeezed: &str) -> bool {
    squeezed.contains(':')
        && SCHEME_NAMES.find_overlapping_iter(squeezed).any(|m| {
            let rest = &squeezed[m.end()..];
            let rest = &rest[..rest.len().min(120)];
            SCHEMES[m.pattern().as_usize()].starts_with("data:")
                || rest.contains([
                    '(', ')', '=', ';', '.', '\'', '"', '`', '[', '/', '\\', '{', '%', '+',
                ])
        })
}

static SCHEME_NAMES: Patterns = patterns!(SCHEMES);

/// `ja&newline;vascript:`, `java\tscript:`: a script scheme that only reads as one once the
/// whitespace inside it is skipped, as browsers do. Nobody splits the word but to get it
/// past a filter.
fn split_script_scheme(lower: &str, squeezed: &str) -> bool {
    squeezed.len() < lower.len()
        && SCHEME_NAMES
            .find_iter(squeezed)
            .any(|m| !SCHEMES[m.pattern().as_usize()].starts_with("data:"))
        && !SCHEME_NAMES.is_match(lower)
}

/// `lower` without whitespace, control characters and NULs, which browsers skip inside
/// schemes (`java\tscript:`) and which split keywords.
fn squeeze(lower: &str) -> std::borrow::Cow<'_, str> {
    without_chars(lower, |c| {
        c.is_whitespace() || c.is_control() || c == '\u{feff}'
    })
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
        // Style that loads or runs something; tags from other XML namespaces (`svg:`,
        // `xmlns:ev=`), which browsers render as live SVG or XML islands.
        if attrs.has("style=")
            && (attrs.has("url(") || attrs.has("expression") || attrs.has("behavio"))
            // (`<https://…>; rel=x` is a Link-header URL, not a tag.)
            || (rest[..name_len].contains(':') && !rest[name_len..].starts_with("//"))
            || attrs.has("xmlns:")
            || attrs.has("datasrc=")
        {
            return Some("xss.dangerous_attribute");
        }
        if script_url(&attrs)
            || ((attrs.has("src=")
                || attrs.has("href=")
                || attrs.has("action=")
                || attrs.has("data="))
                && DANGEROUS_TAGS.contains(&name)
                && (attrs.has("javascript") || attrs.has("data:")))
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

/// The markup of a well-formed XML document: a script element in any namespace
/// (`<x:script xmlns:x="http://www.w3.org/1999/xhtml">`) or an event handler on any
/// element (`<svg onload=…>`), which browsers run when the document is served as XHTML
/// or SVG. Its values (text and attributes) are inspected as values.
pub(crate) fn xml_document(lower: &str, sink: &mut Sink) {
    for (at, _) in lower.match_indices('<') {
        let rest = &lower[at + 1..];
        let name_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'-' | b'_' | b'.'))
            .count();
        if name_len == 0 {
            continue;
        }
        let name = &rest[..name_len];
        let local = name.rsplit(':').next().unwrap_or(name);
        let tag_body = &rest[name_len..rest.find('>').unwrap_or(rest.len())];
        if local == "script" {
            sink.hit(Hit::new(Xss, "xss.script_tag", 5, 1, lower));
            return;
        }
        if event_handler(tag_body) {
            sink.hit(Hit::new(Xss, "xss.event_handler", 5, 1, lower));
            return;
        }
    }
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

/// [`SINKS`] in one automaton: one pass per value, whatever the list's length.
static SINK_NAMES: Patterns = patterns!(SINKS);
