//! Threshold detections with hysteresis: a value that crosses its limit raises one
//! detection, and stays raised until it falls clearly below (the limit minus a margin),
//! when one resolution is reported. A value hovering at the limit raises one alert, not
//! one per sample.

use crate::metrics::Snapshot;
use std::collections::HashMap;
use watchpost_core::{Detection, Entity, Severity};

/// Percentage points below the limit a value must fall to count as back to normal.
pub const CLEAR_MARGIN: f64 = 5.0;

/// The limits, in percent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub cpu: f64,
    pub memory: f64,
    pub disk: f64,
}

/// A crossing: raised (above the limit) or resolved (back below limit − margin).
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    /// `cpu`, `memory`, or `disk:/mount/point`.
    pub metric: String,
    pub value: f64,
    pub limit: f64,
    pub raised: bool,
}

/// Which metrics are above their limit now.
#[derive(Default)]
pub struct ThresholdWatch {
    raised: HashMap<String, bool>,
}

impl ThresholdWatch {
    /// The crossings `snapshot` makes against `limits`.
    pub fn check(&mut self, snapshot: &Snapshot, limits: &Limits) -> Vec<Crossing> {
        let mut values = vec![
            ("cpu".to_string(), snapshot.cpu_percent, limits.cpu),
            ("memory".to_string(), snapshot.memory_percent, limits.memory),
        ];
        for disk in &snapshot.disks {
            values.push((
                format!("disk:{}", disk.mount),
                disk.used_percent,
                limits.disk,
            ));
        }
        let mut out = Vec::new();
        for (metric, value, limit) in values {
            let raised = self.raised.entry(metric.clone()).or_insert(false);
            let crossing = if !*raised && value >= limit {
                Some(true)
            } else if *raised && value < limit - CLEAR_MARGIN {
                Some(false)
            } else {
                None
            };
            if let Some(up) = crossing {
                *raised = up;
                out.push(Crossing {
                    metric,
                    value,
                    limit,
                    raised: up,
                });
            }
        }
        out
    }
}

/// The detection of a crossing: `host.<metric>_threshold` when raised (medium, high for
/// a full disk); when back to normal, the same rule as a resolve, which closes the alert
/// the raise opened.
pub fn crossing_detection(crossing: &Crossing, host: Option<String>) -> Detection {
    let kind = crossing.metric.split(':').next().unwrap_or("metric");
    let what = match kind {
        "cpu" => "CPU usage".to_string(),
        "memory" => "Memory usage".to_string(),
        _ => format!(
            "Disk usage of {}",
            crossing.metric.trim_start_matches("disk:")
        ),
    };
    let (rule_id, title, severity) = if crossing.raised {
        (
            format!("host.{kind}_threshold"),
            format!("{what} above {:.0} %", crossing.limit),
            if kind == "disk" {
                Severity::High
            } else {
                Severity::Medium
            },
        )
    } else {
        (
            format!("host.{kind}_threshold"),
            format!("{what} back below {:.0} %", crossing.limit - CLEAR_MARGIN),
            Severity::Info,
        )
    };
    let mut d = Detection::new(&rule_id, &title, severity, "host");
    d.category = Some("host".into());
    d.host = host.clone();
    d.entity = host.map(|name| Entity::Host { name });
    d.summary = format!("{title}: {:.1} %", crossing.value);
    d.resolves = !crossing.raised;
    d.evidence = serde_json::json!({
        "metric": crossing.metric, "value": crossing.value, "limit": crossing.limit,
        "clear_below": crossing.limit - CLEAR_MARGIN, "raised": crossing.raised,
    });
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(value: f64) -> Snapshot {
        Snapshot {
            cpu_percent: value,
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_value_hovering_at_the_limit_raises_once_and_resolves_once() {
        let limits = Limits {
            cpu: 90.0,
            memory: 90.0,
            disk: 90.0,
        };
        let mut watch = ThresholdWatch::default();
        let samples = [50.0, 91.0, 89.0, 92.0, 88.0, 90.5, 86.0, 84.0, 85.0, 91.0];
        let crossings: Vec<(f64, bool)> = samples
            .iter()
            .flat_map(|v| watch.check(&cpu(*v), &limits))
            .filter(|c| c.metric == "cpu")
            .map(|c| (c.value, c.raised))
            .collect();
        assert_eq!(crossings, [(91.0, true), (84.0, false), (91.0, true)]);
        let raised = crossing_detection(
            &Crossing {
                metric: "disk:/var".into(),
                value: 97.0,
                limit: 90.0,
                raised: true,
            },
            Some("h".into()),
        );
        assert_eq!(raised.rule_id, "host.disk_threshold");
        assert_eq!(raised.rule_title, "Disk usage of /var above 90 %");
        assert_eq!(raised.severity, Severity::High);
        assert!(!raised.resolves);
        let cleared = crossing_detection(
            &Crossing {
                metric: "disk:/var".into(),
                value: 80.0,
                limit: 90.0,
                raised: false,
            },
            Some("h".into()),
        );
        // The same rule and entity, so it names (and resolves) the alert the raise opened.
        assert_eq!(cleared.rule_id, raised.rule_id);
        assert_eq!(cleared.entity, raised.entity);
        assert!(cleared.resolves);
    }
}
