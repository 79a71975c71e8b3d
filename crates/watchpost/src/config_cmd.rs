//! `watchpost config check` and `watchpost config show`.

use crate::cli::ShowFormat;
use std::path::PathBuf;
use std::process::ExitCode;
use watchpost_config::Config;

/// Validates the configuration and prints every error; non-zero exit when there are any.
pub fn check(path: &Option<PathBuf>) -> ExitCode {
    match Config::load(path.as_deref()) {
        Ok(config) => {
            // Template and CA files are read only when the channels are built.
            if let Err(e) = watchpost_notify::Channels::build(&config.alerting.channels) {
                eprintln!("error: alerting.channels: {e}");
                return ExitCode::FAILURE;
            }
            match path {
                Some(p) => println!("{}: configuration is valid", p.display()),
                None => println!(
                    "no configuration file: defaults (with environment overrides) are valid"
                ),
            }
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s) in the configuration", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

/// Prints the effective configuration with secrets masked.
pub fn show(path: &Option<PathBuf>, format: ShowFormat) -> anyhow::Result<ExitCode> {
    let config = Config::load(path.as_deref())
        .map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    let masked = config.masked_json();
    match format {
        ShowFormat::Json => println!("{}", serde_json::to_string_pretty(&masked)?),
        ShowFormat::Toml => print!("{}", config.masked_toml()?),
    }
    Ok(ExitCode::SUCCESS)
}
