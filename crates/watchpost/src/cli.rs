//! Command-line interface definitions.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;
use watchpost_config::ConfigHandle;

#[derive(Parser)]
#[command(
    name = "watchpost",
    version,
    about = "Security monitoring, detection and alerting in one binary"
)]
pub struct Cli {
    /// Configuration file (TOML, or JSON by extension). Without one, defaults apply.
    #[arg(long, short, global = true, env = "WATCHPOST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(long, global = true, env = "WATCHPOST_LOG", default_value = "info")]
    pub log_level: String,
    /// Log format: pretty on a terminal, plain text otherwise, or JSON lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Auto,
    Pretty,
    Plain,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server: API, ingest pipeline, storage, health and metrics.
    Serve(ServeArgs),
    /// Check or show the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Database maintenance.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Hunt through EVTX and JSON logs with Sigma rules.
    Hunt(crate::hunt::HuntArgs),
    /// Host metrics from the store, downsampled.
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// Alerts in the store, and why each did or did not page anyone.
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
    /// Incidents: alerts of one attack grouped, with their chain, risk and timeline.
    Incidents {
        #[command(subcommand)]
        command: crate::incidents_cmd::IncidentsCommand,
    },
    /// Response actions of the playbooks: approve, reject, undo.
    Actions {
        #[command(subcommand)]
        command: crate::actions_cmd::ActionsCommand,
    },
    /// Tokens for agents and proxies that ship to this server.
    AgentToken {
        #[command(subcommand)]
        command: AgentTokenCommand,
    },
    /// API keys for people and tools (roles viewer, analyst, admin).
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Run the web shield as a reverse proxy in front of an application.
    Proxy(crate::proxy_cmd::ProxyArgs),
    /// Watch this host (process execs, file integrity) and ship what is seen to a server.
    Agent(crate::agent_cmd::AgentArgs),
    /// Sigma rule maintenance.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Evaluations against reference corpora.
    Eval {
        #[command(subcommand)]
        command: EvalCommand,
    },
    /// Measure throughput.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Data directory (overrides storage.data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Port to listen on (overrides api.port; 0 picks a free port).
    #[arg(long)]
    pub port: Option<u16>,
    /// A folder that paths set through the API or dashboard (templates, TLS and CA
    /// files, rule folders) may lie in; repeat for several (sets api.allowed_path_dirs).
    #[arg(long = "allow-path", value_name = "DIR")]
    pub allow_paths: Vec<PathBuf>,
}

impl ServeArgs {
    /// The flags as configuration overrides, applied after file and environment.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(dir) = &self.data_dir {
            out.push((
                "WATCHPOST_STORAGE__DATA_DIR".into(),
                dir.display().to_string(),
            ));
        }
        if let Some(port) = self.port {
            out.push(("WATCHPOST_API__PORT".into(), port.to_string()));
        }
        if !self.allow_paths.is_empty() {
            let dirs: Vec<String> = self
                .allow_paths
                .iter()
                .map(|d| {
                    std::path::absolute(d)
                        .unwrap_or_else(|_| d.clone())
                        .display()
                        .to_string()
                })
                .collect();
            out.push((
                "WATCHPOST_API__ALLOWED_PATH_DIRS".into(),
                serde_json::to_string(&dirs).unwrap_or_default(),
            ));
        }
        out
    }
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration; exits non-zero and lists every error (file, line, key).
    Check,
    /// Print the effective configuration (file + environment + defaults), secrets masked.
    Show {
        #[arg(long, value_enum, default_value_t = ShowFormat::Toml)]
        format: ShowFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ShowFormat {
    Toml,
    Json,
}

#[derive(Subcommand)]
pub enum DbCommand {
    /// Create or upgrade the database schema.
    Migrate,
    /// Row counts and sizes per table.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// One host's metric over time (avg, min, max per step).
    Series(crate::metrics_cmd::SeriesArgs),
}

#[derive(Subcommand)]
pub enum AlertsCommand {
    /// The most recently active alerts.
    List {
        /// Only alerts in this status: firing, acknowledged, resolved.
        #[arg(long)]
        status: Option<String>,
        /// Only alerts at or above this severity: info, low, medium, high, critical.
        #[arg(long)]
        min_severity: Option<String>,
        /// Only alerts on this host.
        #[arg(long)]
        host: Option<String>,
        /// Only alerts of this rule id.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// An alert's status history, each pipeline stage's verdict, and each notice with its
    /// delivery attempts.
    Explain {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run the alerting configuration given with --config over the stored history and
    /// compare what it would have sent with what was sent.
    Replay(crate::alerts_replay::ReplayArgs),
    /// Acknowledge an alert: escalation and repeats stop, receivers hear who took it.
    Ack(crate::alerts_triage::TriageArgs),
    /// Resolve an alert by hand.
    Resolve(crate::alerts_triage::TriageArgs),
    /// Reopen a resolved or acknowledged alert.
    Reopen(crate::alerts_triage::TriageArgs),
    /// Resolve an alert as a false positive (give --reason).
    FalsePositive(crate::alerts_triage::TriageArgs),
    /// Silences: hold notices for matching alerts for a while.
    Silence {
        #[command(subcommand)]
        command: crate::alerts_triage::SilenceCommand,
    },
}

#[derive(Subcommand)]
pub enum AgentTokenCommand {
    /// Register a sender (or a revoked one again, under its name) and print its token
    /// (shown once; only its hash is stored).
    Create {
        /// A unique name for the sender (`edge-proxy`, `web-1`).
        #[arg(long)]
        name: String,
        /// What ships with it.
        #[arg(long, default_value = "agent", value_parser = ["agent", "proxy", "bouncer"])]
        kind: String,
    },
    /// List registered senders, when each was last heard from, and which are revoked.
    List,
    /// Give a sender a new token (printed once); the old one works for a grace period.
    Rotate {
        /// The sender's name or id.
        sender: String,
        /// Minutes the old token keeps working (0: none; at most 10080, a week).
        #[arg(long, default_value_t = watchpost_server::sender_registry::DEFAULT_GRACE_MINUTES)]
        grace_minutes: u64,
    },
    /// Revoke a sender by name or id: its tokens stop working at once.
    Revoke {
        /// The sender's name or id.
        sender: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Make a key and print it (shown once; only an HMAC of it is stored).
    Create {
        /// Who or what uses it (`alice`, `grafana`).
        #[arg(long)]
        name: String,
        /// viewer (reads), analyst (also triages and silences), admin (also manages keys).
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Days until it stops working (default: until revoked).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// List keys: id, name, role, expiry, last use.
    List,
    /// Revoke a key by id (or the key itself); it stops working at once.
    Revoke { id: String },
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Load and compile rules; print counts and every failure with its reason.
    Check {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Print `{"files":N,"loaded":N,"failed":[{"path":…,"reason":…}]}`.
        #[arg(long)]
        json: bool,
        /// Exit 1 when fewer than this percentage of rule files load.
        #[arg(long)]
        min_coverage: Option<f64>,
        /// Values for an `expand` placeholder: `NAME=VALUE,VALUE` (repeatable).
        #[arg(long = "placeholder", value_name = "NAME=VALUES")]
        placeholders: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Run SigmaHQ regression cases (ROOT/regression_data/**/info.yml).
    SigmaRegression {
        root: PathBuf,
        /// Rule folders; default: ROOT/rules, ROOT/rules-emerging-threats, ROOT/rules-threat-hunting.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// End with `{"cases":N,"passed":N}`.
        #[arg(long)]
        json: bool,
        /// Exit 1 when fewer cases pass.
        #[arg(long)]
        min_passed: Option<usize>,
    },
    /// Hunt CORPUS/evtx with the SigmaHQ rules in CORPUS/sigma and compare with the
    /// Chainsaw and Hayabusa reports in CORPUS/expected.
    PeerAgreement {
        corpus: PathBuf,
        /// End with one JSON line of the figures.
        #[arg(long)]
        json: bool,
        /// Exit 1 when less than this percentage of the matches both peers report is found.
        #[arg(long)]
        min_recall: Option<f64>,
    },
    /// Run the web inspection engine over a labelled request corpus: detection per
    /// category, false positives per benign source, time per request.
    Web(EvalWebArgs),
    /// Turn each GTFOBins example (DIR/_gtfobins) into the process events the agent would
    /// record and run the built-in rules: detection per function and privileged context.
    Gtfobins {
        dir: PathBuf,
        /// More rule folders to run beside the built-in rules.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// End with one JSON line of the figures.
        #[arg(long)]
        json: bool,
        /// Print up to N missed examples.
        #[arg(long, default_value_t = 0)]
        show: usize,
        /// Exit 1 when a floored function or context is detected below this percentage.
        #[arg(long)]
        min_function: Option<f64>,
    },
    /// Turn each LOLBAS command (DIR/yml) into the Sysmon process-creation event it would
    /// produce and run the built-in rules (and any --rules folders): detection per category.
    Lolbas {
        dir: PathBuf,
        /// More rule folders to run beside the built-in rules.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// End with one JSON line of the figures.
        #[arg(long)]
        json: bool,
        /// Print up to N missed commands.
        #[arg(long, default_value_t = 0)]
        show: usize,
        /// Exit 1 when fewer commands than this percentage are detected.
        #[arg(long)]
        min_detected: Option<f64>,
    },
    /// Run the built-in host rules over ordinary work: recorded exec events (`.jsonl`,
    /// as the agent writes them) or command lines typed at a shell (any other file, one
    /// per line); report the share of distinct command lines flagged.
    HostFp {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// End with one JSON line of the figures.
        #[arg(long)]
        json: bool,
        /// Print up to N flagged command lines with the rules that flagged them.
        #[arg(long, default_value_t = 0)]
        show: usize,
        /// Exit 1 when more distinct command lines than this percentage are flagged.
        #[arg(long)]
        max_flagged: Option<f64>,
    },
}

/// `watchpost eval web` options.
#[derive(clap::Args)]
pub struct EvalWebArgs {
    /// A labelled request corpus (`corpus/web/requests.jsonl`).
    pub file: PathBuf,
    /// Paranoia level, 1 to 4 (default: the engine's, 2).
    #[arg(long, default_value_t = watchpost_web::DEFAULT_PARANOIA, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub paranoia: u8,
    /// End with one JSON line of the figures.
    #[arg(long)]
    pub json: bool,
    /// Print up to N missed attacks and flagged benign requests.
    #[arg(long, default_value_t = 0)]
    pub show: usize,
    /// Exit 1 when fewer attacks than this percentage are detected.
    #[arg(long)]
    pub min_attack: Option<f64>,
    /// Exit 1 when a category is detected below a floor: `PERCENT` holds sqli, xss, lfi,
    /// path_traversal and cmdi to it, `NAME=PERCENT` one category (over the bare figure).
    /// Repeatable.
    #[arg(long, value_parser = crate::eval_web::parse_category_floor)]
    pub min_category: Vec<(Option<String>, f64)>,
    /// Exit 1 when more benign requests than this percentage are flagged.
    #[arg(long)]
    pub max_benign: Option<f64>,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Sustained event ingest into the store, in batches.
    Ingest(crate::bench::IngestArgs),
    /// Detection to webhook delivered through the alert pipeline and the outbox, at a
    /// fixed rate.
    Alerts(crate::bench_alerts::AlertBenchArgs),
    /// Latency added by `watchpost proxy` in front of a loopback upstream at a fixed rate.
    Proxy(crate::bench_proxy::ProxyBenchArgs),
    /// How many short-lived processes each exec source records, and how completely.
    ExecCapture(crate::bench_exec::ExecCaptureArgs),
    /// What `watchpost agent` costs its host: CPU share and peak memory over a run.
    Agent(crate::bench_agent::AgentCostArgs),
    /// The API under load over a store of a million events: alert list, dashboard
    /// summary, live stream to many clients.
    Api(crate::bench_api::ApiBenchArgs),
    /// Alerts grouped into incidents at a fixed rate over many attacker addresses:
    /// assignment time and the index's memory.
    Incidents(crate::bench_incidents::IncidentBenchArgs),
}

/// Loads the configuration or fails with every error listed.
pub fn load_config(
    path: &Option<PathBuf>,
    overrides: Vec<(String, String)>,
) -> anyhow::Result<Arc<ConfigHandle>> {
    ConfigHandle::load(path.clone(), overrides)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))
}
