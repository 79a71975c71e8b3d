//! Watchpost's configuration: typed settings with defaults for everything, read from a TOML
//! or JSON file, overridden by `WATCHPOST_SECTION__KEY` environment variables, validated
//! with errors that name the file, line and key, and hot-reloaded while the server runs.
//!
//! ```
//! use watchpost_config::{Config, Format};
//! let text = "[api]\nport = 9090\n";
//! let config = Config::parse(text, Format::Toml, None).unwrap();
//! assert_eq!(config.api.port, 9090);
//! assert_eq!(config.storage.retention_days, 30); // a default
//! ```

mod error;
mod locate;
mod mask;
mod overrides;
mod paths;
mod reload;
mod settings;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use mask::mask_url;
pub use paths::{check_api_paths, path_settings};
pub use reload::{ConfigHandle, ReloadOutcome, SaveError};
pub use settings::*;

use std::path::{Path, PathBuf};

/// The syntax of a configuration file, chosen by its extension (`.json` is JSON, anything
/// else TOML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// The format for a path, by extension.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("json") => Format::Json,
            _ => Format::Toml,
        }
    }
}

impl Config {
    /// Parses and validates configuration text. `file` only labels errors.
    pub fn parse(text: &str, format: Format, file: Option<&Path>) -> Result<Config, ConfigErrors> {
        let config: Config = match format {
            Format::Toml => {
                toml::from_str(text).map_err(|e| ConfigErrors::from_toml(e, text, file))?
            }
            Format::Json => {
                serde_json::from_str(text).map_err(|e| ConfigErrors::from_json(e, file))?
            }
        };
        validate::check(&config)
            .map_err(|violations| ConfigErrors::from_violations(violations, text, format, file))?;
        Ok(config)
    }

    /// Loads the effective configuration: the file (if any; defaults otherwise) with the
    /// process environment's overrides applied, validated.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        Config::load_with_env(path, std::env::vars())
    }

    /// [`Config::load`] with an explicit environment, for tests and dry runs.
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigErrors::single(ConfigError::file(path, format!("cannot read: {e}")))
                })?;
                Config::parse(&text, Format::of(path), Some(path))?
            }
            None => Config::default(),
        };
        overrides::apply(config, env)
    }

    /// The configuration as JSON with passwords, tokens and secrets masked, for display.
    pub fn masked_json(&self) -> serde_json::Value {
        // Secret-typed fields mask themselves; keys that name secrets and secrets inside
        // URLs are masked by what they are.
        let mut value =
            watchpost_core::secret::masked(|| serde_json::to_value(self)).unwrap_or_default();
        mask::mask_secrets(&mut value);
        value
    }

    /// The configuration as TOML with secrets masked, for display: unset options are left
    /// out (TOML has no null).
    pub fn masked_toml(&self) -> Result<String, toml::ser::Error> {
        let mut value = self.masked_json();
        reload::drop_nulls(&mut value);
        toml::to_string_pretty(&value)
    }

    /// The SQLite URL in the data directory when no database URL is configured.
    pub fn database_url(&self) -> String {
        if self.storage.database_url.trim().is_empty() {
            format!(
                "sqlite://{}",
                self.storage.data_dir.join("watchpost.db").display()
            )
        } else {
            self.storage.database_url.clone()
        }
    }

    /// Where the data directory is.
    pub fn data_dir(&self) -> PathBuf {
        self.storage.data_dir.clone()
    }
}
