//! The settings, section by section, with their defaults.
//!
//! Every struct denies unknown fields so that a misspelt key is an error with the list of
//! allowed keys, never a silently ignored line.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
pub use watchpost_alert::AlertingConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub monitoring: MonitoringConfig,
    pub alerting: AlertingConfig,
    pub api: ApiConfig,
    pub storage: StorageConfig,
    pub detection: DetectionConfig,
    pub web: WebConfig,
    pub response: ResponseConfig,
    pub incidents: IncidentsConfig,
}

/// `[incidents]`: how alerts are grouped into incidents (`docs/incidents.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Alerts further apart than this from an incident's last activity are not grouped.
    pub window_minutes: u64,
    /// The least severity that opens an incident (lesser alerts only join one).
    pub open_at_severity: String,
    /// Hosts whose compromise matters most: a term of the risk score.
    pub critical_hosts: Vec<String>,
    /// Incidents kept in the in-memory index at most (about 3.4 KB each); past it the
    /// quietest leave the index first (they stay stored, and a new alert of theirs opens a
    /// new incident).
    pub max_indexed: usize,
    /// Raise an alert when an incident opens or escalates into a higher risk band, routed
    /// like any other (`rule=~"watchpost.incident_.*"`). Off by default: the alert that
    /// opened the incident pages already.
    pub notices: bool,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            window_minutes: 60,
            open_at_severity: "medium".into(),
            critical_hosts: Vec::new(),
            max_indexed: 50_000,
            notices: false,
        }
    }
}

/// `[response]`: the playbooks that act on incidents, what their actions may never touch
/// (loopback, this machine's own addresses and the addresses its senders speak from are
/// always protected), and how many automatic actions may run (`docs/response.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponseConfig {
    /// Addresses and networks never banned (`192.0.2.10`, `198.51.100.0/24`).
    pub allowlist: Vec<String>,
    /// Ranges listed as protected: the office, monitoring, partners.
    pub protected: Vec<String>,
    /// Accounts never locked on any host.
    pub protected_accounts: Vec<String>,
    /// `[[response.playbooks]]`: which incidents call for which actions, in which mode.
    pub playbooks: Vec<watchpost_playbook::PlaybookConfig>,
    /// Automatic actions per minute per kind (`{ block_address = 60, isolate_host = 2 }`),
    /// over every playbook; kinds not named keep their default.
    pub budget_per_minute: std::collections::BTreeMap<String, u32>,
    /// How long a tripped breaker sends its playbook's actions to an analyst.
    pub breaker_minutes: u64,
    /// Applications told of every account suspension and reinstatement, by a signed
    /// webhook (`X-Watchpost-Signature: v1=HMAC-SHA256(secret, "{timestamp}.{body}")`).
    pub account_webhooks: Vec<AccountWebhook>,
}

/// One application told of account suspensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountWebhook {
    pub url: String,
    /// Signs each call; without one the calls are not signed.
    #[serde(default)]
    pub secret: Option<String>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            allowlist: Vec::new(),
            protected: Vec::new(),
            protected_accounts: vec!["root".into()],
            playbooks: Vec::new(),
            budget_per_minute: Default::default(),
            breaker_minutes: 15,
            account_webhooks: Vec::new(),
        }
    }
}

/// `[web]`: inspection of web requests sent to `POST /api/v1/ids/analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// 1 to 4, default 2 (the web engine's `DEFAULT_PARANOIA`): higher levels run rules
    /// that catch more and misfire more.
    pub paranoia: u8,
    /// The anomaly score at which a request is an attack (5: one critical finding).
    pub threshold: u32,
    /// `detect` (report and let pass) or `block` (answer `block_status`).
    pub action: String,
    pub block_status: u16,
    /// The body of a refusal; `{request_id}` is replaced by the request's id.
    pub block_body: String,
    /// Decoy paths answered with believable pages; every hit is a detection.
    pub decoys: Vec<String>,
    /// Decoy hits after which a client is blocked (0: never).
    pub auto_block_threshold: u32,
    pub block_ttl_seconds: u64,
    /// Settings per path prefix; the longest matching prefix wins.
    pub routes: Vec<WebRoute>,
}

/// `[[web.routes]]`: what applies under one path prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebRoute {
    pub prefix: String,
    /// `detect` or `block`; the section's action when left out.
    #[serde(default)]
    pub action: Option<String>,
    /// Parameters allowed to hold what would otherwise be a finding (`q` on `/search` may
    /// contain SQL words).
    #[serde(default)]
    pub exclusions: Vec<WebExclusion>,
}

/// One parameter excluded from some (or all) categories of finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebExclusion {
    pub parameter: String,
    /// Categories ignored there (`sqli`, `xss`); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            paranoia: 2,
            threshold: 5,
            action: "detect".into(),
            block_status: 403,
            block_body: "Request blocked. Reference: {request_id}\n".into(),
            decoys: [
                "/admin",
                "/wp-admin",
                "/wp-login.php",
                "/.env",
                "/.git/config",
                "/phpmyadmin",
                "/server-status",
                "/xmlrpc.php",
                "/.aws/credentials",
                "/actuator/env",
            ]
            .iter()
            .map(|d| d.to_string())
            .collect(),
            auto_block_threshold: 3,
            block_ttl_seconds: 3600,
            routes: Vec::new(),
        }
    }
}

/// `[detection]`: the Sigma rules run on every ingested event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Run the rules shipped with Watchpost (`rules/builtin`).
    pub builtin_rules: bool,
    /// Folders of Sigma rules, read recursively and reloaded when their files change.
    pub rules_dirs: Vec<PathBuf>,
    /// Values of the `%name%` placeholders that rules using the `expand` modifier refer
    /// to, such as `known_cdcs = ["dc1.corp.example", "10.0.0.10"]`.
    pub placeholders: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            builtin_rules: true,
            rules_dirs: Vec::new(),
            placeholders: Default::default(),
        }
    }
}

/// `[monitoring]`: watching the host the server or agent runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    pub enabled: bool,
    /// Seconds between metric samples.
    pub monitor_interval: u64,
    /// Percent of CPU above which a detection is raised.
    pub cpu_threshold: f64,
    /// Percent of memory above which a detection is raised.
    pub memory_threshold: f64,
    /// Percent of a filesystem's space above which a detection is raised.
    pub disk_threshold: f64,
    /// Seconds without a word from an agent after which the server raises a detection
    /// that it went silent; 0 turns the check off.
    pub agent_silent_after_seconds: u64,
    /// Record every process exec on the server's own host (the proc connector, as root)
    /// and run the rules on them, as an agent would. Read at start.
    pub process_execs: bool,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            monitor_interval: 10,
            cpu_threshold: 90.0,
            memory_threshold: 90.0,
            disk_threshold: 90.0,
            agent_silent_after_seconds: 300,
            process_execs: true,
        }
    }
}

/// `[api]`: the HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on. Loopback by default: nothing is exposed until asked.
    pub host: String,
    /// Port to listen on; 0 picks a free port (the address chosen is logged).
    pub port: u16,
    pub enable_cors: bool,
    /// Origins allowed by CORS when `enable_cors` is on (`https://soc.example.com`).
    pub cors_origins: Vec<String>,
    /// Refuse callers over their rate with 429 and `Retry-After`.
    pub enable_rate_limiting: bool,
    /// Requests a minute one API key may make (bursts of ten seconds' worth pass).
    pub rate_limit_per_key_per_minute: u32,
    /// Requests a minute one client address may make, whatever the keys.
    pub rate_limit_per_ip_per_minute: u32,
    /// Batches a minute one agent or proxy may ship (`POST /api/v1/ingest`).
    pub rate_limit_per_sender_per_minute: u32,
    /// Login attempts a minute from one client address (`POST /login`).
    pub login_attempts_per_minute: u32,
    pub enable_authentication: bool,
    /// Names the server is reached by (`watchpost.example.com`, `10.0.0.5:8080`): a
    /// request whose `Host` names something else is refused, which defeats DNS
    /// rebinding. Loopback names (`localhost`, `127.0.0.1`, `[::1]`) are always served.
    /// Empty: on a loopback address only loopback names are served; on another address
    /// (authentication on) any name is.
    pub server_names: Vec<String>,
    /// Folders that paths set through the API or the dashboard (templates, TLS files,
    /// CA files, rule folders) must lie in, links resolved. Fixed by the operator: only
    /// this file and `serve --allow-path DIR` set it; the API cannot change it. Empty: no
    /// path may be set or changed through the API.
    pub allowed_path_dirs: Vec<PathBuf>,
    /// Connections open at once (lowered to fit the process's descriptor limit). Past it,
    /// the oldest connection that is not in the middle of a request is closed.
    pub max_connections: usize,
    /// The share of `max_connections` one client address may hold.
    pub max_connections_per_ip: usize,
    /// Seconds a new connection has to send a whole request head.
    pub header_read_timeout_seconds: u64,
    /// Seconds a request has to send its whole body.
    pub body_read_timeout_seconds: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_seconds: u64,
    /// PEM certificate chain for HTTPS; with `tls_key_file`, the server speaks only HTTPS.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Most events accepted in one ingest request.
    pub max_batch_events: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            host: "127.0.0.1".into(),
            port: 8080,
            enable_cors: false,
            cors_origins: Vec::new(),
            enable_rate_limiting: true,
            rate_limit_per_key_per_minute: 3000,
            rate_limit_per_ip_per_minute: 6000,
            rate_limit_per_sender_per_minute: 600,
            login_attempts_per_minute: 10,
            enable_authentication: true,
            server_names: Vec::new(),
            allowed_path_dirs: Vec::new(),
            max_connections: 512,
            max_connections_per_ip: 128,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 30,
            idle_timeout_seconds: 60,
            tls_cert_file: None,
            tls_key_file: None,
            max_body_bytes: 16 * 1024 * 1024,
            max_batch_events: 10_000,
        }
    }
}

/// `[storage]`: where data lives and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory for the embedded database and other state.
    pub data_dir: PathBuf,
    /// `postgres://…` for a shared PostgreSQL store; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// Days events and detections are kept.
    pub retention_days: u32,
    /// Days resolved alerts and closed incidents are kept (at least `retention_days`).
    pub alert_retention_days: u32,
    /// Seconds between retention runs.
    pub retention_interval_seconds: u64,
    /// Free space (MiB) kept on the data directory's filesystem (SQLite): below it, ingest
    /// is refused with 503 (senders keep their spools) while alerts and notices still
    /// have room to be written.
    pub min_free_mb: u64,
    /// Hours between full integrity checks of the store, run in the background (0: never;
    /// the quick check at start always runs).
    pub integrity_check_hours: u64,
    /// Seconds a search or listing of events, detections or alerts may run before it is
    /// stopped with a clear error (on PostgreSQL, every statement's `statement_timeout`).
    pub query_timeout_seconds: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./watchpost-data"),
            database_url: String::new(),
            retention_days: 30,
            alert_retention_days: 365,
            retention_interval_seconds: 3600,
            min_free_mb: 256,
            integrity_check_hours: 24,
            query_timeout_seconds: 30,
        }
    }
}
