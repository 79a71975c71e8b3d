//! The alert desk: detections fold into alerts (one per fingerprint, with a count and
//! first/last seen), alerts run through the pipeline, and what the pipeline decides is
//! written to the store's outbox before the delivery worker sends it.
//!
//! Every detection the server stores goes through [`AlertDesk::record`]. A ticker advances
//! the pipeline each second, applies `[alerting]` changes from a configuration reload, and
//! re-reads silences. At start, open alerts are taken back from the store: those already
//! notified count as told (only changes and repeats are sent), the rest are news.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;
use watchpost_alert::{ActiveSilence, AlertingConfig, Output, Pipeline, Policy};
use watchpost_config::ConfigHandle;
use watchpost_core::{Alert, AlertStatus, Detection, Fingerprint};
use watchpost_notify::{Channels, Deliverer};
use watchpost_store::{AlertQuery, Store, StoreError};

/// How often the pipeline's timers are looked at.
const TICK: Duration = Duration::from_secs(1);
/// How often silences are re-read from the store (the API also refreshes them at once).
const SILENCE_REFRESH_TICKS: u32 = 10;
/// Detection batches waiting to be folded; a full queue slows the callers down.
const FOLD_QUEUE: usize = 1_024;
/// Detections folded in one go at most.
const FOLD_BATCH: usize = 5_000;
/// Pipeline outputs kept in memory while the store refuses writes; past it the oldest
/// are dropped and counted in the log.
const MAX_UNWRITTEN: usize = 10_000;

/// How much of the pipeline a step advances.
#[derive(Clone, Copy)]
enum Step {
    /// Every timer: resolve timeouts, escalations, digests, reminders (once a second).
    Everything,
    /// Only the groups due now (after new alerts or a triage).
    DueGroups,
}

/// See the module doc.
pub struct AlertDesk {
    store: Arc<dyn Store>,
    pipeline: Mutex<Pipeline>,
    /// Serialises folding so two writers never race on one fingerprint.
    folding: Mutex<()>,
    /// Outputs not yet written (the store was unavailable).
    unwritten: Mutex<Vec<Output>>,
    deliverer: Arc<Deliverer>,
    applied: std::sync::Mutex<AlertingConfig>,
    fold_tx: mpsc::Sender<Vec<Detection>>,
    /// Taken by [`AlertDesk::run`], which folds what `fold_tx` queues.
    fold_rx: std::sync::Mutex<Option<mpsc::Receiver<Vec<Detection>>>>,
    /// Detections of concurrent callers share a transaction.
    inserts: crate::group_commit::GroupCommit,
    /// Where stored detections and changed alerts are announced (the live stream).
    hub: crate::stream::Hub,
    /// Groups folded detections into incidents, once attached.
    incidents: std::sync::OnceLock<Arc<crate::incidents::IncidentDesk>>,
    /// False positives taught back: detections they cover raise no alert.
    suppressions: std::sync::OnceLock<Arc<crate::suppressions::Suppressions>>,
}

/// A status change someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triage {
    Acknowledge,
    Resolve,
    Reopen,
    FalsePositive,
}

impl AlertDesk {
    /// Builds the desk from `[alerting]` and takes back the open alerts.
    pub async fn start(
        store: Arc<dyn Store>,
        config: &AlertingConfig,
        hub: crate::stream::Hub,
    ) -> anyhow::Result<Arc<AlertDesk>> {
        let policy = Policy::compile(config).map_err(|errors| {
            anyhow::anyhow!(
                "[alerting] is invalid: {}",
                errors
                    .iter()
                    .map(|(k, m)| format!("{k}: {m}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let channels = Channels::build(&config.channels).map_err(anyhow::Error::msg)?;
        if config.channels.is_empty() {
            tracing::info!(
                "no [[alerting.channels]] configured: notifications are recorded (see /api/v1/alerts/ID/notifications) but not sent"
            );
        }
        let (fold_tx, fold_rx) = mpsc::channel(FOLD_QUEUE);
        let desk = Arc::new(AlertDesk {
            fold_tx,
            fold_rx: std::sync::Mutex::new(Some(fold_rx)),
            inserts: Default::default(),
            hub,
            deliverer: Deliverer::new(store.clone(), channels),
            store,
            pipeline: Mutex::new(Pipeline::new(Arc::new(policy))),
            folding: Mutex::new(()),
            unwritten: Mutex::new(Vec::new()),
            applied: std::sync::Mutex::new(config.clone()),
            incidents: std::sync::OnceLock::new(),
            suppressions: std::sync::OnceLock::new(),
        });
        desk.restore().await?;
        desk.refresh_silences().await?;
        // A leftover that cannot be read or folded must not keep the server down: it stays
        // marked unfolded, is reported, and is tried again at the next start.
        if let Err(e) = desk.fold_leftovers().await {
            tracing::error!(error = %e, "detections left unfolded by a crash could not be folded");
        }
        Ok(desk)
    }

    /// Folds detections a crash left stored but unfolded (committed, then the process died
    /// before their alert was written), so every stored detection counts in its alert.
    async fn fold_leftovers(&self) -> Result<(), StoreError> {
        let mut folded = 0;
        loop {
            let leftovers = self.store.unfolded_detections(FOLD_BATCH as u32).await?;
            if leftovers.is_empty() {
                break;
            }
            folded += leftovers.len();
            self.fold(&leftovers).await?;
        }
        if folded > 0 {
            tracing::info!(
                detections = folded,
                "detections stored before a crash folded into their alerts"
            );
        }
        Ok(())
    }

    async fn restore(&self) -> Result<(), StoreError> {
        let now = Utc::now();
        let mut restored = 0;
        for status in [AlertStatus::Firing, AlertStatus::Acknowledged] {
            let mut cursor = None;
            loop {
                let page = self
                    .store
                    .query_alerts(&AlertQuery {
                        status: Some(status),
                        cursor: cursor.take(),
                        limit: Some(watchpost_store::MAX_PAGE_SIZE),
                        ..AlertQuery::default()
                    })
                    .await?;
                let ids: Vec<Uuid> = page.items.iter().map(|a| a.id).collect();
                let notified = self.store.notified_alerts(&ids).await?;
                let mut pipeline = self.pipeline.lock().await;
                for alert in &page.items {
                    pipeline.restore(alert, notified.contains(&alert.id), now);
                    restored += 1;
                }
                match page
                    .next_cursor
                    .map(|c| watchpost_store::Cursor::decode(&c))
                {
                    Some(Ok(c)) if restored < watchpost_alert::pipeline::MAX_TRACKED_ALERTS => {
                        cursor = Some(c);
                    }
                    _ => break,
                }
            }
        }
        if restored > 0 {
            tracing::info!(
                alerts = restored,
                "open alerts taken back into the pipeline"
            );
        }
        Ok(())
    }

    /// Stores detections, then queues them to be folded into their alerts. The detections
    /// are committed when this returns; folding follows at once on the desk's own task, in
    /// batches, so a burst costs a few transactions rather than one per detection.
    pub async fn record(&self, detections: &[Detection]) -> Result<(), StoreError> {
        if detections.is_empty() {
            return Ok(());
        }
        self.inserts
            .insert(self.store.as_ref(), detections, |written| async move {
                for detection in &written {
                    self.hub.publish("detections", detection);
                }
                let count = written.len();
                if self.fold_tx.send(written).await.is_err() {
                    tracing::warn!(
                        count,
                        "alert desk stopped: detections stored but not folded into alerts"
                    );
                }
            })
            .await
    }

    /// Sends every detection folded from now on, with its alert, to the incident desk.
    pub fn attach_incidents(&self, desk: Arc<crate::incidents::IncidentDesk>) {
        let _ = self.incidents.set(desk);
    }

    /// Applies accepted suppressions to every detection folded from now on.
    pub fn attach_suppressions(&self, suppressions: Arc<crate::suppressions::Suppressions>) {
        let _ = self.suppressions.set(suppressions);
    }

    /// The incident desk, once attached.
    pub fn incidents(&self) -> Option<&Arc<crate::incidents::IncidentDesk>> {
        self.incidents.get()
    }

    /// Raises detections the server makes itself (a playbook's notification): stored,
    /// published and folded into alerts like any other, at once.
    pub async fn raise(&self, detections: &[Detection]) -> Result<(), StoreError> {
        self.store.insert_detections(detections).await?;
        for d in detections {
            self.hub.publish("detections", d);
        }
        self.fold(detections).await
    }

    /// Folds a batch of detections into their alerts, runs the pipeline on them, and
    /// writes what it made.
    async fn fold(&self, detections: &[Detection]) -> Result<(), StoreError> {
        let notices = self.fold_batch(detections).await?;
        if !notices.is_empty() {
            // Incidents opened or escalated by this batch: notices routed like any alert.
            // The correlator leaves them alone, so folding them makes no more.
            self.store.insert_detections(&notices).await?;
            for notice in &notices {
                self.hub.publish("detections", notice);
            }
            self.fold_batch(&notices).await?;
        }
        Ok(())
    }

    /// [`AlertDesk::fold`] of one batch; returns the incident notices it raised.
    async fn fold_batch(&self, detections: &[Detection]) -> Result<Vec<Detection>, StoreError> {
        let now = Utc::now();
        let _folding = self.folding.lock().await;
        // Every detection of the batch is folded; those a suppression covers into no alert.
        let folded: Vec<Uuid> = detections.iter().map(|d| d.id).collect();
        let kept = match self.suppressions.get() {
            Some(suppressions) => suppressions.filter(detections).await,
            None => None,
        };
        let detections = kept.as_deref().unwrap_or(detections);
        let fingerprints: Vec<Fingerprint> = detections
            .iter()
            .map(|d| Fingerprint::of_detection(d, &BTreeMap::new()))
            .collect();
        let mut unique = fingerprints.clone();
        unique.sort();
        unique.dedup();
        let mut alerts: BTreeMap<Fingerprint, Alert> = self
            .store
            .get_alerts_by_fingerprints(&unique)
            .await?
            .into_iter()
            .map(|a| (a.fingerprint.clone(), a))
            .collect();
        let mut touched: Vec<Fingerprint> = detections
            .iter()
            .filter_map(|d| Alert::fold(&mut alerts, d))
            .collect();
        touched.sort();
        touched.dedup();
        let changed: Vec<Alert> = touched.iter().filter_map(|fp| alerts.remove(fp)).collect();
        self.store.fold_into_alerts(&changed, &folded).await?;
        for alert in &changed {
            self.hub.publish("alerts", alert);
        }
        let notices = match self.incidents.get() {
            Some(incidents) => incidents.observe(detections, &changed).await,
            None => Vec::new(),
        };
        {
            let mut pipeline = self.pipeline.lock().await;
            for alert in &changed {
                pipeline.observe(alert, now);
            }
        }
        // A group due now (group_wait = 0) is notified at once, not at the next tick.
        self.step(now, Step::DueGroups).await;
        Ok(notices)
    }

    /// Takes queued detections in batches until `stop`, then folds what is left.
    async fn fold_queue(
        &self,
        mut rx: mpsc::Receiver<Vec<Detection>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                batch = rx.recv() => batch,
                _ = stop.changed() => {
                    rx.close();
                    rx.recv().await
                }
            };
            let Some(mut batch) = first else { return };
            while batch.len() < FOLD_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.extend(more),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.fold(&batch).await {
                tracing::error!(error = %e, count = batch.len(), "detections stored but not folded into alerts");
            }
        }
    }

    /// Applies a person's decision to an alert. `None` when there is no such alert.
    pub async fn triage(
        &self,
        id: Uuid,
        action: Triage,
        by: &str,
        reason: Option<String>,
    ) -> Result<Option<Alert>, StoreError> {
        let _folding = self.folding.lock().await;
        let Some(mut alert) = self.store.get_alert(id).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let changed = match action {
            Triage::Acknowledge => alert.change_status(AlertStatus::Acknowledged, by, reason, now),
            Triage::Resolve => alert.change_status(AlertStatus::Resolved, by, reason, now),
            Triage::Reopen => alert.change_status(AlertStatus::Firing, by, reason, now),
            Triage::FalsePositive => {
                alert.false_positive = true;
                let reason = Some(format!(
                    "false positive{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ));
                alert.change_status(AlertStatus::Resolved, by, reason, now)
            }
        };
        if changed {
            self.store.upsert_alert(&alert).await?;
            self.hub.publish("alerts", &alert);
            self.pipeline.lock().await.observe(&alert, now);
            self.step(now, Step::DueGroups).await;
        }
        Ok(Some(alert))
    }

    /// Re-reads the silences from the store.
    pub async fn refresh_silences(&self) -> Result<(), StoreError> {
        let silences = self.store.list_silences(Utc::now()).await?;
        let active: Vec<ActiveSilence> = silences
            .into_iter()
            .filter_map(|s| match ActiveSilence::new(s.clone()) {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::warn!(silence = %s.id, error = %e, "stored silence ignored");
                    None
                }
            })
            .collect();
        self.pipeline.lock().await.set_silences(active);
        Ok(())
    }

    /// Advances the pipeline to `now` and writes what it made, then wakes delivery.
    async fn step(&self, now: DateTime<Utc>, what: Step) {
        let output = {
            let mut pipeline = self.pipeline.lock().await;
            match what {
                Step::Everything => pipeline.tick(now),
                Step::DueGroups => pipeline.flush_due(now),
            }
        };
        let mut unwritten = self.unwritten.lock().await;
        if !output.notifications.is_empty()
            || !output.trace.is_empty()
            || !output.resolved.is_empty()
        {
            unwritten.push(output);
        }
        while let Some(first) = unwritten.first() {
            match self
                .store
                .record_pipeline(&first.notifications, &first.trace, &first.resolved)
                .await
            {
                Ok(()) => {
                    unwritten.remove(0);
                }
                Err(e) => {
                    tracing::warn!(error = %e, pending = unwritten.len(), "cannot write pipeline output; keeping it to retry");
                    if unwritten.len() > MAX_UNWRITTEN {
                        let excess = unwritten.len() - MAX_UNWRITTEN;
                        unwritten.drain(..excess);
                        tracing::error!(
                            dropped = excess,
                            "pipeline outputs dropped: the store refused writes for too long"
                        );
                    }
                    return;
                }
            }
        }
        self.deliverer.wake();
    }

    /// Applies a changed `[alerting]` (already validated by the configuration loader).
    fn apply(&self, config: &AlertingConfig, pipeline: &mut Pipeline) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        if *applied == *config {
            return;
        }
        match (Policy::compile(config), Channels::build(&config.channels)) {
            (Ok(policy), Ok(channels)) => {
                pipeline.set_policy(Arc::new(policy));
                self.deliverer.set_channels(channels);
                *applied = config.clone();
                tracing::info!("[alerting] reloaded");
            }
            (Err(errors), _) => {
                tracing::warn!(?errors, "[alerting] not reloaded")
            }
            (_, Err(e)) => tracing::warn!(error = %e, "[alerting] channels not reloaded"),
        }
    }

    /// Runs the ticker and the delivery worker until `shutdown` turns true.
    pub fn run(
        self: &Arc<Self>,
        config: Arc<ConfigHandle>,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let deliver = tokio::spawn(Arc::clone(&self.deliverer).run(shutdown.clone()));
        let mut tasks = vec![deliver];
        let queued = self
            .fold_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(rx) = queued {
            let desk = Arc::clone(self);
            let stop = shutdown.clone();
            tasks.push(tokio::spawn(async move { desk.fold_queue(rx, stop).await }));
        }
        let desk = Arc::clone(self);
        let mut stop = shutdown;
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            let mut ticks = 0u32;
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    _ = stop.changed() => return,
                }
                {
                    let settings = config.get();
                    let mut pipeline = desk.pipeline.lock().await;
                    desk.apply(&settings.alerting, &mut pipeline);
                }
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(SILENCE_REFRESH_TICKS)
                    && let Err(e) = desk.refresh_silences().await
                {
                    tracing::warn!(error = %e, "cannot re-read silences");
                }
                desk.step(Utc::now(), Step::Everything).await;
            }
        });
        tasks.push(ticker);
        tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::{Entity, Severity};

    #[tokio::test]
    async fn detections_a_crash_left_unfolded_are_folded_at_start() {
        let db = watchpost_store::testing::sqlite();
        let store = db.open().await;
        // Stored, then the process died before the fold: no alert yet.
        let detections: Vec<Detection> = (0..3)
            .map(|_| {
                let mut d = Detection::new(
                    "lnx.reverse_shell",
                    "Reverse shell",
                    Severity::High,
                    "sigma",
                );
                d.entity = Some(Entity::Host {
                    name: "web-1".into(),
                });
                d
            })
            .collect();
        store.insert_detections(&detections).await.unwrap();
        let fp = Fingerprint::of_detection(&detections[0], &BTreeMap::new());
        assert!(store.get_alert_by_fingerprint(&fp).await.unwrap().is_none());

        let _desk = AlertDesk::start(
            store.clone(),
            &AlertingConfig::default(),
            crate::stream::Hub::default(),
        )
        .await
        .unwrap();
        let alert = store.get_alert_by_fingerprint(&fp).await.unwrap().unwrap();
        assert_eq!(alert.count, 3);
        assert!(store.unfolded_detections(10).await.unwrap().is_empty());

        // A second start finds nothing left to fold: the count stays.
        let _again = AlertDesk::start(
            store.clone(),
            &AlertingConfig::default(),
            crate::stream::Hub::default(),
        )
        .await
        .unwrap();
        let alert = store.get_alert_by_fingerprint(&fp).await.unwrap().unwrap();
        assert_eq!(alert.count, 3);
    }

    #[tokio::test]
    async fn an_unreadable_leftover_does_not_keep_the_server_down() {
        let db = watchpost_store::testing::sqlite();
        let store = db.open().await;
        let d = Detection::new("r", "t", Severity::High, "sigma");
        store.insert_detections(&[d]).await.unwrap();
        let raw = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query("UPDATE detections SET doc = 'not json'")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        assert!(store.unfolded_detections(10).await.is_err());
        assert!(
            AlertDesk::start(
                store.clone(),
                &AlertingConfig::default(),
                crate::stream::Hub::default(),
            )
            .await
            .is_ok()
        );
    }
}
