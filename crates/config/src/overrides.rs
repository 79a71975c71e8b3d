//! `WATCHPOST_SECTION__KEY=value` environment overrides, applied over the file.
//!
//! The value is read as JSON when it parses as JSON (numbers, booleans, arrays) and as a
//! plain string otherwise, so `WATCHPOST_API__PORT=9090` and
//! `WATCHPOST_STORAGE__DATABASE_URL=postgres://…` both do what they look like.

use crate::{Config, ConfigError, ConfigErrors};
use serde_json::Value;

const PREFIX: &str = "WATCHPOST_";

pub(crate) fn apply(
    config: Config,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigErrors> {
    let overrides: Vec<(String, String, String, String)> = env
        .into_iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix(PREFIX)?;
            let (section, key) = rest.split_once("__")?;
            Some((
                name.clone(),
                section.to_ascii_lowercase(),
                key.to_ascii_lowercase(),
                value,
            ))
        })
        .collect();
    if overrides.is_empty() {
        return Ok(config);
    }
    let mut tree = serde_json::to_value(&config).unwrap_or_default();
    let mut errors = Vec::new();
    for (var, section, key, raw) in overrides {
        let error = |message: String| ConfigError {
            file: None,
            line: None,
            column: None,
            key: Some(var.clone()),
            message,
        };
        let Some(slot) = tree.get_mut(&section).and_then(|s| s.get_mut(&key)) else {
            errors.push(error(format!("no setting `{section}.{key}` to override")));
            continue;
        };
        let previous = slot.clone();
        *slot = serde_json::from_str(&raw).unwrap_or_else(|_| Value::String(raw.clone()));
        if serde_json::from_value::<Config>(tree.clone()).is_err() {
            // `"8080"`-like text for a string setting: try it verbatim before giving up.
            set(&mut tree, &section, &key, Value::String(raw.clone()));
            if let Err(e) = serde_json::from_value::<Config>(tree.clone()) {
                errors.push(error(format!(
                    "`{raw}` is not valid for {section}.{key}: {e}"
                )));
                set(&mut tree, &section, &key, previous);
            }
        }
    }
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let config: Config = serde_json::from_value(tree).map_err(|e| {
        ConfigErrors::single(ConfigError {
            file: None,
            line: None,
            column: None,
            key: None,
            message: e.to_string(),
        })
    })?;
    crate::validate::check(&config).map_err(|violations| {
        ConfigErrors(
            violations
                .into_iter()
                .map(|v| ConfigError {
                    file: None,
                    line: None,
                    column: None,
                    message: format!("{} (after environment overrides)", v.message),
                    key: Some(v.key),
                })
                .collect(),
        )
    })?;
    Ok(config)
}

fn set(tree: &mut Value, section: &str, key: &str, value: Value) {
    if let Some(slot) = tree.get_mut(section).and_then(|s| s.get_mut(key)) {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn overrides_numbers_bools_and_strings() {
        let c = apply(
            Config::default(),
            env(&[
                ("WATCHPOST_API__PORT", "9090"),
                ("WATCHPOST_API__ENABLE_CORS", "false"),
                ("WATCHPOST_STORAGE__DATABASE_URL", "postgres://u@h/db"),
                ("WATCHPOST_API__HOST", "0.0.0.0"),
                ("WATCHPOST_CONFIG", "/ignored/no/double/underscore"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api.port, 9090);
        assert_eq!(c.api.host, "0.0.0.0");
        assert_eq!(c.storage.database_url, "postgres://u@h/db");
    }

    #[test]
    fn bad_overrides_name_the_variable() {
        let errors = apply(
            Config::default(),
            env(&[
                ("WATCHPOST_API__PORT", "ninety"),
                ("WATCHPOST_API__NOPE", "1"),
                ("WATCHPOST_STORAGE__RETENTION_DAYS", "0"),
            ]),
        )
        .unwrap_err();
        let text = errors.to_string();
        assert!(
            text.contains("WATCHPOST_API__PORT: `ninety` is not valid for api.port"),
            "{text}"
        );
        assert!(
            text.contains("WATCHPOST_API__NOPE: no setting `api.nope`"),
            "{text}"
        );
        let errors = apply(
            Config::default(),
            env(&[("WATCHPOST_STORAGE__RETENTION_DAYS", "0")]),
        )
        .unwrap_err();
        assert!(
            errors
                .to_string()
                .contains("storage.retention_days: 0 would delete"),
            "{errors}"
        );
    }
}
