//! JSON lines: one event per line, either an EVTX record rendered as JSON
//! (`{"Event": {"System": …}}`) or a flat/nested document whose leaves become fields
//! (nested keys also under their dotted path, `process.command_line`).

use crate::flatten::{flatten_evtx_json, scalar};
use crate::{LogError, LogRecord, ReadStats};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use watchpost_sigma::FlatEvent;

/// Longest line read; longer ones are skipped (without holding them in memory).
const MAX_LINE: usize = 4 << 20;
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
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        line_no += 1;
        let complete = match read_bounded_line(&mut reader, &mut line).map_err(io)? {
            None => return Ok(stats),
            Some(complete) => complete,
        };
        if !complete {
            stats.problem(format!("line {line_no}: longer than {MAX_LINE} bytes"));
            continue;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            stats.problem(format!("line {line_no}: not UTF-8 text"));
            continue;
        };
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(value) if value.is_object() => emit(&value, line_no, &mut stats, &mut each),
            Ok(_) => stats.problem(format!("line {line_no}: not a JSON object")),
            Err(e) => stats.problem(format!("line {line_no}: invalid JSON: {e}")),
        }
    }
}

/// Reads one line (without its newline) into `line`, keeping at most [`MAX_LINE`] bytes.
/// `None` at end of file; `Some(false)` when the line was longer and its rest was skipped.
fn read_bounded_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
) -> std::io::Result<Option<bool>> {
    let mut seen_any = false;
    let mut complete = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(seen_any.then_some(complete));
        }
        seen_any = true;
        let (chunk, found_newline) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if complete && line.len() + chunk.len() <= MAX_LINE {
            line.extend_from_slice(chunk);
        } else {
            complete = false;
            line.clear();
        }
        let used = chunk.len() + usize::from(found_newline);
        reader.consume(used);
        if found_newline {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(complete));
        }
    }
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
    let mut event = FlatEvent::default();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_lines_are_skipped_without_losing_the_next_ones() {
        let mut text = String::from("{\"message\": \"first\"}\n");
        text.push_str(&"x".repeat(MAX_LINE + 10));
        text.push_str("\n{\"message\": \"third\"}\r\n");
        let mut reader = std::io::BufReader::with_capacity(64, text.as_bytes());
        let mut line = Vec::new();
        let mut got = Vec::new();
        while let Some(complete) = read_bounded_line(&mut reader, &mut line).unwrap() {
            got.push((complete, String::from_utf8(line.clone()).unwrap()));
            line.clear();
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (true, "{\"message\": \"first\"}".to_string()));
        assert!(
            !got[1].0 && got[1].1.is_empty(),
            "the long line is dropped, not kept"
        );
        assert_eq!(got[2], (true, "{\"message\": \"third\"}".to_string()));
    }
}
