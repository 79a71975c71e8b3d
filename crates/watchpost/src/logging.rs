//! Log output: pretty on a terminal, plain text when piped, JSON lines on request.

use crate::cli::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber writing to stderr.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!("warning: log level `{level}` is not valid ({e}); using info");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let tty = std::io::stderr().is_terminal();
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.with_ansi(true).init(),
        LogFormat::Plain => builder.with_ansi(false).init(),
        LogFormat::Auto => builder.with_ansi(tty).init(),
    }
}
