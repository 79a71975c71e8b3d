//! A rule's `detection` section: named selections and the condition over them.

use crate::condition::{self, Expr};
use crate::value::{self, Placeholders, ValueTest};
use yaml_serde::Value as Yaml;

/// One field test inside a selection map.
#[derive(Debug, Clone)]
pub(crate) struct FieldTest {
    pub field: String,
    pub test: ValueTest,
}

/// A named selection.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    /// Maps OR-ed together; inside a map, every field test must hold.
    Groups(Vec<Vec<FieldTest>>),
    /// Keyword search: a value found in any field of the event.
    Keywords(ValueTest),
}

#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub selections: Vec<(String, Selection)>,
    pub condition: Expr,
}

type ParseError = (String, String);

impl Detection {
    /// Parses the `detection` mapping; errors carry the field path below `detection`.
    pub(crate) fn parse(doc: &Yaml, placeholders: &Placeholders) -> Result<Detection, ParseError> {
        let map = doc.as_mapping().ok_or_else(|| {
            (
                String::new(),
                "must be a mapping of selections and a condition".to_string(),
            )
        })?;
        let mut selections = Vec::new();
        let mut condition = None;
        for (key, value) in map {
            let name = key
                .as_str()
                .ok_or_else(|| (String::new(), "selection names must be strings".to_string()))?;
            match name {
                "condition" => {
                    condition =
                        Some(parse_condition(value).map_err(|e| ("condition".to_string(), e))?);
                }
                "timeframe" => {}
                _ => selections.push((
                    name.to_string(),
                    parse_selection(value, placeholders).map_err(|(f, e)| (join(name, &f), e))?,
                )),
            }
        }
        let condition =
            condition.ok_or_else(|| ("condition".to_string(), "missing".to_string()))?;
        Ok(Detection {
            selections,
            condition,
        })
    }
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}.{b}")
    }
}

fn parse_condition(value: &Yaml) -> Result<Expr, String> {
    match value {
        Yaml::String(s) => condition::parse(s),
        Yaml::Sequence(items) => {
            let parts = items
                .iter()
                .map(|i| {
                    i.as_str()
                        .ok_or("condition list items must be strings".to_string())
                        .and_then(condition::parse)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Expr::Or(parts))
        }
        _ => Err("must be a string or a list of strings".into()),
    }
}

fn parse_selection(value: &Yaml, placeholders: &Placeholders) -> Result<Selection, ParseError> {
    // `'|all': [a, b]`: a keyword search with modifiers (no field name).
    if let Some((key, values)) = value
        .as_mapping()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
        && let Some(modifiers) = key.as_str().and_then(|k| k.strip_prefix('|'))
    {
        let mut modifiers: Vec<&str> = modifiers.split('|').collect();
        if !modifiers
            .iter()
            .any(|m| matches!(*m, "contains" | "startswith" | "endswith" | "re"))
        {
            modifiers.push("contains");
        }
        return value::compile(&modifiers, values, placeholders)
            .map(Selection::Keywords)
            .map_err(|e| (key.as_str().unwrap_or_default().to_string(), e));
    }
    match value {
        Yaml::Mapping(_) => Ok(Selection::Groups(vec![parse_group(value, placeholders)?])),
        Yaml::Sequence(items) if items.iter().all(|i| i.is_mapping()) && !items.is_empty() => {
            Ok(Selection::Groups(
                items
                    .iter()
                    .map(|i| parse_group(i, placeholders))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Yaml::Sequence(_) | Yaml::String(_) | Yaml::Number(_) => {
            value::compile(&["contains"], value, placeholders)
                .map(Selection::Keywords)
                .map_err(|e| (String::new(), e))
        }
        _ => Err((
            String::new(),
            "a selection must be a mapping, a list of mappings or a list of keywords".into(),
        )),
    }
}

fn parse_group(value: &Yaml, placeholders: &Placeholders) -> Result<Vec<FieldTest>, ParseError> {
    let Some(map) = value.as_mapping() else {
        return Err((String::new(), "expected a mapping of fields".into()));
    };
    let mut tests = Vec::with_capacity(map.len());
    for (key, v) in map {
        let key = key
            .as_str()
            .ok_or_else(|| (String::new(), "field names must be strings".to_string()))?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default().to_string();
        let modifiers: Vec<&str> = parts.collect();
        let test = value::compile(&modifiers, v, placeholders).map_err(|e| (key.to_string(), e))?;
        if field.is_empty() {
            return Err((
                key.to_string(),
                "keyword searches with modifiers (no field name) are not supported".into(),
            ));
        }
        tests.push(FieldTest { field, test });
    }
    Ok(tests)
}
