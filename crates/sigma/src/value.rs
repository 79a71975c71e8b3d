//! Value tests: one Sigma field condition (`Image|endswith: ...`) compiled into matchers.
//!
//! Strings match case-insensitively unless `cased` is given (rule values are lowered once
//! here; event values are lowered once per event by [`crate::FlatEvent`]). Regular
//! expressions are case-sensitive unless `re|i`, as Sigma specifies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::IpAddr;
use yaml_serde::Value as Yaml;

/// How one value is compared with the event's value.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    /// A substring, with its searcher built once (building one per comparison cost more
    /// than the search).
    Contains(Box<memchr::memmem::Finder<'static>>),
    /// A wildcard pattern with `*`/`?` inside (lowercase unless cased).
    Glob(Wildcard),
    /// A Sigma `re` value. Byte-oriented with ASCII classes: Unicode-aware `\w`, `\s` or
    /// `[^/]{100,}` expanded into automata of megabytes each (docs/benchmarks.md), and
    /// Sigma's PCRE-style expressions are written for ASCII.
    Regex(regex::bytes::Regex),
    Cidr(IpAddr, u8),
    Compare(Cmp, f64),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A compiled field condition.
#[derive(Debug, Clone)]
pub(crate) enum ValueTest {
    /// Any value matches (or all, with `all`).
    Values {
        matchers: Vec<Matcher>,
        all: bool,
        cased: bool,
    },
    /// `exists: true/false`.
    Exists(bool),
    /// `field: null`: absent or empty.
    Null,
    /// `fieldref`: equal to another field of the same event.
    FieldRef(Vec<String>),
}

/// Values for the `%name%` placeholders of rules that use the `expand` modifier: an
/// environment's own lists (its domain controllers, admin hosts), configured by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders(std::collections::BTreeMap<String, Vec<String>>);

impl Placeholders {
    /// Sets the values of placeholder `name` (written without the `%`).
    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        self.0.insert(name.trim_matches('%').to_string(), values);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every way of filling the placeholders in `text`: one string per combination.
    fn expand(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = vec![String::new()];
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let Some(len) = rest[start + 1..].find('%') else {
                break;
            };
            let name = &rest[start + 1..start + 1 + len];
            let values = self.0.get(name).ok_or_else(|| {
                format!(
                    "the `expand` modifier needs values for placeholder `%{name}%`; \
                     configure them (hunt --placeholder {name}=VALUE,..., or \
                     detection.placeholders in the server configuration)"
                )
            })?;
            let head = &rest[..start];
            out = out
                .iter()
                .flat_map(|done| values.iter().map(move |v| format!("{done}{head}{v}")))
                .collect();
            rest = &rest[start + len + 2..];
        }
        for done in &mut out {
            done.push_str(rest);
        }
        Ok(out)
    }
}

/// Builds the test for `field|modifiers: value(s)`; errors say what is unsupported.
pub(crate) fn compile(
    modifiers: &[&str],
    value: &Yaml,
    placeholders: &Placeholders,
) -> Result<ValueTest, String> {
    let mut kind = "equals";
    let (mut all, mut cased, mut regex_flags) = (false, false, String::new());
    let mut encodings: Vec<&str> = Vec::new();
    let mut windash = false;
    let mut expand = false;
    for m in modifiers {
        match *m {
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "gt" | "gte" | "lt"
            | "lte" | "exists" | "fieldref" => kind = m,
            "all" => all = true,
            "cased" => cased = true,
            "i" | "m" | "s" => regex_flags.push_str(m),
            "base64" | "base64offset" | "wide" | "utf16le" | "utf16be" | "utf16" => {
                encodings.push(m)
            }
            "windash" => windash = true,
            "expand" => expand = true,
            other => return Err(format!("unknown modifier `{other}`")),
        }
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Sequence(items) => items.iter().collect(),
        single => vec![single],
    };
    match kind {
        "exists" => {
            return match value.as_bool() {
                Some(b) => Ok(ValueTest::Exists(b)),
                None => Err("`exists` takes true or false".into()),
            };
        }
        "fieldref" => {
            let names = values
                .iter()
                .map(|v| scalar(v).ok_or("`fieldref` takes field names"))
                .collect::<Result<_, _>>()?;
            return Ok(ValueTest::FieldRef(names));
        }
        _ => {}
    }
    if values.len() == 1 && values[0].is_null() {
        return Ok(ValueTest::Null);
    }
    let mut texts = Vec::with_capacity(values.len());
    for v in values {
        let Some(text) = scalar(v) else {
            if v.is_null() {
                return Err("null inside a list of values is not supported".into());
            }
            return Err("values must be strings, numbers or booleans".into());
        };
        if expand {
            texts.extend(placeholders.expand(&text)?);
        } else {
            texts.push(text);
        }
    }
    let mut matchers = Vec::new();
    for text in texts {
        match kind {
            "re" => {
                let pattern = if regex_flags.is_empty() {
                    text
                } else {
                    format!("(?{regex_flags}){text}")
                };
                let build = |unicode: bool| {
                    regex::bytes::RegexBuilder::new(&pattern)
                        .unicode(unicode)
                        .size_limit(1 << 22)
                        .build()
                };
                // Unicode classes only for the rare expression with non-ASCII literals.
                let re = build(false).or_else(|_| build(true)).map_err(|e| {
                    format!(
                        "regular expression not supported: {}",
                        first_line(&e.to_string())
                    )
                })?;
                matchers.push(Matcher::Regex(re));
            }
            "cidr" => matchers.push(parse_cidr(&text)?),
            "gt" | "gte" | "lt" | "lte" => {
                let n: f64 = text
                    .parse()
                    .map_err(|_| format!("`{kind}` needs a number, got `{text}`"))?;
                let cmp = match kind {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                matchers.push(Matcher::Compare(cmp, n));
            }
            _ => {
                for variant in variants(&text, windash, &encodings)? {
                    matchers.push(pattern_matcher(&variant, kind, cased)?);
                }
            }
        }
    }
    Ok(ValueTest::Values {
        matchers,
        all,
        cased,
    })
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// A YAML scalar as text (numbers and booleans included).
pub(crate) fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The literal strings a value stands for after `windash` and encoding modifiers. Wildcards
/// survive only when there is no encoding (an encoded wildcard means nothing).
fn variants(text: &str, windash: bool, encodings: &[&str]) -> Result<Vec<String>, String> {
    let mut out = vec![text.to_string()];
    if windash {
        // A leading dash of an option may be written with any of these characters.
        let dashes = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
        let mut expanded = Vec::new();
        for v in &out {
            for d in dashes {
                let replaced: String = v
                    .char_indices()
                    .map(|(i, c)| {
                        let at_option =
                            c == '-' && (i == 0 || v[..i].ends_with(' ') || v[..i].ends_with('*'));
                        if at_option { d } else { c }
                    })
                    .collect();
                if !expanded.contains(&replaced) {
                    expanded.push(replaced);
                }
            }
        }
        out = expanded;
    }
    if encodings.is_empty() {
        return Ok(out);
    }
    let wide = encodings
        .iter()
        .any(|e| matches!(*e, "wide" | "utf16le" | "utf16"));
    let utf16be = encodings.contains(&"utf16be");
    let offsets = encodings.contains(&"base64offset");
    if !encodings.iter().any(|e| e.starts_with("base64")) {
        return Err("utf16/wide encodings are only supported together with base64".into());
    }
    let mut encoded = Vec::new();
    for v in out {
        let bytes: Vec<u8> = if wide {
            v.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
        } else if utf16be {
            v.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
        } else {
            v.into_bytes()
        };
        if offsets {
            // The value may sit at any of three alignments inside a longer base64 string;
            // keep only the characters that do not depend on its neighbours.
            for shift in 0..3usize {
                let mut padded = vec![0u8; shift];
                padded.extend_from_slice(&bytes);
                let full = STANDARD.encode(&padded);
                let start = [0, 2, 3][shift];
                let end = full.len() - [0, 3, 2][(bytes.len() + shift) % 3];
                if start < end {
                    encoded.push(escape_wildcards(&full[start..end]));
                }
            }
        } else {
            encoded.push(escape_wildcards(&STANDARD.encode(&bytes)));
        }
    }
    Ok(encoded)
}

fn escape_wildcards(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('*', "\\*")
        .replace('?', "\\?")
}

/// Splits a Sigma string into literal pieces and wildcards: `*` any run, `?` one character;
/// `\*`, `\?` and `\\` are literal.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                literal.push(chars.next().unwrap_or('\\'))
            }
            '*' | '?' => {
                if !literal.is_empty() {
                    out.push(Token::Lit(std::mem::take(&mut literal)));
                }
                out.push(if c == '*' { Token::Any } else { Token::One });
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        out.push(Token::Lit(literal));
    }
    out
}

#[derive(Debug, PartialEq)]
enum Token {
    Lit(String),
    Any,
    One,
}

/// The cheapest matcher for a value with its wildcards and position modifier.
fn pattern_matcher(text: &str, kind: &str, cased: bool) -> Result<Matcher, String> {
    let norm = |s: &str| {
        if cased {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let mut toks = tokens(text);
    if matches!(kind, "contains" | "endswith") && toks.first() != Some(&Token::Any) {
        toks.insert(0, Token::Any);
    }
    if matches!(kind, "contains" | "startswith") && toks.last() != Some(&Token::Any) {
        toks.push(Token::Any);
    }
    let lead = toks.first() == Some(&Token::Any);
    let trail = toks.len() > 1 && toks.last() == Some(&Token::Any);
    let inner: Vec<&Token> = toks
        .iter()
        .skip(usize::from(lead))
        .take(toks.len() - usize::from(lead) - usize::from(trail))
        .collect();
    match inner.as_slice() {
        // An empty value means an empty field; only a bare `*` means any value.
        [] if toks.is_empty() => Ok(Matcher::Equals(String::new())),
        [] => Ok(Matcher::StartsWith(String::new())),
        [Token::Lit(l)] => Ok(match (lead, trail) {
            (false, false) => Matcher::Equals(norm(l)),
            (false, true) => Matcher::StartsWith(norm(l)),
            (true, false) => Matcher::EndsWith(norm(l)),
            (true, true) => Matcher::Contains(Box::new(
                memchr::memmem::Finder::new(norm(l).as_bytes()).into_owned(),
            )),
        }),
        _ => Ok(Matcher::Glob(Wildcard(
            toks.iter()
                .flat_map(|t| match t {
                    Token::Lit(l) => norm(l).chars().map(Some).collect::<Vec<_>>(),
                    Token::Any => vec![None],
                    Token::One => vec![Some(ANY_ONE)],
                })
                .collect(),
        ))),
    }
}

/// Stands for `?` inside a [`Wildcard`]; a noncharacter, so it never occurs in text.
const ANY_ONE: char = '\u{FFFF}';

/// A `*`/`?` pattern: `None` is `*`, `Some(ANY_ONE)` is `?`, other `Some(c)` a literal.
///
/// A per-pattern `regex::Regex` cost tens of kilobytes each across thousands of rules
/// (docs/benchmarks.md); this is a few bytes per character and matches in one pass with
/// backtracking to the last `*`.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard(Vec<Option<char>>);

impl Wildcard {
    fn matches(&self, text: &str) -> bool {
        let p = &self.0;
        let t: Vec<char> = text.chars().collect();
        let (mut pi, mut ti) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            match p.get(pi) {
                Some(None) => {
                    star = Some((pi, ti));
                    pi += 1;
                }
                Some(Some(c)) if *c == ANY_ONE || *c == t[ti] => {
                    pi += 1;
                    ti += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        pi = sp + 1;
                        ti = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(Option::is_none)
    }
}

fn parse_cidr(text: &str) -> Result<Matcher, String> {
    let (addr, len) = text.split_once('/').unwrap_or((text, ""));
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a CIDR block"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u8 = if len.is_empty() {
        max
    } else {
        len.parse()
            .map_err(|_| format!("`{text}` has a bad prefix length"))?
    };
    if len > max {
        return Err(format!("`{text}` has a prefix longer than {max}"));
    }
    Ok(Matcher::Cidr(ip, len))
}

impl Matcher {
    /// A literal that every matching value contains (lowercase unless the test is cased),
    /// for the rule-set prefilter; `None` for regular expressions, wildcards and numbers.
    pub(crate) fn required_literal(&self) -> Option<&[u8]> {
        let literal: &[u8] = match self {
            Matcher::Equals(p) | Matcher::StartsWith(p) | Matcher::EndsWith(p) => p.as_bytes(),
            Matcher::Contains(finder) => finder.needle(),
            _ => return None,
        };
        (!literal.is_empty()).then_some(literal)
    }

    /// Whether `value` (already lowercased unless the test is `cased`) matches. `original`
    /// is the event's text as written, for regular expressions.
    pub(crate) fn matches(&self, value: &str, original: &str) -> bool {
        match self {
            Matcher::Equals(p) => value == p,
            Matcher::StartsWith(p) => value.starts_with(p.as_str()),
            Matcher::EndsWith(p) => value.ends_with(p.as_str()),
            Matcher::Contains(finder) => finder.find(value.as_bytes()).is_some(),
            Matcher::Glob(w) => w.matches(value),
            Matcher::Regex(re) => re.is_match(original.as_bytes()),
            Matcher::Cidr(net, len) => original
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_cidr(ip, *net, *len)),
            Matcher::Compare(cmp, n) => original.trim().parse::<f64>().is_ok_and(|v| match cmp {
                Cmp::Gt => v > *n,
                Cmp::Gte => v >= *n,
                Cmp::Lt => v < *n,
                Cmp::Lte => v <= *n,
            }),
        }
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(mods: &[&str], v: &str) -> Vec<Matcher> {
        match compile(mods, &Yaml::String(v.into()), &Placeholders::default()).unwrap() {
            ValueTest::Values { matchers, .. } => matchers,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wildcards_and_positions_pick_cheap_matchers() {
        assert!(matches!(&test(&[], "cmd.exe")[0], Matcher::Equals(p) if p == "cmd.exe"));
        assert!(
            matches!(&test(&["endswith"], r"\CMD.exe")[0], Matcher::EndsWith(p) if p == r"\cmd.exe")
        );
        assert!(matches!(&test(&[], "*\\cmd.exe")[0], Matcher::EndsWith(_)));
        assert!(matches!(&test(&["contains"], "a*b")[0], Matcher::Glob(_)));
        assert!(matches!(&test(&[], r"100\*")[0], Matcher::Equals(p) if p == "100*"));
        assert!(
            !test(&[], "")[0].matches("x", "x"),
            "'' matches only an empty value"
        );
        assert!(test(&[], "")[0].matches("", ""));
        assert!(test(&[], "*")[0].matches("x", "x"));
        // Sigma escapes: `\\*` is a backslash then a wildcard; `\*` alone is a literal star.
        let g = &test(&[], "c:\\users\\\\*\\appdata\\\\?.exe")[0];
        let check = |v: &str| g.matches(&v.to_lowercase(), v);
        assert!(check(r"C:\Users\bob\AppData\x.exe"));
        assert!(!check(r"C:\Users\bob\AppData\xy.exe"));
        assert!(check(r"C:\Users\a\b\AppData\y.exe"), "`*` spans separators");
        let w = &test(&[], "a*b*c")[0];
        for (text, expected) in [
            ("abc", true),
            ("aXbYc", true),
            ("abcbc", true),
            ("acb", false),
            ("ab", false),
        ] {
            assert_eq!(w.matches(text, text), expected, "{text}");
        }
    }

    #[test]
    fn windash_and_base64offset_expand() {
        let m = test(&["contains", "windash"], " -enc ");
        assert_eq!(m.len(), 5);
        assert!(m.iter().any(|m| m.matches(" /enc ", " /enc ")));
        // "http" at the three alignments inside base64 text.
        let m = test(&["base64offset", "contains"], "http");
        let hay = STANDARD.encode(b"x:http://a").to_lowercase();
        assert!(m.iter().any(|m| m.matches(&hay, &hay)), "{m:?} {hay}");
        for prefix in ["", "a", "ab"] {
            let hay = STANDARD
                .encode(format!("{prefix}http://evil"))
                .to_lowercase();
            assert!(m.iter().any(|m| m.matches(&hay, &hay)), "{prefix}: {hay}");
        }
    }

    #[test]
    fn cidr_numbers_and_regex() {
        let m = test(&["cidr"], "10.0.0.0/8");
        assert!(m[0].matches("10.1.2.3", "10.1.2.3") && !m[0].matches("11.0.0.1", "11.0.0.1"));
        let m = test(&["gte"], "5");
        assert!(m[0].matches("5", "5") && !m[0].matches("4", "4"));
        let m = test(&["re", "i"], "^abc");
        assert!(m[0].matches("", "ABCdef"));
        assert!(
            compile(
                &["re"],
                &Yaml::String("(?<=a)b".into()),
                &Placeholders::default()
            )
            .is_err()
        );
        assert!(
            compile(
                &["bogus"],
                &Yaml::String("x".into()),
                &Placeholders::default()
            )
            .unwrap_err()
            .contains("unknown modifier")
        );
    }

    #[test]
    fn expand_fills_placeholders_from_configured_values() {
        let value = Yaml::String("%dcs%\\%share%".into());
        let err = compile(&["expand"], &value, &Placeholders::default()).unwrap_err();
        assert!(err.contains("`%dcs%`"), "{err}");
        let mut p = Placeholders::default();
        p.insert("dcs", vec!["DC1".into(), "DC2".into()]);
        p.insert("%share%", vec!["sysvol".into()]);
        let ValueTest::Values { matchers, .. } = compile(&["expand"], &value, &p).unwrap() else {
            panic!()
        };
        assert_eq!(matchers.len(), 2);
        assert!(matchers[0].matches("dc1\\sysvol", "DC1\\sysvol"));
        assert!(matchers[1].matches("dc2\\sysvol", "DC2\\sysvol"));
        assert!(
            !matchers
                .iter()
                .any(|m| m.matches("dc3\\sysvol", "DC3\\sysvol"))
        );
    }
}
