//! The incident desk: feeds every folded detection, with its alert, to the correlator,
//! stores the incidents it changes and announces them on the `incidents` stream topic;
//! applies people's changes (status, assignee, title, notes) with a line in the timeline.
//!
//! The correlator's index is rebuilt from the store at start, so a restart loses no
//! grouping; it is kept to the incidents active within the window (`[incidents]`).

use crate::stream::Hub;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;
use uuid::Uuid;
use watchpost_core::{
    Alert, Detection, Entity, Fingerprint, Incident, IncidentStatus, Severity, TimelineEntry,
};
use watchpost_incident::edit::{self, EditError};
use watchpost_incident::{Correlator, NOTICE_DETECTOR, Outcome, Settings, Signal};
use watchpost_store::{Store, StoreError};

/// The correlator and where its incidents go.
pub struct IncidentDesk {
    correlator: Mutex<Correlator>,
    store: Arc<dyn Store>,
    hub: Hub,
    /// The risk band each incident was last announced at (see [`band`]).
    announced: std::sync::Mutex<HashMap<Uuid, u8>>,
    /// `incidents.notices`, read at start.
    raise_notices: bool,
    /// Where changed incidents go for the playbooks (none in the benchmark).
    responder: Option<Arc<crate::responder::Responder>>,
}

/// Incidents whose announced band is remembered at most; past it the memory starts over
/// (an incident then escalates at most once more than it should).
const MAX_ANNOUNCED: usize = 100_000;

/// Risk bands an incident is announced in: opened (any), escalated to high (40), to
/// critical (70).
fn band(score: u32) -> u8 {
    match score {
        70.. => 2,
        40.. => 1,
        _ => 0,
    }
}

/// A change a person asks for.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub status: Option<IncidentStatus>,
    /// `Some("")` clears the assignee.
    pub assignee: Option<String>,
    pub title: Option<String>,
    pub note: Option<String>,
}

/// The correlator's settings from `[incidents]`.
pub fn settings(config: &watchpost_config::IncidentsConfig) -> Settings {
    Settings {
        window: Duration::minutes(config.window_minutes as i64),
        open_at: config.open_at_severity.parse().unwrap_or(Severity::Medium),
        critical_hosts: config.critical_hosts.clone(),
        max_tracked: config.max_indexed,
        ..Settings::default()
    }
}

impl IncidentDesk {
    /// Starts with the incidents still active indexed again. A store that cannot be read
    /// (damaged, say) must not keep the server down: the index then starts empty, which is
    /// logged, and new alerts open new incidents.
    pub async fn start(
        store: Arc<dyn Store>,
        hub: Hub,
        settings: Settings,
        raise_notices: bool,
        responder: Option<Arc<crate::responder::Responder>>,
    ) -> Arc<IncidentDesk> {
        let now = Utc::now();
        let mut correlator = Correlator::new(settings.clone());
        match store
            .query_incidents(None, Some(now - settings.window), 100_000)
            .await
        {
            Ok(recent) => correlator.restore(recent, now),
            Err(e) => tracing::error!(
                error = %e,
                "the incidents still active could not be read: grouping starts afresh"
            ),
        }
        tracing::info!(
            indexed = correlator.tracked(),
            "incidents active within the window indexed"
        );
        Arc::new(IncidentDesk {
            correlator: Mutex::new(correlator),
            store,
            hub,
            announced: Default::default(),
            raise_notices,
            responder,
        })
    }

    /// Groups folded detections; `alerts` are the alerts they were folded into. Returns
    /// the notices to raise: an incident opened, or escalated into a higher risk band
    /// (routed, silenced and notified like any alert, one alert per incident and kind).
    pub async fn observe(&self, detections: &[Detection], alerts: &[Alert]) -> Vec<Detection> {
        let by_fingerprint: BTreeMap<&Fingerprint, &Alert> =
            alerts.iter().map(|a| (&a.fingerprint, a)).collect();
        let mut opened = Vec::new();
        let changed = {
            let mut correlator = self.correlator.lock().await;
            let now = Utc::now();
            for d in detections.iter().filter(|d| !d.resolves) {
                let fingerprint = Fingerprint::of_detection(d, &BTreeMap::new());
                let Some(alert) = by_fingerprint.get(&fingerprint) else {
                    continue;
                };
                let outcome = correlator.observe(
                    Signal {
                        detection: d,
                        alert_id: alert.id,
                        alert_title: &alert.title,
                    },
                    now,
                );
                if let Outcome::Opened(id) = outcome {
                    opened.push(id);
                }
            }
            correlator.take_changed()
        };
        self.save(&changed).await;
        if self.raise_notices {
            self.notices(&changed, &opened)
        } else {
            Vec::new()
        }
    }

    /// Notices for incidents just opened or escalated into a higher band.
    fn notices(&self, changed: &[Incident], opened: &[Uuid]) -> Vec<Detection> {
        let mut announced = self.announced.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for incident in changed
            .iter()
            .filter(|i| !matches!(i.status, IncidentStatus::Resolved | IncidentStatus::Closed))
        {
            let now_band = band(incident.risk.score);
            let rule = match announced.get(&incident.id) {
                _ if opened.contains(&incident.id) => "watchpost.incident_opened",
                Some(was) if now_band > *was => "watchpost.incident_escalated",
                None if now_band > 0 => "watchpost.incident_escalated",
                _ => continue,
            };
            if announced.len() >= MAX_ANNOUNCED {
                announced.clear();
            }
            announced.insert(incident.id, now_band);
            out.push(notice(incident, rule));
        }
        out
    }

    /// Applies a person's change; `None` when there is no such incident.
    pub async fn change(
        &self,
        id: Uuid,
        change: Change,
        by: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let mut correlator = self.correlator.lock().await;
        let mut incident = match correlator.get(id) {
            Some(incident) => incident.clone(),
            None => match self.store.get_incident(id).await? {
                Some(incident) => incident,
                None => return Ok(None),
            },
        };
        let now = Utc::now();
        let mut lines = Vec::new();
        if let Some(status) = change.status
            && status != incident.status
        {
            lines.push(format!(
                "status {} → {}",
                incident.status.as_str(),
                status.as_str()
            ));
            incident.status = status;
        }
        if let Some(assignee) = change.assignee {
            let assignee = (!assignee.trim().is_empty()).then(|| assignee.trim().to_string());
            if assignee != incident.assignee {
                lines.push(match &assignee {
                    Some(a) => format!("assigned to {a}"),
                    None => "unassigned".to_string(),
                });
                incident.assignee = assignee;
            }
        }
        if let Some(title) = change.title
            && title.trim() != incident.title
        {
            lines.push(format!("title set to \"{}\"", title.trim()));
            incident.title = title.trim().to_string();
        }
        if let Some(note) = change.note {
            lines.push(format!("note: {}", note.trim()));
        }
        for what in lines {
            if incident.timeline.len() < correlator.settings().max_timeline {
                incident.timeline.push(TimelineEntry {
                    at: now,
                    by: by.to_string(),
                    what,
                });
            }
        }
        incident.updated_at = now;
        self.store.upsert_incident(&incident).await?;
        correlator.update(incident.clone());
        drop(correlator);
        self.hub.publish("incidents", &incident);
        Ok(Some(incident))
    }

    /// Opens an incident by hand from alerts (at least one).
    pub async fn open_by_hand(
        &self,
        title: &str,
        alerts: &[Alert],
        by: &str,
    ) -> Result<Result<Incident, EditError>, StoreError> {
        let mut correlator = self.correlator.lock().await;
        let settings = correlator.settings().clone();
        let severity = alerts
            .iter()
            .map(|a| a.severity)
            .max()
            .unwrap_or(Severity::Medium);
        let mut incident = Incident::new(title, severity);
        let now = Utc::now();
        incident.timeline.push(TimelineEntry {
            at: now,
            by: by.to_string(),
            what: "opened by hand".into(),
        });
        for alert in alerts {
            if let Err(e) = edit::link(&mut incident, alert, &settings, by, now) {
                return Ok(Err(e));
            }
        }
        self.put(&mut correlator, vec![incident.clone()]).await?;
        Ok(Ok(incident))
    }

    /// Links an alert to an incident by hand; `None` when there is no such incident.
    pub async fn link(
        &self,
        id: Uuid,
        alert: &Alert,
        by: &str,
    ) -> Result<Option<Result<Incident, EditError>>, StoreError> {
        self.edit_one(id, |incident, settings| {
            edit::link(incident, alert, settings, by, Utc::now())
        })
        .await
    }

    /// Takes an alert out of an incident by hand.
    pub async fn unlink(
        &self,
        id: Uuid,
        alert_id: Uuid,
        by: &str,
    ) -> Result<Option<Result<Incident, EditError>>, StoreError> {
        self.edit_one(id, |incident, settings| {
            edit::unlink(incident, alert_id, settings, by, Utc::now())
        })
        .await
    }

    /// Applies `edit` to one incident and stores it when it succeeds; `None` when there is
    /// no such incident.
    async fn edit_one(
        &self,
        id: Uuid,
        edit: impl FnOnce(&mut Incident, &Settings) -> Result<(), EditError>,
    ) -> Result<Option<Result<Incident, EditError>>, StoreError> {
        let mut correlator = self.correlator.lock().await;
        let Some(mut incident) = self.load(&correlator, id).await? else {
            return Ok(None);
        };
        let settings = correlator.settings().clone();
        if let Err(e) = edit(&mut incident, &settings) {
            return Ok(Some(Err(e)));
        }
        self.put(&mut correlator, vec![incident.clone()]).await?;
        Ok(Some(Ok(incident)))
    }

    /// Merges `other` into `into` by hand; `None` when either does not exist.
    pub async fn merge(
        &self,
        into: Uuid,
        other: Uuid,
        by: &str,
    ) -> Result<Option<Result<Incident, EditError>>, StoreError> {
        let mut correlator = self.correlator.lock().await;
        let (Some(mut target), Some(mut absorbed)) = (
            self.load(&correlator, into).await?,
            self.load(&correlator, other).await?,
        ) else {
            return Ok(None);
        };
        if let Err(e) = edit::may_merge(&target, &absorbed) {
            return Ok(Some(Err(e)));
        }
        let settings = correlator.settings().clone();
        edit::absorb(&mut target, &mut absorbed, &settings, by, "", Utc::now());
        self.put(&mut correlator, vec![absorbed, target.clone()])
            .await?;
        Ok(Some(Ok(target)))
    }

    /// An incident from the index, else from the store.
    async fn load(
        &self,
        correlator: &Correlator,
        id: Uuid,
    ) -> Result<Option<Incident>, StoreError> {
        match correlator.get(id) {
            Some(incident) => Ok(Some(incident.clone())),
            None => self.store.get_incident(id).await,
        }
    }

    /// Stores changed incidents, refreshes the index with them, announces them and hands
    /// them to the playbooks.
    async fn put(
        &self,
        correlator: &mut Correlator,
        incidents: Vec<Incident>,
    ) -> Result<(), StoreError> {
        for incident in &incidents {
            self.store.upsert_incident(incident).await?;
        }
        for incident in incidents {
            self.hub.publish("incidents", &incident);
            if let Some(responder) = &self.responder {
                responder.offer(std::slice::from_ref(&incident));
            }
            correlator.track_by_hand(incident);
        }
        Ok(())
    }

    /// Drops incidents quiet past the window from the index.
    pub async fn expire(&self, now: DateTime<Utc>) {
        self.correlator.lock().await.expire(now);
    }

    /// Incidents indexed in memory now.
    pub async fn tracked(&self) -> usize {
        self.correlator.lock().await.tracked()
    }

    async fn save(&self, incidents: &[Incident]) {
        // (stored one by one: an incident that fails stays in memory and is written with
        // its next change)
        for incident in incidents {
            match self.store.upsert_incident(incident).await {
                Ok(()) => {
                    self.hub.publish("incidents", incident);
                    if let Some(responder) = &self.responder {
                        responder.offer(std::slice::from_ref(incident));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, incident = %incident.id, "an incident could not be stored")
                }
            }
        }
    }
}

/// The notice that an incident opened or escalated: severity from its risk band (or its
/// own, when higher), its id as the entity, its story in the summary and evidence.
fn notice(incident: &Incident, rule: &str) -> Detection {
    let band_severity = match band(incident.risk.score) {
        2 => Severity::Critical,
        1 => Severity::High,
        _ => Severity::Medium,
    };
    let verb = if rule.ends_with("opened") {
        "opened"
    } else {
        "escalated"
    };
    let title = format!("Incident {verb}");
    let mut d = Detection::new(
        rule,
        &title,
        incident.severity.max(band_severity),
        NOTICE_DETECTOR,
    );
    d.category = Some("incident".into());
    d.entity = Some(Entity::Incident { id: incident.id });
    d.summary = format!(
        "{title}: {} (risk {}) — {}",
        incident.title, incident.risk.score, incident.summary
    );
    d.evidence = serde_json::json!({
        "incident_id": incident.id,
        "title": incident.title,
        "risk": incident.risk,
        "entities": incident.entities,
        "alerts": incident.alert_ids.len(),
    });
    d
}
