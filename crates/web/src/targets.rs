//! The places in a request that carry user input, each decoded for inspection: the path,
//! query and form parameters (names and values), JSON strings, multipart parts, XML
//! bodies, cookies and the headers that carry payloads.
//!
//! Everything taken from the request is bounded; what goes past a bound is cut, and the
//! cut is reported ([`Limits`]) so that stuffing a request cannot hide a payload unseen.

use crate::decode;
use crate::request::Request;
use serde::Serialize;

/// Bounds on what one request may make the engine do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Body bytes inspected.
    pub max_body: usize,
    /// Parameters, JSON strings, parts, cookies and headers inspected.
    pub max_targets: usize,
    /// Bytes of one value inspected.
    pub max_value: usize,
    /// JSON nesting followed.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 1 << 20,
            max_targets: 2048,
            max_value: 64 << 10,
            max_depth: 64,
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    Path,
    QueryName,
    Query,
    FormName,
    Form,
    Json,
    Multipart,
    /// The file name of an uploaded part.
    FileName,
    /// A text node or attribute value of an XML body, named by its element path.
    Xml,
    /// An XML body as a document: only what markup alone can do is judged there
    /// (entities, XInclude, processing instructions, script elements, event handlers).
    XmlDocument,
    Body,
    Cookie,
    Header,
    /// A parameter of the Referer's query: the previous page's input, judged as a query
    /// parameter is (the header as a whole is a URL, judged as a header).
    RefererParam,
}

/// One inspected value.
#[derive(Debug, Clone)]
pub struct Target {
    pub location: Location,
    /// The parameter, JSON path, cookie or header name.
    pub name: String,
    /// The value as sent (cut to the value limit).
    pub raw: String,
    /// Decoded: percent-encoding, entities, escapes and look-alikes undone.
    pub decoded: String,
    /// `decoded`, lowercased.
    pub lower: String,
}

/// The targets of a request, and which limits it went past.
#[derive(Debug, Default)]
pub struct Targets {
    pub items: Vec<Target>,
    pub exceeded: Vec<&'static str>,
}

/// Headers whose values are structural (negotiation, caching, browser hints) and carry no
/// application input; every other header is inspected.
const STRUCTURAL_HEADERS: &[&str] = &[
    "host",
    "accept",
    "accept-encoding",
    "accept-language",
    "accept-charset",
    "connection",
    "cache-control",
    "pragma",
    "content-type",
    "content-length",
    "upgrade",
    "upgrade-insecure-requests",
    "dnt",
    "te",
    "priority",
    "keep-alive",
    "transfer-encoding",
    "range",
    "authorization",
    "cookie",
    "origin",
    "x-requested-with",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
];

impl Targets {
    /// Collects and decodes the targets of `request`.
    pub fn of(request: &Request, limits: &Limits) -> Targets {
        let mut t = Targets::default();
        let path = decode::url_decode(&request.path, false);
        t.push(Location::Path, "", &request.path, path, limits);
        for (name, value) in pairs(&request.query, '&') {
            t.param(Location::QueryName, Location::Query, name, value, limits);
        }
        for (name, value) in request
            .header("cookie")
            .into_iter()
            .flat_map(|c| pairs(c, ';'))
        {
            let decoded = decode::url_decode(value, true);
            t.push(Location::Cookie, name.trim(), value, decoded, limits);
            // Cookie names are input too, and payloads hide there.
            let name = name.trim();
            if name.len() >= 12
                || name
                    .bytes()
                    .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')))
            {
                t.push(
                    Location::Cookie,
                    name,
                    name,
                    decode::url_decode(name, true),
                    limits,
                );
            }
        }
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if STRUCTURAL_HEADERS.contains(&lower.as_str())
                || lower.starts_with("sec-ch-")
                || lower.starts_with("sec-fetch-")
            {
                continue;
            }
            let decoded = decode::url_decode(value, false);
            // Upload helpers name the file in a header.
            let at = if matches!(
                lower.as_str(),
                "x-filename" | "x-file-name" | "x_filename" | "x.filename"
            ) {
                Location::FileName
            } else {
                Location::Header
            };
            t.push(at, name, value, decoded, limits);
            // A Referer's query is the previous page's parameters: inspected one by one.
            if lower == "referer"
                && let Some((_, query)) = value.split_once('?')
            {
                for (param, v) in pairs(query, '&') {
                    let decoded = decode::url_decode(v, true);
                    t.push(
                        Location::RefererParam,
                        &format!("Referer:{param}"),
                        v,
                        decoded,
                        limits,
                    );
                }
            }
        }
        let mut body = request.body.as_str();
        if body.len() > limits.max_body {
            t.exceeded.push("body size");
            body = cut(body, limits.max_body);
        }
        if !body.is_empty() {
            t.body(request, body, limits);
        }
        t
    }

    fn body(&mut self, request: &Request, body: &str, limits: &Limits) {
        let content_type = request
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let trimmed = body.trim_start();
        if content_type.contains("multipart/form-data") {
            // The boundary is case-sensitive: taken from the header as sent.
            let header = request.header("content-type").unwrap_or_default();
            self.multipart(header, body, limits);
        } else if content_type.contains("json")
            || trimmed.starts_with('{')
            || trimmed.starts_with('[')
        {
            match serde_json::from_str::<serde_json::Value>(body) {
                Ok(value) => self.json("", &value, 0, limits),
                Err(e) => {
                    if e.to_string().contains("recursion limit") {
                        self.exceeded.push("JSON depth");
                    }
                    self.whole_body(body, limits);
                }
            }
        } else if content_type.contains("xml") || trimmed.starts_with('<') {
            self.xml(body, limits);
        } else if content_type.contains("x-www-form-urlencoded") || looks_like_form(body) {
            for (name, value) in pairs(body, '&') {
                self.param(Location::FormName, Location::Form, name, value, limits);
            }
        } else {
            self.whole_body(body, limits);
        }
    }

    /// An XML body: when it is well-formed, its text nodes and attribute values one by one
    /// and its markup as a document; otherwise (an HTML fragment sent as a body, say) the
    /// body as one value.
    fn xml(&mut self, body: &str, limits: &Limits) {
        match crate::xml::values(body, limits.max_depth, limits.max_targets) {
            Ok(values) => {
                self.push(Location::XmlDocument, "", body, body.to_string(), limits);
                for value in values {
                    // What the application reads: the XML parser resolves entities
                    // (`&amp;tab;` is `&tab;`), then the value is decoded like any other.
                    let decoded = decode::url_decode(&decode::html_decode(value.text), false);
                    self.push(Location::Xml, &value.path, value.text, decoded, limits);
                }
            }
            Err(unread) => {
                if unread == crate::xml::Unread::TooDeep {
                    self.exceeded.push("XML depth");
                }
                self.push(Location::Xml, "", body, decode::html_decode(body), limits);
            }
        }
    }

    /// The body as one value, for types that cannot be parsed into fields. A form field
    /// encoded once too often (`pay%3D%26%26(l%3D!0)`) only shows its name once decoded:
    /// what follows the name is then inspected as that field's value as well, so that a
    /// fragment opening it opens a value. (Its `&`s were encoded with the rest and belong
    /// to the payload, so the text is not split into fields.)
    fn whole_body(&mut self, body: &str, limits: &Limits) {
        let decoded = decode::url_decode(body, false);
        if let Some((name, value)) = decoded.split_once('=')
            && looks_like_form(&decoded)
            && !value.is_empty()
        {
            self.param(Location::FormName, Location::Form, name, value, limits);
        }
        self.push(Location::Body, "", body, decoded, limits);
    }

    /// A parameter name, inspected like the value when it holds anything beyond the usual
    /// name characters (`a[$ne]`, `<script>=1`) or is long enough to carry a payload
    /// (`java.io.File=x`, base64).
    fn param(
        &mut self,
        name_at: Location,
        value_at: Location,
        name: &str,
        value: &str,
        limits: &Limits,
    ) {
        let decoded_name = decode::url_decode(name, true);
        if name_worth_inspecting(&decoded_name) {
            self.push(name_at, &decoded_name, name, decoded_name.clone(), limits);
        }
        let decoded = decode::url_decode(value, true);
        // JSON sent inside a parameter (`id={"id":"MSBhbmQgMT0y"}`): its strings are
        // inspected one by one too, so that what they encode is decoded on its own.
        let embedded = decoded.trim().trim_matches('\'');
        if embedded.starts_with(['{', '['])
            && embedded.len() <= limits.max_value
            && let Ok(json) = serde_json::from_str::<serde_json::Value>(embedded)
        {
            self.json(&decoded_name, &json, 1, limits);
        }
        self.push(value_at, &decoded_name, value, decoded, limits);
    }

    fn json(&mut self, path: &str, value: &serde_json::Value, depth: usize, limits: &Limits) {
        if depth > limits.max_depth {
            if !self.exceeded.contains(&"JSON depth") {
                self.exceeded.push("JSON depth");
            }
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let decoded = decode::url_decode(s, false);
                self.push(Location::Json, path, s, decoded, limits);
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.json(&format!("{path}[{i}]"), item, depth + 1, limits);
                }
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    // Operator keys (`$where`, `$ne`) are how NoSQL injection looks, and
                    // class names as keys reach Java deserializers.
                    if name_worth_inspecting(key) {
                        self.push(Location::Json, path, key, key.clone(), limits);
                    }
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.json(&child, item, depth + 1, limits);
                }
            }
            _ => {}
        }
    }

    fn multipart(&mut self, content_type: &str, body: &str, limits: &Limits) {
        let boundary = content_type
            .split(';')
            .find_map(|p| {
                let p = p.trim();
                p.get(..9)
                    .filter(|k| k.eq_ignore_ascii_case("boundary="))
                    .map(|_| &p[9..])
            })
            .map(|b| b.trim_matches('"').to_string());
        let Some(boundary) = boundary.filter(|b| !b.is_empty()) else {
            self.push(Location::Body, "", body, body.to_string(), limits);
            return;
        };
        let delimiter = format!("--{boundary}");
        for part in body.split(delimiter.as_str()).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.trim_start_matches(['\r', '\n']);
            let (head, content) = part
                .split_once("\r\n\r\n")
                .or_else(|| part.split_once("\n\n"))
                .unwrap_or((part, ""));
            let content = content
                .strip_suffix("\r\n")
                .or_else(|| content.strip_suffix('\n'))
                .unwrap_or(content);
            let name = head
                .split(';')
                .find_map(|p| p.trim().strip_prefix("name="))
                .map(|n| n.trim_matches('"').to_string())
                .unwrap_or_default();
            // Binary file contents (images, archives) carry no text payload to parse.
            let binary = content.contains('\0')
                || content
                    .chars()
                    .take(512)
                    .filter(|c| c.is_control() && !c.is_whitespace())
                    .count()
                    > 16;
            if let Some(filename) = head
                .split(';')
                .find_map(|p| p.trim().strip_prefix("filename="))
            {
                let filename = filename
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('"');
                self.push(
                    Location::FileName,
                    &name,
                    filename,
                    filename.to_string(),
                    limits,
                );
            }
            self.push(Location::Multipart, &name, head, head.to_string(), limits);
            if !binary {
                self.push(
                    Location::Multipart,
                    &name,
                    content,
                    decode::url_decode(content, false),
                    limits,
                );
            }
        }
    }

    fn push(
        &mut self,
        location: Location,
        name: &str,
        raw: &str,
        decoded: String,
        limits: &Limits,
    ) {
        if self.items.len() >= limits.max_targets {
            if !self.exceeded.contains(&"parameter count") {
                self.exceeded.push("parameter count");
            }
            return;
        }
        if raw.is_empty() && decoded.is_empty() {
            return;
        }
        if decoded.len() > limits.max_value && !self.exceeded.contains(&"value size") {
            self.exceeded.push("value size");
        }
        let decoded = cut(&decoded, limits.max_value);
        // Most values hold no entity, escape or look-alike: no copy for each decoder.
        let decoded = if decoded.is_ascii() && !decoded.contains(['&', '\\']) {
            decoded.to_string()
        } else {
            decode::fold_lookalikes(&decode::js_decode(&decode::html_decode(decoded)))
        };
        let lower = decoded.to_lowercase();
        self.items.push(Target {
            location,
            name: name.to_string(),
            raw: cut(raw, limits.max_value).to_string(),
            decoded,
            lower,
        });
    }
}

/// `a=1&b=2` (or `;`-separated cookies) as name/value pairs; a part without `=` is a value
/// with an empty name.
fn pairs(text: &str, separator: char) -> impl Iterator<Item = (&str, &str)> {
    text.split(separator)
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or(("", p)))
}

fn looks_like_form(body: &str) -> bool {
    let first = body.split('&').next().unwrap_or_default();
    first
        .split_once('=')
        .is_some_and(|(name, _)| !name.is_empty() && !name.contains([' ', '<', '{']))
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether a parameter name or JSON key is worth inspecting like a value (`a[$ne]`,
/// `<script>`, `java.io.BufferedReader`): beyond the usual name characters, or long enough
/// to carry a payload.
fn name_worth_inspecting(name: &str) -> bool {
    name.len() >= 12
        || name
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')))
}
