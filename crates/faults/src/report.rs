//! One row per scenario, printed as a table (and as JSON with `--json`).

use serde_json::{Value, json};

/// What a scenario measured, and whether it kept the guarantees.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub scenario: String,
    pub backend: &'static str,
    /// Events the server answered 200 for.
    pub acknowledged: u64,
    /// Acknowledged events found in the store afterwards.
    pub stored: u64,
    /// Acknowledged and not stored: must be 0.
    pub lost: u64,
    /// Events stored more than once: must be 0.
    pub duplicated: u64,
    /// Requests answered 503 (the sender keeps the batch and retries).
    pub refused: u64,
    pub notices_produced: Option<u64>,
    pub notices_delivered: Option<u64>,
    pub notices_dead: Option<u64>,
    pub wal_peak_bytes: Option<u64>,
    pub startup_seconds: Option<f64>,
    /// Free-form figures: recovery time, query times, what readiness said.
    pub notes: Vec<String>,
    /// Broken guarantees; empty when the scenario passed.
    pub failures: Vec<String>,
}

impl Row {
    pub fn new(scenario: &str, backend: &'static str) -> Row {
        Row {
            scenario: scenario.to_string(),
            backend,
            ..Row::default()
        }
    }

    /// Records a guarantee: `ok`, or a failure described by `what`.
    pub fn require(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "backend": self.backend,
            "acknowledged": self.acknowledged,
            "stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "refused": self.refused,
            "notices_produced": self.notices_produced,
            "notices_delivered": self.notices_delivered,
            "notices_dead": self.notices_dead,
            "wal_peak_bytes": self.wal_peak_bytes,
            "startup_seconds": self.startup_seconds,
            "notes": self.notes,
            "failures": self.failures,
            "passed": self.failures.is_empty(),
        })
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn mib(v: Option<u64>) -> String {
    v.map_or("-".into(), |b| {
        format!("{:.1}", b as f64 / (1024.0 * 1024.0))
    })
}

/// The table the suite prints at the end.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<26} {:<8} {:>9} {:>9} {:>5} {:>5} {:>7} {:>9} {:>9} {:>5} {:>9} {:>8}  {}\n",
        "scenario",
        "backend",
        "acked",
        "stored",
        "lost",
        "dup",
        "503s",
        "notices",
        "delivered",
        "dead",
        "WAL MiB",
        "start s",
        "result"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<26} {:<8} {:>9} {:>9} {:>5} {:>5} {:>7} {:>9} {:>9} {:>5} {:>9} {:>8}  {}\n",
            r.scenario,
            r.backend,
            r.acknowledged,
            r.stored,
            r.lost,
            r.duplicated,
            r.refused,
            opt(r.notices_produced),
            opt(r.notices_delivered),
            opt(r.notices_dead),
            mib(r.wal_peak_bytes),
            r.startup_seconds.map_or("-".into(), |s| format!("{s:.1}")),
            if r.failures.is_empty() {
                "pass".to_string()
            } else {
                format!("FAIL: {}", r.failures.join("; "))
            }
        ));
        for note in &r.notes {
            out.push_str(&format!("    {note}\n"));
        }
    }
    out
}
