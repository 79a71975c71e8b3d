//! The server watches its own host: system metrics every `monitoring.monitor_interval`
//! seconds, stored as metric events, exported as `watchpost_host_*` gauges on `/metrics`,
//! and checked against the `[monitoring]` thresholds (with hysteresis) for detections
//! (settings read from the live configuration at every sample); and, with
//! `monitoring.process_execs`, every process exec, stored and run through the rules like
//! an agent's (read at start), except while an agent on the same machine reports them.

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
            match state.alerts.record(&detections).await {
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

/// Starts recording the host's process execs into the ingest pipeline (where the rules
/// run on them), when `monitoring.enabled` and `monitoring.process_execs` say so and a
/// real-time source is permitted (root): eBPF, else the proc connector. Polling `/proc`,
/// which misses short-lived processes, is left to an agent that is told to use it. While
/// an agent on this machine reports ([`crate::local_agent`]) the execs are left to it.
/// Returns the task that stores them.
pub fn start_exec_capture(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let monitoring = state.config.get().monitoring.clone();
    if !monitoring.enabled || !monitoring.process_execs {
        return None;
    }
    use watchpost_host::{ExecCapture, SourceChoice};
    let started = ExecCapture::start(SourceChoice::Ebpf).or_else(|e| {
        tracing::debug!(error = %e, "trying the proc connector");
        ExecCapture::start(SourceChoice::Connector)
    });
    let mut capture = match started {
        Ok(capture) => capture,
        Err(e) => {
            tracing::info!(error = %e, "not recording this host's process execs (run the server as root, or a watchpost agent beside it)");
            return None;
        }
    };
    tracing::info!(
        exec_source = capture.source_name(),
        "recording this host's process execs"
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<watchpost_core::Event>>(1024);
    std::thread::Builder::new()
        .name("exec-capture".into())
        .spawn(move || {
            loop {
                let mut events = capture.next_events(Duration::from_millis(500));
                for event in &mut events {
                    event.event.module = Some("server".into());
                }
                if !events.is_empty() && tx.blocking_send(events).is_err() {
                    return;
                }
            }
        })
        .ok()?;
    let state = state.clone();
    Some(tokio::spawn(async move {
        while let Some(events) = rx.recv().await {
            if state.local_agent.reporting() {
                // An agent on this machine records the same execs: one host, one record.
                state
                    .metrics
                    .own_execs_left_to_agent
                    .inc_by(events.len() as u64);
                continue;
            }
            if let Err(e) = state.ingest.write(events).await {
                tracing::warn!(error = %e, "process execs could not be stored");
            }
        }
    }))
}
