//! Which reader a file needs: EVTX by its signature, JSON by its extension or first
//! character, audit and syslog lines by the shape of the first line.

use crate::{LogError, LogRecord, ReadStats};
use std::io::Read;
use std::path::Path;

/// The formats Watchpost reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Evtx,
    JsonLines,
    Auditd,
    Syslog,
}

/// Bytes looked at to recognise a format.
const SNIFF_BYTES: usize = 64 * 1024;

/// Recognises the format of `path`; an error names the file and says what it looked like.
pub fn detect_format(path: &Path) -> Result<LogFormat, LogError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("evtx") => return Ok(LogFormat::Evtx),
        Some("json" | "jsonl" | "ndjson") => return Ok(LogFormat::JsonLines),
        _ => {}
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|source| LogError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if head.starts_with(b"ElfFile\0") {
        return Ok(LogFormat::Evtx);
    }
    let unrecognised = |message: &str| LogError::Unrecognised {
        path: path.display().to_string(),
        message: message.to_string(),
    };
    if head.contains(&0) {
        return Err(unrecognised("binary content, not a log this hunt can read"));
    }
    let text = String::from_utf8_lossy(&head);
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| unrecognised("empty"))?;
    if first.trim_start().starts_with('{') {
        Ok(LogFormat::JsonLines)
    } else if crate::auditd::looks_like_auditd(first) {
        Ok(LogFormat::Auditd)
    } else if crate::syslog::looks_like_syslog(first) {
        Ok(LogFormat::Syslog)
    } else {
        Err(unrecognised(
            "not a recognised log format (EVTX, JSON lines, Linux audit, syslog)",
        ))
    }
}

/// Reads `path` with the reader its format needs.
pub fn read_log(path: &Path, each: impl FnMut(LogRecord)) -> Result<ReadStats, LogError> {
    match detect_format(path)? {
        LogFormat::Evtx => crate::read_evtx(path, each),
        LogFormat::JsonLines => crate::read_json_lines(path, each),
        LogFormat::Auditd => crate::read_auditd(path, each),
        LogFormat::Syslog => crate::read_syslog(path, each),
    }
}

/// Whether a file found while walking a folder is worth reading: a log by its extension
/// (`.evtx`, `.json`, `.jsonl`, `.ndjson`, `.log`) or by the name syslog and auditd give
/// their files, rotated copies included (`auth.log.1`, `messages-20261122`). Files named
/// on the command line are always read.
pub fn is_log_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    if name.ends_with(".gz") || name.ends_with(".xz") || name.ends_with(".zst") {
        return false;
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if matches!(
        extension.as_deref(),
        Some("evtx" | "json" | "jsonl" | "ndjson" | "log")
    ) {
        return true;
    }
    [
        "syslog",
        "messages",
        "secure",
        "auth.log",
        "audit.log",
        "kern.log",
        "daemon.log",
        "cron",
    ]
    .iter()
    .any(|base| {
        name == *base
            || name
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
    })
}
