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
/// real-time source is permitted (root): eBPF in builds with the `ebpf` feature, else the
/// proc connector. Polling `/proc`, which misses short-lived processes, is left to an
/// agent that is told to use it. Returns the task that stores them.
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
        let mut local_agent = LocalAgent::default();
        while let Some(events) = rx.recv().await {
            if local_agent.reporting(&state).await {
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

/// How recently an agent on this machine must have reported for the server to leave the
/// host's execs to it, and how often that is looked up.
const LOCAL_AGENT_FRESH: chrono::Duration = chrono::Duration::seconds(30);
const LOCAL_AGENT_RECHECK: Duration = Duration::from_secs(5);

/// Whether an agent runs on the server's own machine and reports: one whose last
/// connection came from loopback or from one of this machine's addresses.
#[derive(Default)]
struct LocalAgent {
    checked: Option<(std::time::Instant, bool)>,
}

impl LocalAgent {
    async fn reporting(&mut self, state: &AppState) -> bool {
        if let Some((at, answer)) = self.checked
            && at.elapsed() < LOCAL_AGENT_RECHECK
        {
            return answer;
        }
        let answer = match state.store.list_senders().await {
            Ok(senders) => {
                let own = watchpost_response::own_addresses::read();
                let now = chrono::Utc::now();
                senders.iter().any(|s| {
                    s.kind == "agent"
                        && s.revoked_at.is_none()
                        && s.last_seen
                            .is_some_and(|seen| now - seen < LOCAL_AGENT_FRESH)
                        && s.address
                            .as_deref()
                            .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                            .is_some_and(|ip| ip.is_loopback() || own.contains(&ip))
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list agents; recording this host's execs");
                false
            }
        };
        if answer && self.checked.is_none_or(|(_, before)| !before) {
            tracing::info!(
                "an agent on this machine reports its execs; the server stops recording them"
            );
        } else if !answer && self.checked.is_some_and(|(_, before)| before) {
            tracing::info!("no agent on this machine reports; the server records its execs again");
        }
        self.checked = Some((std::time::Instant::now(), answer));
        answer
    }
}
