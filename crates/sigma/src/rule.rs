//! A Sigma rule's metadata and the errors reading one can give.

use crate::detection::Detection;
use serde::Serialize;
use std::fmt;
use watchpost_core::{AttackTags, Severity};

/// Sigma's `level`, mapped onto Watchpost severities (`informational` is `info`).
pub type Level = Severity;

/// Where a rule applies: Sigma's `logsource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

/// A parsed Sigma detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub attack: AttackTags,
    pub logsource: LogSource,
    /// The event fields the rule's selections test, each once, in rule order.
    fields: Vec<String>,
    /// The file the rule came from.
    pub path: String,
}

/// Why a rule could not be loaded or compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub path: String,
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// The rule field concerned (`detection.selection.Image|endswith`), where known.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl RuleError {
    pub(crate) fn new(path: &str, field: Option<String>, message: impl Into<String>) -> RuleError {
        RuleError {
            path: path.to_string(),
            line: None,
            field,
            message: message.into(),
        }
    }

    /// Points the error at the line of its field's last key in `text`, when it can be found.
    pub(crate) fn locate(mut self, text: &str) -> RuleError {
        if self.line.is_none()
            && let Some(key) = self.field.as_deref().and_then(|f| f.rsplit('.').next())
        {
            let needle = format!("{key}:");
            self.line = text
                .lines()
                .position(|l| l.trim_start().trim_start_matches("- ").starts_with(&needle))
                .map(|i| i + 1);
        }
        self
    }
}

impl Rule {
    /// The event fields the rule's selections test, each once, in rule order; hunt output
    /// shows their values so an analyst sees why the rule matched.
    pub fn referenced_fields(&self) -> &[String] {
        &self.fields
    }
}

fn fields_of(detection: &Detection) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, selection) in &detection.selections {
        if let crate::detection::Selection::Groups(groups) = selection {
            for test in groups.iter().flatten() {
                if !out.contains(&test.field) {
                    out.push(test.field.clone());
                }
            }
        }
    }
    out
}

/// Reads a rule from YAML text: the rule's metadata, and its detection section, which
/// compilation consumes (the selections move into the compiled rule variants). Documents that are not detection rules (correlation rules,
/// filters) are reported as such.
pub(crate) fn parse(text: &str, path: &str) -> Result<(Rule, Detection), RuleError> {
    let doc: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| RuleError {
        path: path.to_string(),
        line: e.location().map(|l| l.line()),
        field: None,
        message: format!("invalid YAML: {e}"),
    })?;
    let get_str = |key: &str| doc.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if doc.get("correlation").is_some() {
        return Err(RuleError::new(
            path,
            Some("correlation".into()),
            "correlation rules are not supported yet",
        ));
    }
    if doc.get("filter").is_some() && doc.get("detection").is_none() {
        return Err(RuleError::new(
            path,
            Some("filter".into()),
            "filter rules are not supported yet",
        ));
    }
    let id = get_str("id").ok_or_else(|| {
        RuleError::new(path, Some("id".into()), "missing: every rule needs an id")
    })?;
    let title = get_str("title").unwrap_or_else(|| id.clone());
    let level = match get_str("level") {
        Some(l) => l
            .parse()
            .map_err(|e: watchpost_core::severity::UnknownSeverity| {
                RuleError::new(path, Some("level".into()), e.to_string()).locate(text)
            })?,
        None => Level::Medium,
    };
    let tags: Vec<String> = doc
        .get("tags")
        .and_then(|t| t.as_sequence())
        .map(|s| {
            s.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let logsource = doc.get("logsource").map(|ls| LogSource {
        product: ls
            .get("product")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase),
        category: ls
            .get("category")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase),
        service: ls
            .get("service")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase),
    });
    let logsource =
        logsource.ok_or_else(|| RuleError::new(path, Some("logsource".into()), "missing"))?;
    let detection = doc
        .get("detection")
        .ok_or_else(|| RuleError::new(path, Some("detection".into()), "missing"))?;
    let detection = Detection::parse(detection).map_err(|(field, message)| {
        RuleError::new(path, Some(format!("detection.{field}")), message).locate(text)
    })?;
    let rule = Rule {
        attack: AttackTags::from_sigma_tags(tags.iter().map(String::as_str)),
        id,
        title,
        level,
        status: get_str("status"),
        tags,
        logsource,
        fields: fields_of(&detection),
        path: path.to_string(),
    };
    Ok((rule, detection))
}
