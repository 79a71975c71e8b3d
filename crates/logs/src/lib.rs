//! Log readers for hunting: Windows EVTX files, JSON lines (including EVTX records rendered
//! as JSON), Linux audit logs and syslog files, each record flattened into a
//! [`watchpost_sigma::FlatEvent`]. [`read_log`] recognises the format of a file.
//!
//! Bad input never stops a read: corrupt records and lines are skipped, counted and
//! described in [`ReadStats`], and the rest of the file is still read.

mod auditd;
mod ecs;
mod evtx_reader;
mod flatten;
mod format;
mod json_lines;
mod lines;
mod syscalls;
mod syslog;

pub use auditd::read_auditd;
pub use ecs::flatten_event;
pub use evtx_reader::read_evtx;
pub use format::{LogFormat, detect_format, is_log_file, read_log};
pub use json_lines::read_json_lines;
pub use syslog::read_syslog;

use chrono::{DateTime, Utc};
use watchpost_sigma::FlatEvent;

/// One record read from a log file.
pub struct LogRecord {
    /// EventRecordID for EVTX, the 1-based line number for JSON lines.
    pub record_id: u64,
    pub timestamp: Option<DateTime<Utc>>,
    pub computer: Option<String>,
    pub event: FlatEvent,
}

/// Reads an event time: RFC 3339, or the space-separated UTC form some renderings use.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// What a read saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadStats {
    pub records: u64,
    /// Records or lines that could not be read.
    pub skipped: u64,
    /// The first few problems, for the report (the count is in `skipped`).
    pub problems: Vec<String>,
}

/// Problems kept per file; beyond this only the count grows.
const MAX_PROBLEMS: usize = 20;

impl ReadStats {
    pub(crate) fn problem(&mut self, message: String) {
        self.skipped += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(message);
        }
    }
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{path}: not an EVTX file or unreadable: {message}")]
    Evtx { path: String, message: String },
    #[error("{path}: {message}")]
    Unrecognised { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
