//! `watchpost agent`: watches the host it runs on (process execs, changes to watched
//! files, network listeners and connections, system metrics against the `[monitoring]` thresholds) and ships what it sees to a server, or writes it as JSON lines when run alone.
//!
//! Exec capture runs on its own thread (it blocks on the kernel socket and reads `/proc`
//! at once, before short-lived processes vanish); everything it records goes to the
//! shipper's on-disk spool, so a server that is away delays delivery and loses nothing.
//! A heartbeat event every `--heartbeat-seconds` carries the capture's counters and keeps
//! the agent's last-seen time fresh on the server even when the host is quiet.

use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use watchpost_core::Event;
use watchpost_host::{ExecCapture, SourceChoice};
use watchpost_ship::Record;

#[derive(Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub ship: crate::ship_args::ShipArgs,
    /// Append what the agent records to this file as JSON lines (default: standard output
    /// when there is no server).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where process execs come from: auto (eBPF when permitted, else the proc connector
    /// when permitted, else polling /proc), ebpf,
    /// proc-connector, auditd (the audit log, where an audit rule records execve),
    /// proc-poll.
    #[arg(long, default_value = "auto")]
    pub exec_source: SourceChoice,
    /// The audit log the auditd source follows.
    #[arg(long, default_value = watchpost_host::audit::DEFAULT_AUDIT_LOG)]
    pub audit_log: PathBuf,
    /// Seconds between heartbeats.
    #[arg(long, default_value_t = 30)]
    pub heartbeat_seconds: u64,
    /// A file or folder to watch for changes (repeatable; replaces the default list of
    /// account, sudo, SSH, cron and systemd files).
    #[arg(long = "watch", value_name = "PATH")]
    pub watch: Vec<PathBuf>,
    /// Do not watch files for changes.
    #[arg(long)]
    pub no_file_integrity: bool,
    /// Where the agent keeps what must survive a restart (the file-integrity, network and
    /// host baselines).
    #[arg(long, default_value = "watchpost-agent-state")]
    pub state_dir: PathBuf,
    /// Do not watch network sockets.
    #[arg(long)]
    pub no_network: bool,
    /// Seconds between reads of the socket tables.
    #[arg(long, default_value_t = 5)]
    pub network_interval_seconds: u64,
    /// After the agent's first start, seconds during which the baselines (metrics,
    /// parent→child pairs, binaries, listening ports, outbound programs) learn what is
    /// normal rather than report it.
    #[arg(long, default_value_t = 600)]
    pub learning_seconds: u64,
    /// Addresses and networks whose connections are reported (one per line, `#` comments).
    #[arg(long)]
    pub blocklist: Option<PathBuf>,
    /// Carry out the host actions the server queues for this host (kill a process tree,
    /// quarantine a file, lock an account, isolate the host keeping the server's link).
    /// Off unless given: the agent then only watches.
    #[arg(long, requires = "server")]
    pub respond: bool,
    /// Where quarantined files are kept (made 0700).
    #[arg(long, default_value = "/var/lib/watchpost/quarantine")]
    pub quarantine_dir: PathBuf,
}

/// Where records go.
enum Sink {
    Server(watchpost_ship::Shipper),
    Lines(Box<dyn Write + Send>),
}

impl Sink {
    fn put(&mut self, record: Record) {
        match self {
            Sink::Server(shipper) => {
                if let Err(e) = shipper.send(record) {
                    tracing::error!(error = %e, "record could not be spooled");
                }
            }
            Sink::Lines(out) => {
                let line = serde_json::to_string(&record).expect("records serialize");
                if let Err(e) = writeln!(out, "{line}").and_then(|_| out.flush()) {
                    tracing::error!(error = %e, "record could not be written");
                }
            }
        }
    }
}

pub async fn run(args: AgentArgs, config: &Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let settings = crate::cli::load_config(config, Vec::new())?.get();
    let monitoring = settings.monitoring.clone();
    let mut sink = match (args.ship.start("agent")?, &args.output) {
        (Some(shipper), _) => Sink::Server(shipper),
        (None, Some(path)) => Sink::Lines(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("--output {}: {e}", path.display()))?,
        )),
        (None, None) => Sink::Lines(Box::new(std::io::stdout())),
    };
    let choice = match &args.exec_source {
        SourceChoice::Auditd(_) => SourceChoice::Auditd(args.audit_log.clone()),
        other => other.clone(),
    };
    let mut capture = ExecCapture::start(choice)?;
    let source = capture.source_name();
    if source == "auditd" && watchpost_host::audit::exec_rule_loaded() == Some(false) {
        tracing::warn!(
            "no audit rule records execve, so the audit log holds no execs; add one with \
             `auditctl -a always,exit -F arch=b64 -S execve -k exec` (and b32 on 64-bit \
             hosts running 32-bit programs), or in /etc/audit/rules.d/"
        );
    }
    tracing::info!(exec_source = source, "agent started");
    if args.respond
        && let (Some(server), Some(token)) = (&args.ship.server, &args.ship.token)
    {
        crate::actions_follow::follow(server.clone(), token.clone(), args.quarantine_dir.clone());
    }
    sink.put(Record::Event(Box::new(agent_event(
        "agent-started",
        source,
        None,
    ))));

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Record>>(1024);
    let (stats_tx, stats_rx) = tokio::sync::watch::channel(capture.stats());
    let exec_tx = tx.clone();
    std::thread::Builder::new()
        .name("exec-capture".into())
        .spawn(move || {
            loop {
                let events = capture.next_events(Duration::from_millis(500));
                let _ = stats_tx.send(capture.stats());
                let records: Vec<Record> = events
                    .into_iter()
                    .map(|e| Record::Event(Box::new(e)))
                    .collect();
                if !records.is_empty() && exec_tx.blocking_send(records).is_err() {
                    return;
                }
            }
        })?;
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| anyhow::anyhow!("--state-dir {}: {e}", args.state_dir.display()))?;
    if !args.no_network {
        let blocklist = match &args.blocklist {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("--blocklist {}: {e}", path.display()))?;
                watchpost_host::network::read_blocklist(&text)
                    .map_err(|e| anyhow::anyhow!("--blocklist {}: {e}", path.display()))?
            }
            None => Vec::new(),
        };
        let state_file = args.state_dir.join("network-baseline.json");
        let learning = Duration::from_secs(args.learning_seconds);
        let interval = Duration::from_secs(args.network_interval_seconds.max(1));
        let network_tx = tx.clone();
        std::thread::Builder::new()
            .name("network".into())
            .spawn(move || watch_network(state_file, learning, blocklist, interval, network_tx))?;
    }
    if !args.no_file_integrity {
        std::fs::create_dir_all(&args.state_dir)
            .map_err(|e| anyhow::anyhow!("--state-dir {}: {e}", args.state_dir.display()))?;
        let paths = if args.watch.is_empty() {
            watchpost_host::fim::default_paths()
        } else {
            args.watch.clone()
        };
        let state_file = args.state_dir.join("file-integrity.json");
        std::thread::Builder::new()
            .name("file-integrity".into())
            .spawn(move || watch_files(paths, state_file, tx))?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(args.heartbeat_seconds.max(1)));
    heartbeat.tick().await;
    // Host metrics every monitoring.monitor_interval, with threshold detections.
    let mut metrics_tick =
        tokio::time::interval(Duration::from_secs(monitoring.monitor_interval.max(1)));
    let mut sampler = watchpost_host::metrics::Sampler::default();
    sampler.sample();
    metrics_tick.tick().await;
    let mut thresholds = watchpost_host::thresholds::ThresholdWatch::default();
    let mut baselines = watchpost_host::baseline::Baselines::load(
        Some(args.state_dir.join("baselines.json")),
        Duration::from_secs(args.learning_seconds),
    );
    let limits = watchpost_host::thresholds::Limits {
        cpu: monitoring.cpu_threshold,
        memory: monitoring.memory_threshold,
        disk: monitoring.disk_threshold,
    };
    loop {
        tokio::select! {
            records = rx.recv() => {
                let Some(records) = records else { break };
                for record in records {
                    let anomalies = match &record {
                        Record::Event(event) if event.event.action.as_deref() == Some("exec") => {
                            baselines.observe_exec(event)
                                .iter()
                                .map(|a| watchpost_host::baseline::anomaly_detection(a, event.host.name.clone(), Some(event)))
                                .collect()
                        }
                        _ => Vec::new(),
                    };
                    sink.put(record);
                    for d in anomalies {
                        sink.put(Record::Detection(Box::new(d)));
                    }
                }
                baselines.save(false);
            }
            _ = metrics_tick.tick(), if monitoring.enabled => {
                let snapshot = sampler.sample();
                let host = watchpost_host::hostname();
                for crossing in thresholds.check(&snapshot, &limits) {
                    let d = watchpost_host::thresholds::crossing_detection(&crossing, host.clone());
                    sink.put(Record::Detection(Box::new(d)));
                }
                for anomaly in baselines.observe_metrics(&snapshot) {
                    let d = watchpost_host::baseline::anomaly_detection(&anomaly, host.clone(), None);
                    sink.put(Record::Detection(Box::new(d)));
                }
                baselines.save(false);
                sink.put(Record::Event(Box::new(watchpost_host::metrics::metric_event(&snapshot, host))));
            }
            _ = heartbeat.tick() => {
                let stats = *stats_rx.borrow();
                sink.put(Record::Event(Box::new(agent_event("heartbeat", source, Some(stats)))));
            }
            signal = stop_signal(&mut terminate) => {
                // The agent's last words: stopping it is what an intruder does first.
                tracing::info!(signal, "stopping");
                sink.put(Record::Detection(Box::new(stopped_detection(signal))));
                break;
            }
        }
    }
    baselines.save(true);
    if let Sink::Server(shipper) = &sink {
        shipper.drain(Duration::from_secs(3)).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Watches `paths` and sends each change as an event and a detection, starting with the
/// changes made while the agent was not running.
fn watch_files(
    paths: Vec<PathBuf>,
    state_file: PathBuf,
    tx: tokio::sync::mpsc::Sender<Vec<Record>>,
) {
    let host = watchpost_host::hostname();
    let (mut fim, mut changes) = watchpost_host::fim::Fim::start(paths, Some(state_file));
    tracing::info!(
        files = fim.baseline().len(),
        "file integrity baseline taken"
    );
    loop {
        let records: Vec<Record> = changes
            .iter()
            .flat_map(|change| {
                let event = watchpost_host::fim::change_event(change, host.clone());
                let detection = watchpost_host::fim::change_detection(change, &event);
                [
                    Record::Event(Box::new(event)),
                    Record::Detection(Box::new(detection)),
                ]
            })
            .collect();
        if !records.is_empty() && tx.blocking_send(records).is_err() {
            return;
        }
        changes = fim.next_changes(Duration::from_secs(1));
    }
}

/// Reads the socket tables every `interval` and sends what is new.
fn watch_network(
    state_file: PathBuf,
    learning: Duration,
    blocklist: Vec<watchpost_core::net::Cidr>,
    interval: Duration,
    tx: tokio::sync::mpsc::Sender<Vec<Record>>,
) {
    let host = watchpost_host::hostname();
    let mut watch =
        watchpost_host::network::NetworkWatch::start(Some(state_file), learning, blocklist);
    loop {
        std::thread::sleep(interval);
        let records: Vec<Record> = watch
            .scan()
            .iter()
            .flat_map(|finding| {
                let (event, detection) =
                    watchpost_host::network::finding_records(finding, host.clone());
                [
                    Record::Event(Box::new(event)),
                    Record::Detection(Box::new(detection)),
                ]
            })
            .collect();
        if !records.is_empty() && tx.blocking_send(records).is_err() {
            return;
        }
    }
}

/// The rule id of the agent's detection that it is being stopped.
const STOPPED_RULE_ID: &str = "watchpost.agent_stopped";

/// Waits for SIGINT or SIGTERM and names it.
async fn stop_signal(terminate: &mut tokio::signal::unix::Signal) -> &'static str {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// What the agent ships as it is stopped by `signal`: an agent stopped by hand and one
/// stopped by an intruder look alike here, so the analyst is told either way (an agent
/// killed outright says nothing and is reported silent by the server instead).
fn stopped_detection(signal: &str) -> watchpost_core::Detection {
    use watchpost_core::{Detection, Entity, Severity};
    let host = watchpost_host::hostname();
    let mut d = Detection::new(STOPPED_RULE_ID, "Agent stopped", Severity::Medium, "host");
    d.category = Some("host".into());
    d.host = host.clone();
    d.entity = host.clone().map(|name| Entity::Host { name });
    d.summary = format!(
        "the agent on {} was stopped by {signal}",
        host.as_deref().unwrap_or("this host")
    );
    d.evidence = serde_json::json!({"signal": signal, "pid": std::process::id()});
    d.attack =
        watchpost_core::AttackTags::from_sigma_tags(["attack.defense-evasion", "attack.t1562.001"]);
    d
}

/// The agent's own event: started, or a heartbeat with the capture counters.
fn agent_event(
    action: &str,
    source: &str,
    stats: Option<watchpost_host::capture::CaptureStats>,
) -> Event {
    let mut event = Event::new(chrono::Utc::now(), "agent");
    event.event.kind = "state".into();
    event.event.category = vec!["host".into()];
    event.event.action = Some(action.into());
    event.host.name = watchpost_host::hostname();
    event
        .labels
        .insert("agent.exec_source".into(), source.into());
    event
        .labels
        .insert("agent.version".into(), env!("CARGO_PKG_VERSION").into());
    if let Some(stats) = stats {
        event
            .labels
            .insert("agent.execs".into(), stats.execs.to_string());
        event
            .labels
            .insert("agent.execs_partial".into(), stats.partial.to_string());
        event.labels.insert(
            "agent.exec_announcements_lost".into(),
            stats.lost.to_string(),
        );
    }
    event.message = Some(format!("agent {action} (exec source: {source})"));
    event
}
