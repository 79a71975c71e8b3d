//! Host metrics as time series, downsampled on the way in.
//!
//! Every sample is folded into two rollups, per minute and per hour (count, sum, min, max
//! per bucket), so that a chart of a day reads 1,440 rows and a chart of a year 8,760,
//! whatever the sampling interval. Minute rollups age out with events, hourly ones with
//! alerts (`storage.retention_days`, `storage.alert_retention_days`).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The rollup widths kept, in seconds.
pub const ROLLUP_STEPS: [i64; 2] = [60, 3600];
/// Most points one series query returns.
pub const MAX_SERIES_POINTS: usize = 10_000;

/// One measured value: `cpu.percent` of `web-1` at a time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricSample {
    pub host: String,
    pub metric: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// One point of a series: the samples of `[at, at + step)` summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricPoint {
    pub at: DateTime<Utc>,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub samples: i64,
}

/// The rollup to read for a requested step: hourly when the step is a whole number of
/// hours, else the minute rollup.
pub fn source_step(step_seconds: i64) -> i64 {
    if step_seconds >= 3600 && step_seconds % 3600 == 0 {
        3600
    } else {
        60
    }
}
