//! The delivery worker: sends what the outbox holds, records every attempt, retries with
//! capped exponential backoff and jitter (honouring `Retry-After`) for the channel's
//! `retry_for_seconds` (a day by default: outages last hours), then dead-letters the
//! notice and hands it to the channel's fallback. A channel that keeps failing raises an
//! alert about itself through its fallback, once per outage.
//!
//! It reads only from the store, so a notice made before a crash is sent after the
//! restart, and a receiver that is down delays notices without losing them.

use crate::channel::{Channel, SendError};
use crate::email::Email;
use crate::render::top_severity;
use crate::sms::{SmsGateway, Twilio};
use crate::syslog::Syslog;
use crate::template::{Escape, Template};
use crate::{pagerduty::PagerDuty, slack::Slack, webhook::Webhook};
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use rand::RngExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use watchpost_alert::config::ChannelConfig;
use watchpost_alert::{Notification, Stage, TraceEntry, Verdict};
use watchpost_core::Severity;
use watchpost_store::{AttemptOutcome, AttemptRecord, OutboxEntry, Store};

/// Notices taken from the outbox per pass.
const BATCH: u32 = 256;
/// Sends in flight at once.
const CONCURRENCY: usize = 32;
/// How often the worker looks at the outbox when nothing wakes it.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// A configured channel, ready to send.
pub(crate) struct Configured {
    channel: Arc<dyn Channel>,
    min_severity: Severity,
    /// 0: no limit by count.
    max_attempts: u32,
    retry_for: chrono::Duration,
    max_backoff: Duration,
    pub(crate) failing_alert_after: chrono::Duration,
    pub(crate) fallback: Option<String>,
    /// `name (type)`, for the history.
    pub(crate) label: String,
}

/// The channels by name.
#[derive(Default)]
pub struct Channels {
    pub(crate) by_name: HashMap<String, Configured>,
}

impl Channels {
    /// Builds every channel in `configs` (already validated by the configuration), reading
    /// their template and CA files; an error names the channel and the file.
    pub fn build(configs: &[ChannelConfig]) -> Result<Channels, String> {
        let mut by_name = HashMap::new();
        for c in configs {
            let channel = build_channel(c).map_err(|e| format!("channel `{}`: {e}", c.name))?;
            by_name.insert(
                c.name.clone(),
                Configured {
                    channel,
                    min_severity: c.min_severity.parse().unwrap_or(Severity::Info),
                    max_attempts: c.max_attempts,
                    retry_for: chrono::Duration::seconds(c.retry_for_seconds as i64),
                    max_backoff: Duration::from_secs(c.max_backoff_seconds.max(1)),
                    failing_alert_after: chrono::Duration::seconds(
                        c.failing_alert_after_seconds as i64,
                    ),
                    fallback: c.fallback.clone(),
                    label: format!("{} ({})", c.name, c.kind),
                },
            );
        }
        Ok(Channels { by_name })
    }
}

/// One channel of its configured type.
fn build_channel(c: &ChannelConfig) -> Result<Arc<dyn Channel>, String> {
    let timeout = Duration::from_secs(c.timeout_seconds);
    let load = |path: &Option<std::path::PathBuf>, escape: Escape| {
        path.as_deref()
            .map(|p| Template::load(p, escape).map(Arc::new))
            .transpose()
    };
    let text_escape = if c.kind == "slack" {
        Escape::Slack
    } else {
        Escape::None
    };
    let template = load(&c.template, text_escape)?;
    Ok(match c.kind.as_str() {
        "webhook" => Arc::new(Webhook::new(
            c.url.clone().unwrap_or_default(),
            exposed(&c.secret),
            exposed_headers(&c.headers),
            timeout,
            template,
        )?),
        "slack" => Arc::new(Slack::new(
            c.url.clone().unwrap_or_default(),
            timeout,
            template,
        )?),
        "pagerduty" => Arc::new(PagerDuty::new(
            c.url.clone(),
            exposed(&c.routing_key).unwrap_or_default(),
            timeout,
            template,
        )?),
        "email" => Arc::new(Email::from_config(
            c,
            template,
            load(&c.html_template, Escape::Html)?,
        )?),
        "twilio" => Arc::new(Twilio::from_config(c, template)?),
        "sms_gateway" => Arc::new(SmsGateway::from_config(c, template)?),
        "syslog" => Arc::new(Syslog::from_config(c, template)?),
        "desktop" => crate::desktop::build(template)?,
        other => return Err(format!("unknown type `{other}`")),
    })
}

/// The worker. Cheap to share; [`Deliverer::run`] drives it.
pub struct Deliverer {
    store: Arc<dyn Store>,
    channels: ArcSwap<Channels>,
    wake: tokio::sync::Notify,
    outages: std::sync::Mutex<crate::outage::Outages>,
}

impl Deliverer {
    pub fn new(store: Arc<dyn Store>, channels: Channels) -> Arc<Deliverer> {
        Arc::new(Deliverer {
            store,
            channels: ArcSwap::from_pointee(channels),
            wake: tokio::sync::Notify::new(),
            outages: Default::default(),
        })
    }

    /// Swaps in new channels (a configuration reload).
    pub fn set_channels(&self, channels: Channels) {
        self.channels.store(Arc::new(channels));
    }

    /// Says that the outbox has new notices.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Delivers until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let sent = match self.deliver_due(Utc::now()).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the notification outbox");
                    0
                }
            };
            if sent >= BATCH as usize {
                continue;
            }
            let wait = match self.store.next_due_notification().await {
                Ok(Some(at)) => (at - Utc::now())
                    .to_std()
                    .unwrap_or_default()
                    .min(IDLE_POLL),
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One pass over the notices due at `now`; returns how many were attempted. Retries
    /// are scheduled from `now`, so a test can drive the worker with a hand-set clock.
    pub async fn deliver_due(
        &self,
        now: DateTime<Utc>,
    ) -> Result<usize, watchpost_store::StoreError> {
        let due = self.store.due_notifications(now, BATCH).await?;
        let count = due.len();
        let channels = self.channels.load_full();
        let mut tasks = JoinSet::new();
        let mut done = Vec::with_capacity(count);
        for entry in due {
            while tasks.len() >= CONCURRENCY {
                if let Some(Ok(result)) = tasks.join_next().await {
                    done.push(result);
                }
            }
            let channels = Arc::clone(&channels);
            tasks.spawn(async move {
                let receiver = entry.notification.receiver.clone();
                (receiver, deliver_one(&channels, entry, now).await)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok(result) = joined {
                done.push(result);
            }
        }
        let receivers: Vec<String> = done.iter().map(|(r, _)| r.clone()).collect();
        // One transaction for the whole pass. If it fails, the notices stay pending and are
        // attempted again: a duplicate is better than a loss, and receivers dedup on the
        // idempotency key.
        let (records, handovers): (Vec<AttemptRecord>, Vec<Option<Handover>>) =
            done.into_iter().map(|(_, result)| result).unzip();
        if let Err(e) = self.store.record_attempts(&records).await {
            tracing::warn!(error = %e, count = records.len(), "cannot record delivery attempts");
            return Ok(count);
        }
        for h in handovers.into_iter().flatten() {
            hand_to_fallback(&*self.store, &h.notification, &h.fallback, &h.error, now).await;
        }
        let warnings = {
            let mut outages = self.outages.lock().unwrap_or_else(|p| p.into_inner());
            for (receiver, record) in receivers.iter().zip(&records) {
                outages.observe(receiver, &record.outcome, now);
            }
            outages.due_warnings(&channels, now)
        };
        for warning in warnings {
            crate::outage::raise(&*self.store, warning, now).await;
        }
        Ok(count)
    }
}

/// A dead notice on its way to the channel's fallback.
struct Handover {
    notification: Notification,
    fallback: String,
    error: String,
}

/// Delivers one notice; `now` is the pass's time (retries are scheduled from it).
async fn deliver_one(
    channels: &Channels,
    entry: OutboxEntry,
    now: DateTime<Utc>,
) -> (AttemptRecord, Option<Handover>) {
    let n = &entry.notification;
    let record = |channel: &str, outcome: AttemptOutcome| AttemptRecord {
        notification_id: n.id,
        channel: channel.to_string(),
        outcome,
        at: now,
    };
    let Some(c) = channels.by_name.get(&n.receiver) else {
        let reason = if channels.by_name.is_empty() {
            "no channels are configured ([[alerting.channels]]): the notice is recorded only"
                .to_string()
        } else {
            format!("no channel named `{}`", n.receiver)
        };
        return (record("-", AttemptOutcome::Skipped { reason }), None);
    };
    if !n.alerts.is_empty() && top_severity(n) < c.min_severity {
        let reason = format!(
            "below the channel's minimum severity ({} < {})",
            top_severity(n).as_str(),
            c.min_severity.as_str()
        );
        return (record(&c.label, AttemptOutcome::Skipped { reason }), None);
    }
    let outcome = match c.channel.send(n).await {
        Ok(detail) => AttemptOutcome::Sent { detail },
        Err(e) => failure(&entry, c, e, now),
    };
    let handover = match (&outcome, &c.fallback) {
        (AttemptOutcome::Dead { error }, Some(fallback)) => Some(Handover {
            notification: n.clone(),
            fallback: fallback.clone(),
            error: error.clone(),
        }),
        _ => None,
    };
    (record(&c.label, outcome), handover)
}

fn failure(
    entry: &OutboxEntry,
    c: &Configured,
    e: SendError,
    now: DateTime<Utc>,
) -> AttemptOutcome {
    let attempt = entry.attempts + 1;
    let deadline = entry.notification.created_at + c.retry_for;
    if !e.retryable {
        return AttemptOutcome::Dead {
            error: format!("{} (refused; not retried)", e.message),
        };
    }
    if c.max_attempts > 0 && attempt >= c.max_attempts {
        return AttemptOutcome::Dead {
            error: format!(
                "{} (attempt {attempt} of {}, giving up)",
                e.message, c.max_attempts
            ),
        };
    }
    if now >= deadline {
        return AttemptOutcome::Dead {
            error: format!(
                "{} (attempt {attempt}; retried for {} since the notice was made, giving up)",
                e.message,
                crate::outage::human(c.retry_for)
            ),
        };
    }
    let wait = e
        .retry_after
        .unwrap_or_default()
        .max(backoff(attempt, c.max_backoff));
    // The last attempt falls on the deadline rather than past it.
    let retry_at = (now + chrono::Duration::from_std(wait).unwrap_or_default()).min(deadline);
    AttemptOutcome::Retry {
        error: format!(
            "{} (attempt {attempt}; retrying until {})",
            e.message,
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        retry_at,
    }
}

/// 1 s, 2 s, 4 s… up to `max`, each ±20 % so that many notices failing together do not
/// retry together.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(16)).min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter)
}

async fn hand_to_fallback(
    store: &dyn Store,
    n: &Notification,
    fallback: &str,
    error: &str,
    now: DateTime<Utc>,
) {
    let mut copy = n.clone();
    copy.id = uuid::Uuid::now_v7();
    copy.receiver = fallback.to_string();
    copy.created_at = now;
    let trace: Vec<TraceEntry> = n
        .alerts
        .iter()
        .map(|a| TraceEntry {
            alert_id: a.id,
            at: now,
            stage: Stage::Notify,
            verdict: Verdict::Sent,
            route: Some(n.route.clone()),
            receiver: Some(fallback.to_string()),
            detail: format!(
                "notice {} to `{}` failed ({error}); handed to fallback `{fallback}` as notice {}",
                n.id, n.receiver, copy.id
            ),
        })
        .collect();
    if let Err(e) = store.record_pipeline(&[copy], &trace, &[]).await {
        tracing::warn!(notification = %n.id, error = %e, "cannot hand a dead notice to its fallback");
    }
}

/// A credential from the configuration, as the channel sends it.
pub(crate) fn exposed(secret: &Option<watchpost_core::Secret>) -> Option<String> {
    secret.as_ref().map(|s| s.expose().to_string())
}

/// Header values from the configuration, as the channel sends them.
pub(crate) fn exposed_headers(
    headers: &std::collections::BTreeMap<String, watchpost_core::Secret>,
) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect()
}
