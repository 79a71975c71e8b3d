//! Label matchers in the syntax Alertmanager users already write: `name="value"`,
//! `name!="value"`, `name=~"regex"`, `name!~"regex"`. Quotes are optional around values
//! without spaces or commas. Regexes are anchored at both ends, so `severity=~"high"` does
//! not match `very-high`. A label an alert lacks has the empty value.

use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// The labels routing, inhibition and silences match on.
pub type LabelSet = BTreeMap<String, String>;

/// Longest matcher text accepted, to bound regex compilation from API input.
const MAX_MATCHER_LEN: usize = 1024;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

/// One compiled matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Parses `name OP value`; the error says what is wrong with the text.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        if text.len() > MAX_MATCHER_LEN {
            return Err(format!(
                "matcher is {} bytes long; at most {MAX_MATCHER_LEN} allowed",
                text.len()
            ));
        }
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .ok_or_else(|| format!("`{text}` has no operator: expected name=value, name!=value, name=~regex or name!~regex"))?;
        let name = text[..name_end].to_string();
        if name.is_empty() {
            return Err(format!("`{text}` has no label name before the operator"));
        }
        let rest = text[name_end..].trim_start();
        let (op, raw_value) = if let Some(v) = rest.strip_prefix("=~") {
            (MatchOp::Regex, v)
        } else if let Some(v) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, v)
        } else if let Some(v) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, v)
        } else if let Some(v) = rest.strip_prefix('=') {
            (MatchOp::Equal, v)
        } else {
            return Err(format!(
                "`{text}`: unknown operator after `{name}`: expected =, !=, =~ or !~"
            ));
        };
        let value = unquote(raw_value.trim()).map_err(|e| format!("`{text}`: {e}"))?;
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("`{text}`: invalid regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name,
            op,
            value,
            regex,
        })
    }

    /// Whether `labels` satisfy this matcher.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let actual = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(actual),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(actual),
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// Parses each matcher; an error is `(KEY[index], what is wrong)`, so the caller's `key`
/// names the list the matchers came from.
pub fn parse_all(key: &str, texts: &[String]) -> Result<Vec<Matcher>, (String, String)> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Matcher::parse(t).map_err(|e| (format!("{key}[{i}]"), e)))
        .collect()
}

/// Whether every matcher matches (an empty list matches everything).
pub fn all_match(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// A label set from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn unquote(raw: &str) -> Result<String, String> {
    let Some(inner) = raw.strip_prefix('"') else {
        if raw.contains(['"', ',']) {
            return Err("an unquoted value may not contain `\"` or `,`".into());
        }
        return Ok(raw.to_string());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or("the value's opening quote is never closed")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => return Err("the value ends in a lone backslash".into()),
            }
        } else if c == '"' {
            return Err("a quote inside the value must be escaped as \\\"".into());
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_operators_and_anchored_regexes() {
        let l = labels(&[("severity", "high"), ("host", "web-1")]);
        assert!(Matcher::parse(r#"severity="high""#).unwrap().matches(&l));
        assert!(Matcher::parse("severity=high").unwrap().matches(&l));
        assert!(!Matcher::parse("severity!=high").unwrap().matches(&l));
        assert!(
            Matcher::parse(r#"severity=~"high|critical""#)
                .unwrap()
                .matches(&l)
        );
        assert!(!Matcher::parse(r#"severity=~"hig""#).unwrap().matches(&l));
        assert!(Matcher::parse(r#"host!~"db-.*""#).unwrap().matches(&l));
        // A missing label is empty.
        assert!(Matcher::parse(r#"team="""#).unwrap().matches(&l));
        assert!(Matcher::parse(r#"team!="ops""#).unwrap().matches(&l));
    }

    #[test]
    fn bad_matchers_say_what_is_wrong() {
        assert!(
            Matcher::parse("severity")
                .unwrap_err()
                .contains("no operator")
        );
        assert!(Matcher::parse("=x").unwrap_err().contains("no label name"));
        assert!(
            Matcher::parse("a=~\"(\"")
                .unwrap_err()
                .contains("invalid regex")
        );
        assert!(
            Matcher::parse("a=\"x")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(
            Matcher::parse("a<x")
                .unwrap_err()
                .contains("unknown operator")
        );
        let err = parse_all("matchers", &["a=b".into(), "c".into()]).unwrap_err();
        assert!(
            err.0 == "matchers[1]" && err.1.contains("no operator"),
            "{err:?}"
        );
    }

    #[test]
    fn escaped_quotes_survive() {
        let m = Matcher::parse(r#"title="say \"hi\"""#).unwrap();
        assert_eq!(m.value, "say \"hi\"");
        assert_eq!(m.to_string(), r#"title="say \"hi\"""#);
    }
}
