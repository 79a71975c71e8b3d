//! JSON lines: one event per line, either an EVTX record rendered as JSON
//! (`{"Event": {"System": …}}`) or a flat/nested document whose leaves become fields
//! (nested keys also under their dotted path, `process.command_line`).

use crate::flatten::{flatten_evtx_json, scalar};
use crate::{LogError, LogRecord, ReadStats};
use serde_json::Value;
use std::path::Path;
use watchpost_sigma::FlatEvent;

/// Largest file tried as one pretty-printed JSON document before reading it as lines.
const MAX_WHOLE_DOCUMENT: u64 = 16 << 20;

/// Reads a JSON-lines file, streaming, one bounded line at a time. A small file holding one
/// pretty-printed JSON object (as EVTX-to-JSON tools write single events) is read whole.
pub fn read_json_lines(
    path: &Path,
    mut each: impl FnMut(LogRecord),
) -> Result<ReadStats, LogError> {
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut stats = ReadStats::default();
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() <= MAX_WHOLE_DOCUMENT {
        let text = std::fs::read(path).map_err(io)?;
        if let Ok(value) = serde_json::from_slice::<Value>(&text)
            && value.is_object()
        {
            emit(&value, 1, &mut stats, &mut each);
            return Ok(stats);
        }
    }
    let reader = std::io::BufReader::new(file);
    crate::lines::for_each_line(reader, &mut stats, |line_no, line, stats| {
        let Ok(text) = std::str::from_utf8(line) else {
            stats.problem(format!("line {line_no}: not UTF-8 text"));
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) if value.is_object() => emit(&value, line_no, stats, &mut each),
            Ok(_) => stats.problem(format!("line {line_no}: not a JSON object")),
            Err(e) => stats.problem(format!("line {line_no}: invalid JSON: {e}")),
        }
    })
    .map_err(io)?;
    Ok(stats)
}

fn emit(value: &Value, line_no: u64, stats: &mut ReadStats, each: &mut impl FnMut(LogRecord)) {
    stats.records += 1;
    if let Some((event, computer, time)) = flatten_evtx_json(value) {
        let record_id = value
            .pointer("/Event/System/EventRecordID")
            .and_then(Value::as_u64)
            .unwrap_or(line_no);
        let timestamp = time.as_deref().and_then(crate::parse_time);
        each(LogRecord {
            record_id,
            timestamp,
            computer,
            event,
        });
        return;
    }
    // A Watchpost event (exported from the server, or written by a client of the events
    // API) is seen exactly as the server's matcher sees it, so a hunt over an export
    // gives the verdicts the live pipeline gave; its other leaves follow as fields too.
    let mut event = watchpost_event(value)
        .map(|e| crate::ecs::flatten_event(&e))
        .unwrap_or_default();
    push_paths(&mut event, "", value, 0);
    let timestamp = ["@timestamp", "timestamp", "time"]
        .iter()
        .find_map(|k| value.get(*k).and_then(scalar))
        .and_then(|t| crate::parse_time(&t));
    let computer = value.pointer("/host/name").and_then(scalar);
    each(LogRecord {
        record_id: line_no,
        timestamp,
        computer,
        event,
    });
}

/// `value` read as a Watchpost (ECS) event, when it is one: an `event` object naming a
/// category or an action beside an `@timestamp`.
fn watchpost_event(value: &Value) -> Option<watchpost_core::Event> {
    let meta = value.get("event")?.as_object()?;
    let typed = meta.contains_key("category") || meta.contains_key("action");
    if !typed || value.get("@timestamp").is_none() {
        return None;
    }
    watchpost_core::Event::from_json(value.clone()).ok()
}

fn push_paths(event: &mut FlatEvent, prefix: &str, value: &Value, depth: usize) {
    if depth > 8 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if !v.is_object() && !v.is_array() {
                    if let Some(s) = scalar(v) {
                        event.push(&path, &s);
                        if !prefix.is_empty() {
                            event.push(k, &s);
                        }
                    }
                } else {
                    push_paths(event, &path, v, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                push_paths(event, prefix, item, depth + 1);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                event.push(prefix, &s);
            }
        }
    }
}
