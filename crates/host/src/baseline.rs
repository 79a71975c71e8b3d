//! Baselines learnt per host and kept across restarts: for each metric, an EWMA centre with
//! a robust spread (the median absolute deviation of recent samples); the parent→child
//! program pairs and the binaries seen running. After a learning period, a metric far
//! outside its spread, a pair never seen, or a binary never run before is an anomaly,
//! reported with the baseline values that made it one.

use crate::metrics::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use watchpost_core::{AttackTags, Detection, Entity, Event, Severity};

/// Recent samples kept per metric for the median absolute deviation.
const WINDOW: usize = 256;
/// Samples a metric needs before it can be anomalous.
const MIN_SAMPLES: u64 = 30;
/// How far from the centre, in robust standard deviations, is anomalous.
const DEVIATIONS: f64 = 6.0;
/// Weight of a new sample in the centre.
const ALPHA: f64 = 0.1;
/// Pairs and binaries remembered, at most.
const MAX_LEARNT: usize = 20_000;
/// The baseline is written at most this often.
const SAVE_EVERY: Duration = Duration::from_secs(30);

/// One metric's baseline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetricBaseline {
    pub centre: f64,
    pub samples: u64,
    recent: VecDeque<f64>,
    /// Raised now: reported once until back within the band (a restart looks afresh).
    #[serde(skip)]
    raised: bool,
}

impl MetricBaseline {
    /// The robust standard deviation: 1.4826 × the median absolute deviation of the recent
    /// samples from their median.
    pub fn spread(&self) -> f64 {
        let mut values: Vec<f64> = self.recent.iter().copied().collect();
        let middle = median(&mut values);
        let mut deviations: Vec<f64> = self.recent.iter().map(|v| (v - middle).abs()).collect();
        1.4826 * median(&mut deviations)
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// The smallest band around the centre, per metric, so that a metric that never moved
/// (spread 0) does not call every tiny change an anomaly.
fn floor(metric: &str) -> f64 {
    match metric {
        "cpu_percent" | "memory_percent" | "swap_percent" => 10.0,
        "load1" => 1.0,
        "processes" => 25.0,
        _ => 1_000_000.0, // bytes per second
    }
}

/// An anomaly and the baseline that made it one.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub rule_id: &'static str,
    pub title: String,
    pub severity: Severity,
    pub tags: &'static [&'static str],
    pub evidence: serde_json::Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    metrics: BTreeMap<String, MetricBaseline>,
    pairs: BTreeSet<String>,
    binaries: BTreeSet<String>,
    learning_until: i64,
}

/// The host's baselines.
pub struct Baselines {
    saved: Saved,
    state_file: Option<PathBuf>,
    dirty: bool,
    last_save: Instant,
}

impl Baselines {
    /// Loads the baselines saved in `state_file`, or starts new ones that learn for
    /// `learning` before they report anything.
    pub fn load(state_file: Option<PathBuf>, learning: Duration) -> Baselines {
        let saved = crate::state::load(state_file.as_deref()).unwrap_or_else(|| Saved {
            learning_until: chrono::Utc::now().timestamp() + learning.as_secs() as i64,
            ..Saved::default()
        });
        Baselines {
            saved,
            state_file,
            dirty: true,
            last_save: Instant::now(),
        }
    }

    fn learning(&self) -> bool {
        chrono::Utc::now().timestamp() < self.saved.learning_until
    }

    /// Learns from a metric sample; returns the metrics now far outside their band.
    pub fn observe_metrics(&mut self, snapshot: &Snapshot) -> Vec<Anomaly> {
        let received: f64 = snapshot
            .interfaces
            .iter()
            .map(|i| i.received_bytes_per_second)
            .sum();
        let sent: f64 = snapshot
            .interfaces
            .iter()
            .map(|i| i.sent_bytes_per_second)
            .sum();
        let values = [
            ("cpu_percent", snapshot.cpu_percent),
            ("memory_percent", snapshot.memory_percent),
            ("swap_percent", snapshot.swap_percent),
            ("load1", snapshot.load[0]),
            ("processes", snapshot.processes as f64),
            ("network_received_bytes_per_second", received),
            ("network_sent_bytes_per_second", sent),
        ];
        let learning = self.learning();
        let mut out = Vec::new();
        for (name, value) in values {
            let b = self.saved.metrics.entry(name.to_string()).or_default();
            let band = (DEVIATIONS * b.spread()).max(floor(name));
            let outside = b.samples >= MIN_SAMPLES && (value - b.centre).abs() > band;
            if outside && !b.raised && !learning {
                out.push(Anomaly {
                    rule_id: "watchpost.baseline.metric",
                    title: format!("{name} far outside its usual range"),
                    severity: Severity::Medium,
                    tags: &["attack.impact", "attack.t1496"],
                    evidence: serde_json::json!({
                        "metric": name, "value": value, "centre": b.centre,
                        "spread": b.spread(), "band": band, "samples": b.samples,
                    }),
                });
            }
            b.raised = outside;
            // An anomaly is not learnt into the centre at full weight: a long one still
            // moves it, slowly.
            let weight = if outside { ALPHA / 10.0 } else { ALPHA };
            b.centre = if b.samples == 0 {
                value
            } else {
                b.centre + weight * (value - b.centre)
            };
            b.samples += 1;
            b.recent.push_back(value);
            if b.recent.len() > WINDOW {
                b.recent.pop_front();
            }
        }
        self.dirty = true;
        out
    }

    /// Learns from a process exec; returns a never-seen parent→child pair and a binary
    /// never run before, once each.
    pub fn observe_exec(&mut self, event: &Event) -> Vec<Anomaly> {
        let Some(process) = event.process.as_ref() else {
            return Vec::new();
        };
        let Some(image) = process.executable.clone() else {
            return Vec::new();
        };
        let parent = process.parent.as_ref().and_then(|p| p.executable.clone());
        let learning = self.learning();
        let mut out = Vec::new();
        let command = process.command_line.clone();
        if !self.saved.binaries.contains(&image) && self.saved.binaries.len() < MAX_LEARNT {
            self.saved.binaries.insert(image.clone());
            self.dirty = true;
            if !learning {
                out.push(Anomaly {
                    rule_id: "watchpost.baseline.first_seen_binary",
                    title: "Binary run for the first time on this host".into(),
                    severity: Severity::Low,
                    tags: &["attack.execution", "attack.t1204"],
                    evidence: serde_json::json!({
                        "executable": image, "command_line": command,
                        "sha256": process.hash.as_ref().and_then(|h| h.sha256.clone()),
                        "binaries_known": self.saved.binaries.len() - 1,
                    }),
                });
            }
        }
        if let Some(parent) = parent {
            let pair = format!("{parent} -> {image}");
            if !self.saved.pairs.contains(&pair) && self.saved.pairs.len() < MAX_LEARNT {
                self.saved.pairs.insert(pair);
                self.dirty = true;
                if !learning {
                    out.push(Anomaly {
                        rule_id: "watchpost.baseline.rare_parent_child",
                        title: "Program started by a parent that never started it before".into(),
                        severity: Severity::Low,
                        tags: &["attack.execution", "attack.t1059"],
                        evidence: serde_json::json!({
                            "parent": parent, "executable": image, "command_line": command,
                            "pairs_known": self.saved.pairs.len() - 1,
                        }),
                    });
                }
            }
        }
        out
    }

    /// Writes the baselines if they changed and the last write is old enough (or `now`).
    pub fn save(&mut self, now: bool) {
        if !self.dirty || (!now && self.last_save.elapsed() < SAVE_EVERY) {
            return;
        }
        let Some(file) = &self.state_file else { return };
        if crate::state::save(file, &self.saved, "baselines") {
            self.dirty = false;
            self.last_save = Instant::now();
        }
    }
}

/// The detection of an anomaly.
pub fn anomaly_detection(
    anomaly: &Anomaly,
    host: Option<String>,
    event: Option<&Event>,
) -> Detection {
    let mut d = Detection::new(
        anomaly.rule_id,
        &anomaly.title,
        anomaly.severity,
        "baseline",
    );
    d.category = Some("host".into());
    d.host = host.clone();
    d.attack = AttackTags::from_sigma_tags(anomaly.tags.iter().copied());
    d.entity = host.map(|name| Entity::Host { name });
    d.event_ids = event.map(|e| vec![e.id()]).unwrap_or_default();
    d.summary = anomaly.title.clone();
    d.evidence = anomaly.evidence.clone();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(value: f64) -> Snapshot {
        Snapshot {
            cpu_percent: value,
            memory_percent: 40.0,
            processes: 100,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_metric_far_outside_its_spread_is_reported_once_with_its_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("baselines.json");
        let mut b = Baselines::load(Some(state.clone()), Duration::ZERO);
        for i in 0..100 {
            let anomalies = b.observe_metrics(&cpu(20.0 + (i % 7) as f64));
            assert!(
                anomalies.is_empty(),
                "normal variation at {i}: {anomalies:?}"
            );
        }
        let spike = b.observe_metrics(&cpu(95.0));
        assert_eq!(spike.len(), 1);
        assert_eq!(spike[0].evidence["metric"], "cpu_percent");
        let centre = spike[0].evidence["centre"].as_f64().unwrap();
        assert!((20.0..27.0).contains(&centre), "{centre}");
        assert!(
            b.observe_metrics(&cpu(96.0)).is_empty(),
            "reported once while it lasts"
        );
        b.observe_metrics(&cpu(22.0));
        assert_eq!(
            b.observe_metrics(&cpu(97.0)).len(),
            1,
            "a new excursion is new"
        );
        // Saved and loaded: the learnt centre survives a restart.
        b.save(true);
        let mut again = Baselines::load(Some(state), Duration::ZERO);
        assert_eq!(again.observe_metrics(&cpu(99.0)).len(), 1);
    }

    #[test]
    fn nothing_is_reported_while_learning() {
        let mut b = Baselines::load(None, Duration::from_secs(3600));
        for i in 0..100 {
            b.observe_metrics(&cpu(20.0 + (i % 3) as f64));
        }
        assert!(b.observe_metrics(&cpu(99.0)).is_empty());
        let event = exec("/usr/sbin/nginx", "/tmp/x");
        assert!(b.observe_exec(&event).is_empty());
    }

    fn exec(parent: &str, image: &str) -> Event {
        Event::from_json(serde_json::json!({
            "event": {"category": "process", "action": "exec"},
            "process": {"executable": image, "command_line": image,
                        "parent": {"executable": parent}}
        }))
        .unwrap()
    }

    #[test]
    fn new_pairs_and_binaries_are_reported_once() {
        let mut b = Baselines::load(None, Duration::ZERO);
        let first = b.observe_exec(&exec("/bin/bash", "/usr/bin/ls"));
        assert_eq!(first.len(), 2);
        assert!(b.observe_exec(&exec("/bin/bash", "/usr/bin/ls")).is_empty());
        let web_shell = b.observe_exec(&exec("/usr/sbin/nginx", "/usr/bin/ls"));
        assert_eq!(web_shell.len(), 1);
        assert_eq!(web_shell[0].rule_id, "watchpost.baseline.rare_parent_child");
        assert_eq!(web_shell[0].evidence["parent"], "/usr/sbin/nginx");
    }
}
