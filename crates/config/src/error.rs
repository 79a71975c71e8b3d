//! Configuration errors that say where: file, line, column and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a configuration, located as precisely as the source allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `None` for text not read from a file.
    pub file: Option<PathBuf>,
    /// 1-based line, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The dotted key (`api.port`), where known; or the environment variable that set it.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn file(path: &Path, message: String) -> ConfigError {
        ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            column: None,
            key: None,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote_place = false;
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
            wrote_place = true;
        }
        if let Some(line) = self.line {
            write!(f, "{}line {line}", if wrote_place { ":" } else { "" })?;
            if let Some(column) = self.column {
                write!(f, ", column {column}")?;
            }
            wrote_place = true;
        }
        if wrote_place {
            f.write_str(": ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub(crate) fn single(error: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![error])
    }

    pub(crate) fn from_toml(e: toml::de::Error, text: &str, file: Option<&Path>) -> ConfigErrors {
        let (line, column) = match e.span() {
            Some(span) => {
                let (l, c) = crate::locate::line_col(text, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigErrors::single(ConfigError {
            file: file.map(Path::to_path_buf),
            line,
            column,
            key: None,
            message: e.message().trim().to_string(),
        })
    }

    pub(crate) fn from_json(e: serde_json::Error, file: Option<&Path>) -> ConfigErrors {
        // serde_json appends " at line L column C" to the message; the fields carry it.
        let text = e.to_string();
        let message = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(m, _)| m)
            .to_string();
        ConfigErrors::single(ConfigError {
            file: file.map(Path::to_path_buf),
            line: (e.line() > 0).then_some(e.line()),
            column: (e.column() > 0).then_some(e.column()),
            key: None,
            message,
        })
    }

    pub(crate) fn from_violations(
        violations: Vec<crate::validate::Violation>,
        text: &str,
        format: crate::Format,
        file: Option<&Path>,
    ) -> ConfigErrors {
        ConfigErrors(
            violations
                .into_iter()
                .map(|v| ConfigError {
                    file: file.map(Path::to_path_buf),
                    line: crate::locate::key_line(text, format, &v.key),
                    column: None,
                    key: Some(v.key),
                    message: v.message,
                })
                .collect(),
        )
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
