//! The on-disk spool: records wait here until the server has them.
//!
//! Records are appended as JSON lines to the open segment (`<sequence>.open`). A segment
//! is sealed (`<sequence>.jsonl`) when it is full or when the shipper asks, and sealed
//! segments are shipped oldest first and deleted once the server has acknowledged them,
//! so a restart resumes where it stopped and in order. The spool is bounded: when sealed
//! segments exceed the limit, the oldest is deleted and its records are counted as
//! dropped (kept in `dropped`, logged, and reported to the server with the next batch).

use crate::protocol::Record;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Bounds on the spool.
#[derive(Debug, Clone, Copy)]
pub struct SpoolLimits {
    /// Bytes in one segment before it is sealed.
    pub segment_bytes: u64,
    /// Records in one segment before it is sealed.
    pub segment_records: usize,
    /// Bytes of sealed segments kept while the server is away.
    pub max_bytes: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            segment_bytes: 1 << 20,
            segment_records: 2000,
            max_bytes: 256 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool segment {path}, line {line}: {source}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    open: Option<OpenSegment>,
    next_sequence: u64,
    dropped: u64,
}

struct OpenSegment {
    sequence: u64,
    file: File,
    bytes: u64,
    records: usize,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. A segment left open by a stop is sealed as
    /// it is: what it holds is shipped like the rest.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            limits,
            open: None,
            next_sequence: 1,
            dropped: 0,
        };
        let dropped_path = spool.dropped_path();
        if let Ok(text) = fs::read_to_string(&dropped_path) {
            spool.dropped = text.trim().parse().unwrap_or(0);
        }
        let mut highest = 0;
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some((sequence, extension)) = segment_name(&path) else {
                continue;
            };
            highest = highest.max(sequence);
            if extension == "open" {
                fs::rename(&path, spool.sealed_path(sequence)).map_err(io(&path))?;
            }
        }
        spool.next_sequence = highest + 1;
        Ok(spool)
    }

    /// Appends a record to the open segment, sealing it when full.
    pub fn append(&mut self, record: &Record) -> Result<(), SpoolError> {
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        if self.open.is_none() {
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            let path = self.open_path(sequence);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            self.open = Some(OpenSegment {
                sequence,
                file,
                bytes: 0,
                records: 0,
            });
        }
        let open = self.open.as_mut().expect("just opened");
        let path = self.dir.join(format!("{:020}.open", open.sequence));
        open.file.write_all(&line).map_err(io(&path))?;
        open.bytes += line.len() as u64;
        open.records += 1;
        if open.bytes >= self.limits.segment_bytes || open.records >= self.limits.segment_records {
            self.seal()?;
        }
        Ok(())
    }

    /// Seals the open segment, if it holds anything, so that it can be shipped.
    pub fn seal(&mut self) -> Result<(), SpoolError> {
        if let Some(open) = self.open.take() {
            let from = self.open_path(open.sequence);
            open.file.sync_data().map_err(io(&from))?;
            drop(open.file);
            fs::rename(&from, self.sealed_path(open.sequence)).map_err(io(&from))?;
            self.enforce_bound()?;
        }
        Ok(())
    }

    /// The oldest sealed segment and its records, if any.
    pub fn oldest(&self) -> Result<Option<(u64, Vec<Record>)>, SpoolError> {
        match self.oldest_segment()? {
            Some((sequence, path)) => Ok(Some((sequence, read_segment(&path)?))),
            None => Ok(None),
        }
    }

    /// The oldest sealed segment's sequence and file. Sealed segments do not change, so
    /// the file can be read without holding the spool (see [`read_segment`]).
    pub fn oldest_segment(&self) -> Result<Option<(u64, PathBuf)>, SpoolError> {
        Ok(self
            .sealed()?
            .first()
            .map(|(sequence, _)| (*sequence, self.sealed_path(*sequence))))
    }

    /// Deletes a shipped segment.
    pub fn remove(&mut self, sequence: u64) -> Result<(), SpoolError> {
        let path = self.sealed_path(sequence);
        fs::remove_file(&path).map_err(io(&path))
    }

    /// Records dropped so far because the spool was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes of sealed segments waiting.
    pub fn pending_bytes(&self) -> Result<u64, SpoolError> {
        Ok(self.sealed()?.iter().map(|(_, bytes)| bytes).sum())
    }

    fn enforce_bound(&mut self) -> Result<(), SpoolError> {
        let mut sealed = self.sealed()?;
        let mut total: u64 = sealed.iter().map(|(_, b)| b).sum();
        while total > self.limits.max_bytes && sealed.len() > 1 {
            let (sequence, bytes) = sealed.remove(0);
            let path = self.sealed_path(sequence);
            let lines = fs::read(&path)
                .map(|b| b.iter().filter(|c| **c == b'\n').count() as u64)
                .unwrap_or(0);
            fs::remove_file(&path).map_err(io(&path))?;
            total -= bytes;
            self.dropped += lines;
            let dropped_path = self.dropped_path();
            fs::write(&dropped_path, self.dropped.to_string()).map_err(io(&dropped_path))?;
            tracing::warn!(
                segment = sequence,
                records = lines,
                dropped_total = self.dropped,
                limit_bytes = self.limits.max_bytes,
                "spool full: oldest segment dropped"
            );
        }
        Ok(())
    }

    /// Sealed segments, oldest first, with their sizes.
    fn sealed(&self) -> Result<Vec<(u64, u64)>, SpoolError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let path = entry.path();
            if let Some((sequence, "jsonl")) = segment_name(&path) {
                let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((sequence, bytes));
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    fn open_path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.open"))
    }

    fn sealed_path(&self, sequence: u64) -> PathBuf {
        self.dir.join(format!("{sequence:020}.jsonl"))
    }

    fn dropped_path(&self) -> PathBuf {
        self.dir.join("dropped")
    }
}

/// The records of a sealed segment. A line cut short by a crash (the last of its segment)
/// is skipped; any other bad line is an error naming the file and line.
pub fn read_segment(path: &Path) -> Result<Vec<Record>, SpoolError> {
    let path = path.to_path_buf();
    let file = File::open(&path).map_err(io(&path))?;
    let mut records = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(record) => records.push(record),
            // A line cut short by a crash: the last one of its segment. The rest of the
            // segment still ships.
            Err(source) if source.is_eof() => {
                tracing::warn!(segment = %path.display(), line = n + 1, "spool line cut short, skipped");
            }
            Err(source) => {
                return Err(SpoolError::Corrupt {
                    path,
                    line: n + 1,
                    source,
                });
            }
        }
    }
    Ok(records)
}

/// `00000000000000000042.jsonl` → (42, "jsonl").
fn segment_name(path: &Path) -> Option<(u64, &str)> {
    let stem = path.file_stem()?.to_str()?;
    let extension = path.extension()?.to_str()?;
    if !matches!(extension, "jsonl" | "open") || stem.len() != 20 {
        return None;
    }
    Some((stem.parse().ok()?, extension))
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::{Detection, Severity};

    fn record(i: usize) -> Record {
        let mut d = Detection::new("web.test", "test rule", Severity::High, "test");
        d.summary = format!("record {i}");
        Record::Detection(Box::new(d))
    }

    fn description(r: &Record) -> String {
        match r {
            Record::Detection(d) => d.summary.clone(),
            Record::Event(_) => String::new(),
        }
    }

    #[test]
    fn segments_ship_in_order_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            segment_records: 3,
            ..SpoolLimits::default()
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        for i in 0..7 {
            spool.append(&record(i)).unwrap();
        }
        // Two full segments sealed, one open with one record; a restart seals it.
        drop(spool);
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        let mut seen = Vec::new();
        while let Some((sequence, records)) = spool.oldest().unwrap() {
            seen.extend(records.iter().map(description));
            spool.remove(sequence).unwrap();
        }
        let expected: Vec<String> = (0..7).map(|i| format!("record {i}")).collect();
        assert_eq!(seen, expected);
        // New segments continue the numbering.
        spool.append(&record(8)).unwrap();
        spool.seal().unwrap();
        assert!(spool.oldest().unwrap().unwrap().0 > 3);
    }

    #[test]
    fn a_full_spool_drops_its_oldest_segment_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let limits = SpoolLimits {
            segment_records: 10,
            segment_bytes: u64::MAX,
            max_bytes: 4000,
        };
        let mut spool = Spool::open(dir.path(), limits).unwrap();
        for i in 0..200 {
            spool.append(&record(i)).unwrap();
        }
        spool.seal().unwrap();
        assert!(spool.pending_bytes().unwrap() <= 4000 + 2000);
        assert!(spool.dropped() > 0);
        assert_eq!(spool.dropped() % 10, 0, "whole segments are dropped");
        // The newest records are the ones kept, and the count survives a restart.
        let (_, first_kept) = spool.oldest().unwrap().unwrap();
        assert_eq!(
            description(&first_kept[0]),
            format!("record {}", spool.dropped())
        );
        let dropped = spool.dropped();
        drop(spool);
        assert_eq!(Spool::open(dir.path(), limits).unwrap().dropped(), dropped);
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), SpoolLimits::default()).unwrap();
        spool.append(&record(1)).unwrap();
        spool.seal().unwrap();
        let path = dir.path().join(format!("{:020}.jsonl", 1));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"detection\":{\"id\":").unwrap();
        let (_, records) = spool.oldest().unwrap().unwrap();
        assert_eq!(records.len(), 1);
    }
}
