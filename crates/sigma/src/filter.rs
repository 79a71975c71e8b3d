//! Sigma filters: environment tuning kept apart from the rules it tunes. A filter names
//! rules and each one's condition becomes `(condition) and not (filter)`, so that one file can silence
//! a known-good administrator account or script across many rules without editing them.

use crate::detection::Detection;
use crate::rule::{LogSource, Rule};
use crate::value::Placeholders;
use yaml_serde::Value as Yaml;

/// A parsed filter document.
pub(crate) struct FilterSpec {
    pub path: String,
    pub logsource: LogSource,
    /// Ids or names of the rules it tunes; empty means every rule of its log source.
    pub rules: Vec<String>,
    /// The filter's selections and condition: what it removes.
    pub detection: Detection,
}

impl FilterSpec {
    /// Parses the `filter` section; errors carry the field path below `filter`.
    pub(crate) fn parse(
        section: &Yaml,
        logsource: LogSource,
        placeholders: &Placeholders,
    ) -> Result<FilterSpec, (String, String)> {
        let map = section
            .as_mapping()
            .ok_or_else(|| (String::new(), "must be a mapping".to_string()))?;
        let rules = match section.get("rules") {
            None => Vec::new(),
            Some(Yaml::String(one)) => vec![one.clone()],
            Some(Yaml::Sequence(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_string).ok_or_else(|| {
                        (
                            "rules".to_string(),
                            "must list rule ids or names".to_string(),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(("rules".into(), "must list rule ids or names".into()));
            }
        };
        // The rest of the section is a detection: selections and a condition.
        let mut detection = map.clone();
        detection.remove("rules");
        let detection = Detection::parse(&Yaml::Mapping(detection), placeholders)?;
        Ok(FilterSpec {
            path: String::new(),
            logsource,
            rules,
            detection,
        })
    }

    /// Whether the filter tunes `rule`: it names the rule (or names none), and every part
    /// of its log source that it sets is the rule's.
    pub(crate) fn applies_to(&self, rule: &Rule) -> bool {
        let same =
            |mine: &Option<String>, theirs: &Option<String>| mine.is_none() || mine == theirs;
        (self.rules.is_empty() || self.rules.iter().any(|r| rule.is_named(r)))
            && same(&self.logsource.product, &rule.logsource.product)
            && same(&self.logsource.category, &rule.logsource.category)
            && same(&self.logsource.service, &rule.logsource.service)
    }
}
