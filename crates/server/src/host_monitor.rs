//! The server watches its own host: system metrics every `monitoring.monitor_interval`
//! seconds, stored as metric events, exported as `watchpost_host_*` gauges on `/metrics`,
//! and checked against the `[monitoring]` thresholds (with hysteresis) for detections.
//! Settings are read from the live configuration at every sample.

use crate::state::AppState;
use std::time::Duration;
use watchpost_host::metrics::{Sampler, metric_event};
use watchpost_host::thresholds::{Limits, ThresholdWatch, crossing_detection};

/// Samples until aborted.
pub async fn run(state: AppState) {
    let mut sampler = Sampler::default();
    let mut thresholds = ThresholdWatch::default();
    let host = watchpost_host::hostname();
    // The first sample only sets the counters rates are computed from.
    sampler.sample();
    loop {
        let monitoring = state.config.get().monitoring.clone();
        tokio::time::sleep(Duration::from_secs(monitoring.monitor_interval.max(1))).await;
        if !monitoring.enabled {
            continue;
        }
        let snapshot = sampler.sample();
        state.metrics.host.set(&snapshot);
        let limits = Limits {
            cpu: monitoring.cpu_threshold,
            memory: monitoring.memory_threshold,
            disk: monitoring.disk_threshold,
        };
        let detections: Vec<_> = thresholds
            .check(&snapshot, &limits)
            .iter()
            .map(|c| crossing_detection(c, host.clone()))
            .collect();
        if !detections.is_empty() {
            match state.store.insert_detections(&detections).await {
                Ok(()) => {
                    state.metrics.detections.inc_by(detections.len() as u64);
                }
                Err(e) => {
                    tracing::error!(error = %e, "host threshold detections could not be stored")
                }
            }
        }
        let mut event = metric_event(&snapshot, host.clone());
        event.event.module = Some("server".into());
        if let Err(e) = state.ingest.write(vec![event]).await {
            tracing::warn!(error = %e, "host metrics could not be stored");
        }
    }
}
