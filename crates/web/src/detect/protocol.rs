//! Protocol enforcement: requests no browser or ordinary client sends. Each rule names a
//! way of bending HTTP that parsers disagree on (a WAF reads one thing, the application
//! another) or that only attack tools produce: unknown methods, bodies on GET, malformed
//! or unregistered content types and charsets, multipart names with separators in them,
//! range floods, method overrides in the URL, headers that only exploits set, overlong
//! UTF-8, NUL bytes in parameters, session ids planted in links.

use super::lists::Literal;
use super::{Category, Hit};
use crate::decode;
use crate::request::Request;
use crate::targets::Location;

/// One protocol finding and where it was.
pub(crate) struct Finding {
    pub location: Location,
    pub name: String,
    pub hit: Hit,
}

fn finding(location: Location, name: &str, rule: &'static str, value: &str) -> Finding {
    Finding {
        location,
        name: name.to_string(),
        hit: Hit::new(Category::Protocol, rule, 5, 1, value),
    }
}

/// Methods of HTTP, WebDAV and CalDAV; anything else is a tool probing the server.
const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "CONNECT",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
    "MKCALENDAR",
    "ACL",
];

/// Headers that only exploits set on a request: `Proxy` (httpoxy), WebDAV lock and
/// conditional headers aimed at old servers, `Translate` (IIS source disclosure),
/// `x-middleware-subrequest` (Next.js middleware bypass) and the obsolete `Request-Range`.
const RESTRICTED_HEADERS: &[&str] = &[
    "proxy",
    "lock-token",
    "if",
    "translate",
    "x-middleware-subrequest",
    "request-range",
];

/// Headers and parameters that make a server run another method than the one sent.
const METHOD_OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Character sets a form or document is sent in; others (`utf-7`, `ibm037`) exist to hide
/// payloads from inspection.
const CHARSETS: &[&str] = &[
    "utf-8",
    "utf8",
    "us-ascii",
    "ascii",
    "utf-16",
    "utf-16le",
    "utf-16be",
    "iso-8859-1",
    "iso-8859-2",
    "iso-8859-15",
    "latin1",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "gbk",
    "gb2312",
    "gb18030",
    "big5",
    "shift_jis",
    "euc-jp",
    "euc-kr",
    "koi8-r",
];

/// Character sets of a form part's text; a part in UTF-16 or UTF-7 is read as noise by
/// inspection and as text by the application.
const PART_CHARSETS: &[&str] = &[
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "iso-8859-15",
    "windows-1252",
];

/// Session cookies of the common application servers, which a link should never carry
/// (a generic `sessionId` is as often an analytics or API parameter).
const SESSION_PARAMETERS: &[&str] = &[
    "jsessionid",
    "phpsessid",
    "aspsessionid",
    "asp.net_sessionid",
    "cfid",
    "cftoken",
];

/// Runs the request-level checks.
pub(crate) fn check(request: &Request, out: &mut Vec<Finding>) {
    method(request, out);
    headers(request, out);
    content_type(request, out);
    if request
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().has("multipart/"))
    {
        multipart_parts(&request.body, out);
    }
    parameters(request, out);
    path(request, out);
    session_in_link(request, out);
}

fn method(request: &Request, out: &mut Vec<Finding>) {
    let method = request.method.as_str();
    if !method.is_empty() && !METHODS.contains(&method) {
        out.push(finding(
            Location::Header,
            ":method",
            "protocol.method",
            method,
        ));
    }
}

fn headers(request: &Request, out: &mut Vec<Finding>) {
    for (name, value) in &request.headers {
        let lower = name.to_ascii_lowercase();
        if RESTRICTED_HEADERS.contains(&lower.as_str()) {
            out.push(finding(
                Location::Header,
                name,
                "protocol.restricted_header",
                value,
            ));
        } else if METHOD_OVERRIDES.contains(&lower.as_str()) {
            out.push(finding(
                Location::Header,
                name,
                "protocol.method_override",
                value,
            ));
        } else if lower == "range" && abusive_range(value, &request.path) {
            out.push(finding(Location::Header, name, "protocol.range", value));
        } else if lower == "accept" && charsets(value).any(|c| !CHARSETS.contains(&c.as_str())) {
            out.push(finding(Location::Header, name, "protocol.charset", value));
        } else if lower == "accept-encoding" && value.len() > 100 {
            out.push(finding(
                Location::Header,
                name,
                "protocol.header_length",
                value,
            ));
        } else if lower == "connection" {
            // `close, close`, `keep-alive, close`: options that contradict or repeat.
            let options: Vec<String> = value
                .split(',')
                .map(|o| o.trim().to_ascii_lowercase())
                .collect();
            let persistence = options
                .iter()
                .filter(|o| matches!(o.as_str(), "close" | "keep-alive"))
                .count();
            if persistence > 1 {
                out.push(finding(
                    Location::Header,
                    name,
                    "protocol.connection",
                    value,
                ));
            }
        }
    }
}

/// A Range that asks for many pieces, backwards pieces, or is not in bytes: the shapes of
/// range-amplification attacks (Apache Killer). PDF viewers fetch documents in many
/// pieces, so PDFs are allowed more.
fn abusive_range(value: &str, path: &str) -> bool {
    let Some(ranges) = value.trim().strip_prefix("bytes=") else {
        return true;
    };
    let parts: Vec<&str> = ranges.split(',').map(str::trim).collect();
    let most = if path.to_ascii_lowercase().ends_with(".pdf") {
        62
    } else {
        5
    };
    if parts.len() > most {
        return true;
    }
    parts.iter().any(|p| {
        let Some((start, end)) = p.split_once('-') else {
            return true;
        };
        match (start.trim().parse::<u64>(), end.trim().parse::<u64>()) {
            (Ok(s), Ok(e)) => s > e,
            _ => false,
        }
    })
}

/// The `charset=` parameters of a header value, lowercased and unquoted.
fn charsets(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split([';', ',']).filter_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_ascii_lowercase())
    })
}

fn content_type(request: &Request, out: &mut Vec<Finding>) {
    let Some(value) = request.header("content-type") else {
        return;
    };
    let lower = value.trim().to_ascii_lowercase();
    let mut params = lower.split(';');
    let media = params.next().unwrap_or_default().trim();
    let mut charset_count = 0;
    let mut malformed = !is_media_type(media);
    for param in params {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((key, v)) = param.split_once('=') else {
            malformed = true;
            continue;
        };
        let v = v.trim().trim_matches('"');
        if !key.trim().bytes().all(is_token_byte)
            || v.bytes().any(|b| {
                b.is_ascii_control() || matches!(b, b'{' | b'}' | b'#' | b'@' | b'(' | b')')
            })
        {
            malformed = true;
        }
        match key.trim() {
            "charset" => {
                charset_count += 1;
                if !CHARSETS.contains(&v) {
                    out.push(finding(
                        Location::Header,
                        "Content-Type",
                        "protocol.charset",
                        value,
                    ));
                    return;
                }
            }
            // A media type given as a parameter: parsers that look for one anywhere in the
            // header read the body as something else (`;boundary="application/json"`).
            _ if v.contains('/')
                && is_media_type(v)
                && key.trim() != "type"
                && key.trim() != "start" =>
            {
                out.push(finding(
                    Location::Header,
                    "Content-Type",
                    "protocol.content_type_confusion",
                    value,
                ));
                return;
            }
            _ => {}
        }
    }
    if malformed || charset_count > 1 {
        out.push(finding(
            Location::Header,
            "Content-Type",
            "protocol.content_type",
            value,
        ));
    } else if !registered_media_type(media) {
        out.push(finding(
            Location::Header,
            "Content-Type",
            "protocol.unknown_content_type",
            value,
        ));
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b)
}

/// `type/subtype` made of token characters.
fn is_media_type(media: &str) -> bool {
    media.split_once('/').is_some_and(|(t, s)| {
        !t.is_empty()
            && !s.is_empty()
            && t.bytes().all(is_token_byte)
            && s.bytes().all(is_token_byte)
    })
}

/// A media type a client sends a body in: a registered top-level type, and for
/// `application`, `text` and `multipart` a subtype in use (or a vendor, experimental or
/// structured-suffix one).
fn registered_media_type(media: &str) -> bool {
    let Some((top, sub)) = media.split_once('/') else {
        return false;
    };
    let open_subtype = sub.starts_with("vnd.")
        || sub.starts_with("x-")
        || sub.starts_with("prs.")
        || sub.contains('+');
    match top {
        "image" | "audio" | "video" | "font" | "model" | "message" => true,
        "application" => {
            open_subtype
                || matches!(
                    sub,
                    "json"
                        | "xml"
                        | "x-www-form-urlencoded"
                        | "octet-stream"
                        | "pdf"
                        | "zip"
                        | "gzip"
                        | "javascript"
                        | "ecmascript"
                        | "graphql"
                        | "protobuf"
                        | "grpc"
                        | "csp-report"
                        | "ocsp-request"
                        | "jwt"
                        | "jose"
                        | "cbor"
                        | "msgpack"
                        | "wasm"
                        | "yaml"
                        | "ndjson"
                        | "jsonl"
                        | "json-seq"
                        | "rtf"
                        | "msword"
                        | "postscript"
                        | "pkcs7-mime"
                        | "pkcs10"
                        | "sql"
                        | "dns-message"
                )
        }
        "text" => {
            open_subtype
                || matches!(
                    sub,
                    "plain"
                        | "html"
                        | "xml"
                        | "csv"
                        | "css"
                        | "javascript"
                        | "calendar"
                        | "markdown"
                        | "event-stream"
                        | "tab-separated-values"
                        | "yaml"
                        | "vcard"
                        | "rtf"
                        | "uri-list"
                )
        }
        "multipart" => matches!(
            sub,
            "form-data" | "related" | "mixed" | "alternative" | "byteranges" | "x-mixed-replace"
        ),
        _ => false,
    }
}

/// Multipart part headers: names and file names holding separators or quotes (each
/// parser splits them differently), transfer encodings (deprecated in form data, used to
/// hide content) and part charsets that hide payloads.
fn multipart_parts(body: &str, out: &mut Vec<Finding>) {
    for line in body.lines().take(4096) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-disposition:") {
            for key in ["name=", "filename="] {
                let Some(value) = quoted_parameter(line, key) else {
                    continue;
                };
                if without_entities(&value).contains(['\'', '"', ';', '=', '\\']) {
                    out.push(finding(
                        Location::Multipart,
                        &value,
                        "protocol.multipart_name",
                        line,
                    ));
                    return;
                }
            }
        } else if lower.starts_with("content-transfer-encoding:") {
            out.push(finding(
                Location::Multipart,
                "",
                "protocol.multipart_transfer_encoding",
                line,
            ));
            return;
        } else if lower.starts_with("content-type:")
            && charsets(&lower["content-type:".len()..])
                .any(|c| !PART_CHARSETS.contains(&c.as_str()))
        {
            out.push(finding(Location::Multipart, "", "protocol.charset", line));
            return;
        }
    }
}

/// `text` without named character references (`&auml;`), whose `;` is no separator.
fn without_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let name = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        if name > 0 && after[name..].starts_with(';') {
            rest = &after[name + 1..];
        } else {
            out.push('&');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The value of `key` in a header line (`name="a\"b"` gives `a\"b`, escapes kept).
fn quoted_parameter(line: &str, key: &str) -> Option<String> {
    let lower = line.to_ascii_lowercase();
    let at = lower
        .match_indices(key)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || matches!(lower.as_bytes()[i - 1], b';' | b' ' | b'\t'))?;
    let rest = &line[at + key.len()..];
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(value),
                '\\' => {
                    value.push('\\');
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                }
                c => value.push(c),
            }
        }
        Some(value)
    } else {
        Some(
            rest.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string(),
        )
    }
}

/// Query and form parameters: NUL bytes, overlong or impossible UTF-8, `%uFFxx`
/// full-width escapes, and a method override in the URL.
fn parameters(request: &Request, out: &mut Vec<Finding>) {
    let form = request
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().has("x-www-form-urlencoded"));
    let mut sources = vec![(Location::Query, request.query.as_str())];
    if form {
        sources.push((Location::Form, request.body.as_str()));
    }
    for (location, raw) in sources {
        if raw.is_empty() {
            continue;
        }
        let lower = raw.to_ascii_lowercase();
        // A browser escapes every `%` it sends in a form body; a bare one is a broken or
        // hand-made escape (`%1G`, `%7%6F`) that decoders read differently.
        if location == Location::Form && broken_escape(raw) {
            out.push(finding(location, "", "protocol.invalid_url_encoding", raw));
        }
        if lower.has("%uff") && fullwidth_escape(&lower) {
            out.push(finding(location, "", "protocol.fullwidth_escape", raw));
        }
        for pair in raw.split('&').take(2048) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bytes = decode::percent_bytes(name)
                .into_iter()
                .chain(decode::percent_bytes(value));
            let bytes: Vec<u8> = bytes.collect();
            if bytes.contains(&0) {
                out.push(finding(location, name, "protocol.null_byte", pair));
                return;
            }
            if overlong_utf8(&bytes) {
                out.push(finding(location, name, "protocol.invalid_utf8", pair));
                return;
            }
            let raw_name = decode::percent_bytes(name);
            if raw_name.contains(&b'\r') || raw_name.contains(&b'\n') {
                out.push(finding(location, name, "protocol.line_break_in_name", pair));
                return;
            }
            // `\u0061`: an ASCII letter written as a JavaScript escape, which only hides it.
            if location == Location::Form && escaped_letter(&String::from_utf8_lossy(&bytes)) {
                out.push(finding(location, name, "protocol.escaped_letter", pair));
                return;
            }
            if location == Location::Query
                && name.eq_ignore_ascii_case("_method")
                && METHODS.contains(&value.to_ascii_uppercase().as_str())
            {
                out.push(finding(location, name, "protocol.method_override", pair));
            }
        }
    }
}

/// UTF-8 that spells a character in more bytes than it needs (`%c0%af` for `/`), or a
/// code point past Unicode's end: decoders that accept them turn filtered bytes back into
/// `/`, `.` and `<`.
fn overlong_utf8(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| {
        let continuation = (0x80..=0xbf).contains(&w[1]);
        (matches!(w[0], 0xc0 | 0xc1) && continuation)
            || (w[0] == 0xe0 && (0x80..=0x9f).contains(&w[1]))
            || (w[0] == 0xf0 && (0x80..=0x8f).contains(&w[1]))
            || ((0xf5..=0xf7).contains(&w[0]) && continuation)
    }) || bytes.last().is_some_and(|b| matches!(b, 0xc0 | 0xc1))
}

/// A `%` not followed by two hex digits (nor by `u` and four, the IIS form).
fn broken_escape(raw: &str) -> bool {
    let b = raw.as_bytes();
    memchr::memchr_iter(b'%', b).any(|at| {
        let hex = |k: usize| b.get(at + k).is_some_and(u8::is_ascii_hexdigit);
        let unicode = matches!(b.get(at + 1), Some(b'u' | b'U')) && (2..6).all(hex);
        !(unicode || hex(1) && hex(2))
    })
}

/// `\u0041`…`\u007a`: an ASCII letter spelled as an escape.
fn escaped_letter(text: &str) -> bool {
    text.match_indices("\\u00").any(|(at, _)| {
        let hex = &text.as_bytes()[at + 4..];
        hex.len() >= 2
            && matches!(hex[0], b'4'..=b'7')
            && hex[1].is_ascii_hexdigit()
            && u8::from_str_radix(&text[at + 4..at + 6], 16).is_ok_and(|c| c.is_ascii_alphabetic())
    })
}

/// `%uff01`…`%uff5e`: full-width forms that some servers fold to ASCII after inspection.
fn fullwidth_escape(lower: &str) -> bool {
    lower.match_indices("%uff").any(|(at, _)| {
        lower.as_bytes()[at + 4..]
            .iter()
            .take(2)
            .filter(|b| b.is_ascii_hexdigit())
            .count()
            == 2
    })
}

/// The path: line breaks (a request line split in two), and editor backup files.
fn path(request: &Request, out: &mut Vec<Finding>) {
    let decoded = decode::url_decode(&request.path, false);
    // `嘊` and `嘍` (U+560A, U+560D) end in the bytes of LF and CR: servers that cut
    // characters to one byte read a line break there.
    if decoded.contains(['\r', '\n', '\u{560a}', '\u{560d}']) {
        out.push(finding(
            Location::Path,
            "",
            "protocol.path_line_break",
            &request.path,
        ));
        return;
    }
    let backup = decoded.split('/').any(|segment| {
        segment.len() > 1
            && (segment.ends_with('~') || (segment.starts_with('#') && segment.ends_with('#')))
    });
    if backup {
        out.push(finding(
            Location::Path,
            "",
            "protocol.backup_file",
            &request.path,
        ));
    }
}

/// A session id planted in a link: the victim logs in with the attacker's session
/// (fixation). A link from the site itself may carry one (URL rewriting); one that
/// arrives without a Referer or from another site is the attack.
fn session_in_link(request: &Request, out: &mut Vec<Finding>) {
    let planted = request.query.split('&').find(|pair| {
        let name = pair
            .split('=')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        SESSION_PARAMETERS
            .iter()
            .any(|s| name == *s || (*s == "aspsessionid" && name.starts_with(s)))
    });
    let Some(pair) = planted else {
        return;
    };
    let host = request
        .header("host")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let same_site = request.header("referer").is_some_and(|r| {
        let r = r.to_ascii_lowercase();
        let authority = r.split("://").nth(1).unwrap_or_default();
        let referer_host = authority.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && referer_host == host
    });
    // Parameters only named like a session (`sid`, `sessionId`) are everyday analytics
    // and API parameters sent across sites: only the servers' own cookie names count.
    if !same_site {
        out.push(Finding {
            location: Location::Query,
            name: pair.split('=').next().unwrap_or_default().to_string(),
            hit: Hit::new(Category::SessionFixation, "session.fixation", 5, 1, pair),
        });
    }
}
