//! Finding where a key is written in configuration text, so that errors found after
//! parsing (a port of 0, a threshold of 150) can still point at a line.

use crate::Format;

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The 1-based line where the dotted `key` (`section.name`) is set, if it is written there.
pub(crate) fn key_line(text: &str, format: Format, key: &str) -> Option<usize> {
    let (section, name) = key.split_once('.')?;
    // A key like `api.cors_origins[1]` is reported on the line of `cors_origins`.
    let name = name.split('[').next().unwrap_or(name);
    match format {
        Format::Toml => toml_key_line(text, section, name),
        Format::Json => json_key_line(text, section, name),
    }
}

fn toml_key_line(text: &str, section: &str, name: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = header.trim().trim_matches('"').to_string();
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim().trim_matches('"');
        let full = if current.is_empty() {
            lhs.to_string()
        } else {
            format!("{current}.{lhs}")
        };
        if full == format!("{section}.{name}") {
            return Some(i + 1);
        }
    }
    None
}

fn json_key_line(text: &str, section: &str, name: &str) -> Option<usize> {
    let section_key = format!("\"{section}\"");
    let name_key = format!("\"{name}\"");
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        if !in_section && line.contains(&section_key) {
            in_section = true;
            if line
                .split_once(&section_key)
                .is_some_and(|(_, rest)| rest.contains(&name_key))
            {
                return Some(i + 1);
            }
            continue;
        }
        if in_section && line.contains(&name_key) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_toml_and_json() {
        let toml = "# c\n[storage]\nretention_days = 1\n\n[api]\nhost = \"x\"\nport = 0\n";
        assert_eq!(key_line(toml, Format::Toml, "api.port"), Some(7));
        assert_eq!(
            key_line(toml, Format::Toml, "storage.retention_days"),
            Some(3)
        );
        assert_eq!(key_line(toml, Format::Toml, "api.enable_cors"), None);
        assert_eq!(
            key_line("api.port = 0\n", Format::Toml, "api.port"),
            Some(1)
        );
        let json = "{\n  \"storage\": {\"port\": 1},\n  \"api\": {\n    \"host\": \"x\",\n    \"port\": 0\n  }\n}";
        assert_eq!(key_line(json, Format::Json, "api.port"), Some(5));
        assert_eq!(key_line(json, Format::Json, "storage.port"), Some(2));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }
}
