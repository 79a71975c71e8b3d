//! Windows EVTX files through the `evtx` crate, one thread per file.

use crate::flatten::flatten_evtx_json;
use crate::{LogError, LogRecord, ReadStats};
use evtx::{EvtxParser, ParserSettings};
use std::path::Path;

/// EVTX layout: a 4 KiB file header, then 64 KiB chunks.
const FILE_HEADER: u64 = 4096;
const CHUNK: u64 = 65536;

/// Reads every record of an EVTX file, calling `each` with it. Corrupt chunks and records
/// are skipped and counted; only a file that is not EVTX at all is an error.
pub fn read_evtx(path: &Path, mut each: impl FnMut(LogRecord)) -> Result<ReadStats, LogError> {
    let display = path.display().to_string();
    let settings = ParserSettings::default().num_threads(1);
    let mut parser = EvtxParser::from_path(path)
        .map_err(|e| LogError::Evtx {
            path: display.clone(),
            message: e.to_string(),
        })?
        .with_configuration(settings);
    let mut stats = ReadStats::default();
    // The parser stops quietly at a chunk cut short; say so, or a truncated file would
    // look like a complete one with fewer events.
    if let Ok(meta) = std::fs::metadata(path) {
        let partial = meta.len().saturating_sub(FILE_HEADER) % CHUNK;
        if meta.len() > FILE_HEADER && partial != 0 {
            stats.problem(format!(
                "truncated: the last chunk has {partial} of {CHUNK} bytes; its records are skipped"
            ));
        }
    }
    for record in parser.records_json_value() {
        match record {
            // The System block's EventRecordID and TimeCreated are what Windows shows and
            // what other tools report; the record header's copies were not reliable.
            Ok(record) => match flatten_evtx_json(&record.data) {
                Some((event, computer, time)) => {
                    stats.records += 1;
                    let record_id = record
                        .data
                        .pointer("/Event/System/EventRecordID")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(record.event_record_id);
                    each(LogRecord {
                        record_id,
                        timestamp: time.as_deref().and_then(crate::parse_time),
                        computer,
                        event,
                    });
                }
                None => stats.problem(format!(
                    "record {}: no Event/System/EventID",
                    record.event_record_id
                )),
            },
            Err(e) => stats.problem(e.to_string()),
        }
    }
    Ok(stats)
}
