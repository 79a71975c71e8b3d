//! A Sigma rule's metadata and the errors reading one can give.

use crate::correlation::CorrelationSpec;
use crate::detection::Detection;
use crate::filter::FilterSpec;
use crate::value::Placeholders;
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
    /// The Sigma `id`, or the `name` of a rule that has no id.
    pub id: String,
    /// The Sigma `name`, by which correlations and filters may refer to the rule.
    pub name: Option<String>,
    pub title: String,
    pub level: Level,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub attack: AttackTags,
    pub logsource: LogSource,
    /// The event fields the rule's selections test, each once, in rule order.
    fields: Vec<String>,
    /// Whether the rule's own matches are reported. False for a rule that only feeds
    /// correlations: Sigma's `generate: false`, the default for rules a correlation refers to.
    pub standalone: bool,
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
    /// Whether `reference` (from a correlation or a filter) names this rule.
    pub(crate) fn is_named(&self, reference: &str) -> bool {
        self.id == reference || self.name.as_deref() == Some(reference)
    }

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

/// One YAML document of a rule file.
pub(crate) enum Document {
    /// A detection rule and its detection section, which compilation consumes.
    Detection(Rule, Detection),
    /// A correlation rule: its metadata and what it correlates.
    Correlation(Rule, CorrelationSpec),
    /// A filter that tunes other rules.
    Filter(FilterSpec),
}

/// Reads every document of a rule file (Sigma allows several, separated by `---`, so a
/// correlation can sit beside the rules it correlates). A broken document is reported and
/// the others still load; a YAML syntax error ends the file.
pub(crate) fn parse_documents(
    text: &str,
    path: &str,
    placeholders: &Placeholders,
) -> Vec<Result<Document, RuleError>> {
    use serde::Deserialize;
    let mut out = Vec::new();
    for document in yaml_serde::Deserializer::from_str(text) {
        match yaml_serde::Value::deserialize(document) {
            Ok(yaml_serde::Value::Null) => {}
            Ok(doc) => out.push(parse_document(&doc, text, path, placeholders)),
            Err(e) => {
                out.push(Err(RuleError {
                    path: path.to_string(),
                    line: e.location().map(|l| l.line()),
                    field: None,
                    message: format!("invalid YAML: {e}"),
                }));
                break;
            }
        }
    }
    if out.is_empty() {
        out.push(Err(RuleError::new(path, None, "the file holds no rule")));
    }
    out
}

fn parse_document(
    doc: &yaml_serde::Value,
    text: &str,
    path: &str,
    placeholders: &Placeholders,
) -> Result<Document, RuleError> {
    let get_str = |key: &str| doc.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if doc.get("action").is_some() {
        return Err(RuleError::new(
            path,
            Some("action".into()),
            "Sigma 1 rule collections (`action: global`/`repeat`) are not supported; \
             write each rule out in full",
        )
        .locate(text));
    }
    let logsource = doc.get("logsource").map(|ls| {
        let get = |k: &str| {
            ls.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_ascii_lowercase)
        };
        LogSource {
            product: get("product"),
            category: get("category"),
            service: get("service"),
        }
    });
    if let Some(filter) = doc.get("filter") {
        let logsource =
            logsource.ok_or_else(|| RuleError::new(path, Some("logsource".into()), "missing"))?;
        let spec =
            FilterSpec::parse(filter, logsource, placeholders).map_err(|(field, message)| {
                RuleError::new(path, Some(format!("filter.{field}")), message).locate(text)
            })?;
        return Ok(Document::Filter(FilterSpec {
            path: path.to_string(),
            ..spec
        }));
    }
    let correlation = doc.get("correlation");
    let id = match (get_str("id"), get_str("name")) {
        (Some(id), _) => id,
        // A correlation, or a rule only a correlation refers to, may go by its name alone.
        (None, Some(name)) => name,
        (None, None) => {
            return Err(RuleError::new(
                path,
                Some("id".into()),
                "missing: every rule needs an id",
            ));
        }
    };
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
    let mut rule = Rule {
        attack: AttackTags::from_sigma_tags(tags.iter().map(String::as_str)),
        id,
        name: get_str("name"),
        title,
        level,
        status: get_str("status"),
        tags,
        logsource: LogSource::default(),
        fields: Vec::new(),
        standalone: true,
        path: path.to_string(),
    };
    if let Some(correlation) = correlation {
        let spec = CorrelationSpec::parse(correlation).map_err(|(field, message)| {
            RuleError::new(path, Some(format!("correlation.{field}")), message).locate(text)
        })?;
        rule.fields = spec.group_by.clone();
        return Ok(Document::Correlation(rule, spec));
    }
    rule.logsource =
        logsource.ok_or_else(|| RuleError::new(path, Some("logsource".into()), "missing"))?;
    let detection = doc
        .get("detection")
        .ok_or_else(|| RuleError::new(path, Some("detection".into()), "missing"))?;
    let detection = Detection::parse(detection, placeholders).map_err(|(field, message)| {
        RuleError::new(path, Some(format!("detection.{field}")), message).locate(text)
    })?;
    rule.fields = fields_of(&detection);
    Ok(Document::Detection(rule, detection))
}
