//! Watchpost's storage: one [`Store`] trait over SQLite (the embedded default) and
//! PostgreSQL (a shared store for several servers).
//!
//! Both backends run the same SQL through sqlx's `Any` driver, so there is one code path and
//! one test suite. Times are stored as integer milliseconds (UTC), ids as text, documents
//! as JSON text; the columns beside the document exist only to be filtered and indexed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), watchpost_store::StoreError> {
//! use watchpost_store::{open, EventQuery};
//! let store = open("sqlite://./watchpost-data/watchpost.db").await?;
//! let page = store.query_events(&EventQuery { host: Some("web-1".into()), ..Default::default() }).await?;
//! println!("{} events, more: {}", page.items.len(), page.next_cursor.is_some());
//! # Ok(()) }
//! ```

mod condition;
mod error;
pub mod metrics;
mod outbox;
mod query;
mod sql;
pub mod statistics;
#[cfg(feature = "testing")]
pub mod testing;

pub use condition::{IntegrityReport, Problem, StoreCondition, Trouble, record_checksum};
pub use error::StoreError;
pub use outbox::{
    AttemptOutcome, AttemptRecord, Backlog, DeliveryAttempt, DeliveryStatus, NotificationHistory,
    OutboxEntry,
};
pub use query::{
    ActionQuery, AlertQuery, Cursor, DetectionQuery, EventQuery, MAX_PAGE_SIZE, Page, Sort, SortBy,
    all_pages,
};
pub use sql::{DEFAULT_QUERY_TIMEOUT, MAX_DECISIONS, SqlStore, open};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use watchpost_alert::{Notification, Silence, TraceEntry};
use watchpost_core::{
    Action, Alert, Decision, Detection, Event, Fingerprint, Incident, Suppression, SuppressionState,
};

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// What a retention run deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub events: u64,
    pub detections: u64,
    pub alerts: u64,
    pub incidents: u64,
    /// Notifications delivered, skipped or dead (their attempts and the alert traces of
    /// the same age go with them).
    pub notifications: u64,
    /// Metric rollup rows: per-minute ones with events, hourly ones with alerts.
    pub metric_rollups: u64,
}

/// Row count and on-disk size of one table (its indices included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStats {
    pub table: String,
    pub rows: i64,
    /// Bytes used by the table and its indices; `None` where the backend cannot tell.
    pub bytes: Option<i64>,
}

/// Counts and sizes for `watchpost db stats` and the status endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub backend: Backend,
    pub tables: Vec<TableStats>,
    /// The whole database's size in bytes, where the backend can tell.
    pub total_bytes: Option<i64>,
    pub schema_version: i64,
}

/// Creates `dir` (and its parents) and makes it readable by its owner only (0700),
/// whatever the process's umask: the data directory holds the database and the secrets.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// An agent or proxy allowed to ship events and detections to this server. Its token is
/// `wps_<id>_<secret>`; only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    pub id: String,
    pub name: String,
    /// `agent` or `proxy`.
    pub kind: String,
    #[serde(skip)]
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub version: Option<String>,
    /// The address it last shipped from.
    pub address: Option<String>,
    /// When its token was revoked: a revoked sender's batches are refused until it is
    /// enrolled again under its name.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret of the token a rotation replaced, still accepted until
    /// `previous_valid_until` so that the sender can be given its new token.
    #[serde(skip)]
    pub previous_secret_hash: Option<String>,
    pub previous_valid_until: Option<DateTime<Utc>>,
}

impl Sender {
    /// A sender enrolled at `created_at` with the secret whose hash is `secret_hash`:
    /// never heard from, not rotated, not revoked.
    pub fn enrolled(
        id: &str,
        name: &str,
        kind: &str,
        secret_hash: String,
        created_at: DateTime<Utc>,
    ) -> Sender {
        Sender {
            id: id.to_string(),
            name: name.to_string(),
            kind: kind.to_string(),
            secret_hash,
            created_at,
            last_seen: None,
            version: None,
            address: None,
            revoked_at: None,
            previous_secret_hash: None,
            previous_valid_until: None,
        }
    }
}

/// A dashboard login: the browser holds a random id, the store its SHA-256, the key it
/// stands for and when it ends. Logging out, or revoking the key, ends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie's value, in hex.
    pub id_hash: String,
    /// The API key the person logged in with.
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An API key as stored: never the key itself, only an HMAC of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// The key's public id, also its prefix (`wpk_<id>_…`).
    pub id: String,
    pub name: String,
    /// `viewer`, `analyst` or `admin`.
    pub role: String,
    #[serde(skip)]
    pub secret_hmac: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A rule someone turned off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisabledRule {
    pub rule_id: String,
    pub disabled_at: DateTime<Utc>,
    pub disabled_by: String,
}

/// One state-changing API call: who, what, when, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiCall {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The key's name and id (`admin (wpk_ab12…)`), or `anonymous` with authentication off.
    pub actor: String,
    pub role: String,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub client_ip: Option<String>,
}

/// Storage for everything Watchpost keeps. Writes are acknowledged only once committed.
#[async_trait]
pub trait Store: Send + Sync {
    /// The database behind this store.
    fn backend(&self) -> Backend;

    /// Cheap round trip to the database, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether writes are failing and whether damage was found, as of the last operations.
    fn condition(&self) -> StoreCondition;

    /// Bounds the time of the reads a caller shapes (event, detection and alert searches and
    /// listings): past it, a statement is stopped and answers [`StoreError::QueryTimeout`].
    /// On PostgreSQL the bound is every statement's `statement_timeout`.
    fn set_query_timeout(&self, timeout: std::time::Duration);

    /// Checks the database's pages: `full` also compares every index with its table. The
    /// outcome is kept in [`Store::condition`]; damage found makes the store refuse ingest.
    async fn check_integrity(&self, full: bool) -> Result<IntegrityReport, StoreError>;

    /// Bytes in SQLite's write-ahead log; `None` on PostgreSQL.
    fn wal_bytes(&self) -> Option<u64>;

    /// Events stored and not yet in the full-text index (searched directly meanwhile);
    /// `None` where there is no index.
    fn text_index_lag(&self) -> Option<i64>;

    /// Closes the store at shutdown: SQLite's WAL is copied into the database and
    /// emptied, so the next start replays nothing; every connection is closed.
    async fn close(&self);

    /// Stores events in one transaction: all of them or none.
    async fn insert_events(&self, events: &[Event]) -> Result<(), StoreError>;

    /// Events newest first, filtered, one page at a time.
    async fn query_events(&self, query: &EventQuery) -> Result<Page<Event>, StoreError>;

    /// Stores detections in one transaction.
    async fn insert_detections(&self, detections: &[Detection]) -> Result<(), StoreError>;

    /// Detections newest first, filtered, one page at a time.
    async fn query_detections(&self, query: &DetectionQuery)
    -> Result<Page<Detection>, StoreError>;

    /// Inserts an alert, or replaces the stored alert with the same fingerprint.
    async fn upsert_alert(&self, alert: &Alert) -> Result<(), StoreError>;

    /// One alert by id.
    async fn get_alert(&self, id: Uuid) -> Result<Option<Alert>, StoreError>;

    /// Alerts by most recent activity, filtered, one page at a time.
    async fn query_alerts(&self, query: &AlertQuery) -> Result<Page<Alert>, StoreError>;

    /// Records a decision (its `id` is ignored) and returns the id the store gave it.
    async fn insert_decision(&self, decision: &Decision) -> Result<i64, StoreError>;

    /// Lifts a decision in force at `at`; `None` when there is none by that id in force.
    async fn lift_decision(
        &self,
        id: i64,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Decision>, StoreError>;

    /// One decision by id.
    async fn get_decision(&self, id: i64) -> Result<Option<Decision>, StoreError>;

    /// Decisions in force at `now` and made after `made_after` (all when `None`), oldest
    /// first (at most [`MAX_DECISIONS`]); simulated ones only when asked.
    async fn decisions_in_force(
        &self,
        now: DateTime<Utc>,
        made_after: Option<DateTime<Utc>>,
        simulated: bool,
    ) -> Result<Vec<Decision>, StoreError>;

    /// Decisions in force at `now` (not simulated) that may cover `address`: its own
    /// address bans and every network ban; the caller checks which networks hold it.
    async fn decisions_in_force_for(
        &self,
        now: DateTime<Utc>,
        address: &str,
    ) -> Result<Vec<Decision>, StoreError>;

    /// Decisions (not simulated) that stopped being in force in `(from, to]`.
    async fn decisions_ended_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Decision>, StoreError>;

    /// The newest `limit` decisions, whatever their state, newest first.
    async fn recent_decisions(&self, limit: i64) -> Result<Vec<Decision>, StoreError>;

    /// Inserts or replaces a response action.
    async fn upsert_action(&self, action: &Action) -> Result<(), StoreError>;

    /// One action by id.
    async fn get_action(&self, id: Uuid) -> Result<Option<Action>, StoreError>;

    /// Actions matching `query`.
    async fn query_actions(&self, query: &ActionQuery) -> Result<Vec<Action>, StoreError>;

    /// Done actions whose time to live ended by `now`, oldest first, at most `limit`.
    async fn expired_actions(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Action>, StoreError>;

    /// Inserts or replaces a suppression.
    async fn upsert_suppression(&self, suppression: &Suppression) -> Result<(), StoreError>;

    /// One suppression by id.
    async fn get_suppression(&self, id: Uuid) -> Result<Option<Suppression>, StoreError>;

    /// Suppressions in `state` (every state when `None`), newest first, at most `limit`.
    async fn list_suppressions(
        &self,
        state: Option<SuppressionState>,
        limit: i64,
    ) -> Result<Vec<Suppression>, StoreError>;

    /// One detection by id.
    async fn get_detection(&self, id: Uuid) -> Result<Option<Detection>, StoreError>;

    /// Inserts or replaces an incident.
    async fn upsert_incident(&self, incident: &Incident) -> Result<(), StoreError>;

    /// Incidents, most recently updated first: of `status` when given, updated at or after
    /// `since` when given, at most `limit` (up to 100,000).
    async fn query_incidents(
        &self,
        status: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> Result<Vec<Incident>, StoreError>;

    /// One incident by id.
    async fn get_incident(&self, id: Uuid) -> Result<Option<Incident>, StoreError>;

    /// Deletes events and detections older than `events_before`, and resolved alerts and
    /// closed incidents whose last activity is older than `alerts_before`. Open alerts and
    /// incidents are never deleted by age: someone still has to look at them.
    async fn purge(
        &self,
        events_before: DateTime<Utc>,
        alerts_before: DateTime<Utc>,
    ) -> Result<PurgeReport, StoreError>;

    /// Row counts and sizes.
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Folds metric samples into the per-minute and per-hour rollups.
    async fn record_metric_samples(
        &self,
        samples: &[metrics::MetricSample],
    ) -> Result<(), StoreError>;

    /// One host's metric over `[from, to)` in points of `step_seconds` (at least 60, each
    /// starting on a whole step: `from` is rounded down), read
    /// from the hourly rollup when the step is whole hours; at most
    /// [`metrics::MAX_SERIES_POINTS`].
    async fn metric_series(
        &self,
        host: &str,
        metric: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step_seconds: i64,
    ) -> Result<Vec<metrics::MetricPoint>, StoreError>;

    /// Counts over `[from, to)`: detections by severity, detector, host, address and rule,
    /// detections per bucket of `bucket_seconds` (widened to at most 1,000 buckets), alerts
    /// by status, events stored, and hosts' latest figures.
    async fn statistics(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket_seconds: i64,
    ) -> Result<statistics::Statistics, StoreError>;

    /// The stored events among `ids` (at most 1,000 asked for), in no particular order.
    async fn get_events(&self, ids: &[uuid::Uuid]) -> Result<Vec<Event>, StoreError>;

    /// Hosts seen in the last 30 days (metrics or detections), with their latest figures
    /// and open alerts, by name; at most 10,000.
    async fn hosts(&self, now: DateTime<Utc>) -> Result<Vec<statistics::HostSummary>, StoreError>;

    /// Rules turned off: id, when and by whom.
    async fn disabled_rules(&self) -> Result<Vec<DisabledRule>, StoreError>;

    /// Turns a rule off (recording who) or back on; whether anything changed.
    async fn set_rule_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        by: &str,
    ) -> Result<bool, StoreError>;

    /// Stores a new API key.
    async fn insert_api_key(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// One API key by id.
    async fn get_api_key(&self, id: &str) -> Result<Option<ApiKey>, StoreError>;

    /// Every API key, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;

    /// Removes a key and ends its dashboard sessions; `false` when there was none.
    async fn delete_api_key(&self, id: &str) -> Result<bool, StoreError>;

    /// Records that a key was used at `at`.
    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records a state-changing API call.
    async fn insert_api_call(&self, call: &ApiCall) -> Result<(), StoreError>;

    /// The most recent API calls, newest first, at most `limit`.
    async fn recent_api_calls(&self, limit: usize) -> Result<Vec<ApiCall>, StoreError>;

    /// Registers a sender; fails if the name is taken.
    async fn insert_sender(&self, sender: &Sender) -> Result<(), StoreError>;

    /// One sender by id.
    async fn get_sender(&self, id: &str) -> Result<Option<Sender>, StoreError>;

    /// Every sender, by name.
    async fn list_senders(&self) -> Result<Vec<Sender>, StoreError>;

    /// Records that a sender shipped now, with its version and address.
    async fn touch_sender(
        &self,
        id: &str,
        seen: DateTime<Utc>,
        version: Option<&str>,
        address: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Replaces a sender's credentials and revocation (`secret_hash`,
    /// `previous_secret_hash`, `previous_valid_until`, `revoked_at`): rotation,
    /// revocation and enrolling again. `false` when there is no such sender.
    async fn update_sender_credentials(&self, sender: &Sender) -> Result<bool, StoreError>;

    /// Stores a new dashboard session.
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session with this id hash, if it has not ended.
    async fn get_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    /// Ends one session (logout).
    async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError>;

    /// Ends every session of a key (the key was revoked) and every expired one.
    async fn delete_sessions(
        &self,
        key_id: Option<&str>,
        expired_before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// The stored alerts among these fingerprints (in no particular order).
    async fn get_alerts_by_fingerprints(
        &self,
        fingerprints: &[Fingerprint],
    ) -> Result<Vec<Alert>, StoreError>;

    /// Inserts or replaces alerts by fingerprint, in one transaction.
    async fn upsert_alerts(&self, alerts: &[Alert]) -> Result<(), StoreError>;

    /// Upserts the alerts that detections were folded into and marks those detections
    /// folded, in one transaction.
    async fn fold_into_alerts(&self, alerts: &[Alert], folded: &[Uuid]) -> Result<(), StoreError>;

    /// Detections stored but not yet folded into an alert (a crash came between), oldest
    /// first, at most `limit`.
    async fn unfolded_detections(&self, limit: u32) -> Result<Vec<Detection>, StoreError>;

    /// The alert with this fingerprint, if one was stored.
    async fn get_alert_by_fingerprint(
        &self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Alert>, StoreError>;

    /// Writes what one pipeline step made, in one transaction: notifications into the
    /// outbox (pending, before anything is sent), the trace of every stage's verdict, and
    /// alerts whose state the pipeline changed (resolved by timeout).
    async fn record_pipeline(
        &self,
        notifications: &[Notification],
        trace: &[TraceEntry],
        changed_alerts: &[Alert],
    ) -> Result<(), StoreError>;

    /// Pending notifications whose next attempt is due, oldest first.
    async fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// When the earliest pending notification is due, if any is pending.
    async fn next_due_notification(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Notices waiting for delivery, per receiver.
    async fn notification_backlog(&self) -> Result<Vec<Backlog>, StoreError>;

    /// Records delivery attempts and each notification's new state, in one transaction.
    async fn record_attempts(&self, attempts: &[AttemptRecord]) -> Result<(), StoreError>;

    /// Records one delivery attempt.
    async fn record_attempt(
        &self,
        id: Uuid,
        channel: &str,
        outcome: &AttemptOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_attempts(&[AttemptRecord {
            notification_id: id,
            channel: channel.to_string(),
            outcome: outcome.clone(),
            at: now,
        }])
        .await
    }

    /// Puts a dead or skipped notification back in the queue; `false` if it was neither.
    async fn requeue_notification(
        &self,
        id: Uuid,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// One notification with its attempts.
    async fn get_notification(&self, id: Uuid) -> Result<Option<NotificationHistory>, StoreError>;

    /// Notifications newest first, by status (the dead letters, say).
    async fn query_notifications(
        &self,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Notifications made at or after `since`, oldest first, at most `limit` (what a
    /// replay compares its verdicts with).
    async fn notifications_since(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Every notification that listed an alert, with its attempts.
    async fn alert_notifications(
        &self,
        alert_id: Uuid,
    ) -> Result<Vec<NotificationHistory>, StoreError>;

    /// Which of these alerts some notification has listed.
    async fn notified_alerts(
        &self,
        alert_ids: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, StoreError>;

    /// The pipeline's verdicts on an alert, oldest first.
    async fn alert_trace(&self, alert_id: Uuid) -> Result<Vec<TraceEntry>, StoreError>;

    /// Creates or replaces a silence (expiring one sets its end).
    async fn upsert_silence(&self, silence: &Silence) -> Result<(), StoreError>;

    /// Silences that end after `ended_after` (pass a past time to include recent ones).
    async fn list_silences(&self, ended_after: DateTime<Utc>) -> Result<Vec<Silence>, StoreError>;

    async fn get_silence(&self, id: Uuid) -> Result<Option<Silence>, StoreError>;
}
