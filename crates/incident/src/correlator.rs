//! Groups alerts into incidents as they arrive.
//!
//! Every detection comes with the alert it was folded into. Its entity keys
//! ([`Keys`](crate::keys::Keys)) are looked up in an index of the incidents active within
//! the window: none, and an alert of at least `open_at` severity opens an incident (a
//! lesser one is left alone); one, and the alert joins it; several, and they are merged
//! into the oldest, because the alert shows they are one attack. The index is kept in
//! memory and bounded: incidents quiet for longer than the window, resolved or closed
//! leave it (they stay stored), and past `max_tracked` the quietest leave first. After a
//! restart [`Correlator::restore`] rebuilds it from the stored incidents.

use crate::keys::Keys;
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use watchpost_core::attack::TACTICS;
use watchpost_core::{ChainStep, Detection, Incident, IncidentStatus, Severity, TimelineEntry};

/// How incidents are formed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Alerts further apart than this (from the incident's last activity) are not grouped.
    pub window: Duration,
    /// The least severity that opens an incident; lesser alerts only join one.
    pub open_at: Severity,
    /// Incidents indexed in memory at most.
    pub max_tracked: usize,
    /// Chain steps, alerts, entities and timeline lines kept per incident at most.
    pub max_steps: usize,
    pub max_alerts: usize,
    pub max_entities: usize,
    pub max_timeline: usize,
    /// Hosts whose compromise matters most (a term of the risk score).
    pub critical_hosts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: Duration::hours(1),
            open_at: Severity::Medium,
            max_tracked: 100_000,
            max_steps: 500,
            max_alerts: 10_000,
            max_entities: 200,
            max_timeline: 1_000,
            critical_hosts: Vec::new(),
        }
    }
}

/// A detection and the alert it was folded into.
#[derive(Debug, Clone, Copy)]
pub struct Signal<'a> {
    pub detection: &'a Detection,
    pub alert_id: Uuid,
    pub alert_title: &'a str,
}

/// What one signal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Below `open_at` and tied to no incident.
    Ignored,
    Opened(Uuid),
    /// Joined through the entity key named.
    Joined {
        incident: Uuid,
        by: String,
    },
    /// Tied several incidents together: they were merged into `into`.
    Merged {
        into: Uuid,
        absorbed: Vec<Uuid>,
    },
}

/// The entity index and the incidents it points at.
#[derive(Debug, Default)]
pub struct Correlator {
    settings: Settings,
    incidents: HashMap<Uuid, Incident>,
    /// Strong keys and the hosts of host alerts → the incident that last named them.
    index: HashMap<String, Uuid>,
    /// Sites (hosts of web alerts) → the incident that last attacked them.
    sites: HashMap<String, Uuid>,
    alerts: HashMap<Uuid, Uuid>,
    changed: HashSet<Uuid>,
    /// Incidents merged away since the last [`Correlator::take_changed`]: stored as closed.
    absorbed: Vec<Incident>,
}

const BY: &str = "watchpost";
/// The detector of the notices about incidents themselves, which the correlator never
/// groups (they would tie every incident to itself).
pub const NOTICE_DETECTOR: &str = "incident";

impl Correlator {
    pub fn new(settings: Settings) -> Correlator {
        Correlator {
            settings,
            ..Correlator::default()
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Incidents indexed now.
    pub fn tracked(&self) -> usize {
        self.incidents.len()
    }

    pub fn get(&self, id: Uuid) -> Option<&Incident> {
        self.incidents.get(&id)
    }

    /// Indexes stored incidents again (after a restart): those still open and active
    /// within the window of `now`.
    pub fn restore(&mut self, incidents: Vec<Incident>, now: DateTime<Utc>) {
        for incident in incidents {
            if self.live(&incident, now) {
                self.track(incident);
            }
        }
        self.evict_over_bound();
    }

    /// Groups one signal (see the module doc).
    pub fn observe(&mut self, signal: Signal<'_>, now: DateTime<Utc>) -> Outcome {
        let d = signal.detection;
        if d.detector == NOTICE_DETECTOR {
            return Outcome::Ignored;
        }
        let at = d.timestamp.min(now);
        if let Some(&id) = self.alerts.get(&signal.alert_id)
            && self.incidents.contains_key(&id)
        {
            let keys = Keys::of(d);
            self.add(id, signal, &keys, None, at);
            return Outcome::Joined {
                incident: id,
                by: format!("alert:{}", signal.alert_id),
            };
        }
        let keys = Keys::of(d);
        let mut found: Vec<(Uuid, String)> = Vec::new();
        let consider = |id: Option<&Uuid>, key: &str, found: &mut Vec<(Uuid, String)>| {
            if let Some(id) = id
                && !found.iter().any(|(f, _)| f == id)
            {
                found.push((*id, key.to_string()));
            }
        };
        for key in &keys.strong {
            consider(self.index.get(key), key, &mut found);
            if !keys.web && key.starts_with("host:") {
                consider(self.sites.get(key), key, &mut found);
            }
        }
        found.retain(|(id, _)| self.incidents.get(id).is_some_and(|i| self.live_at(i, at)));
        match found.len() {
            0 => {
                if d.severity < self.settings.open_at {
                    return Outcome::Ignored;
                }
                let id = self.open(signal, at);
                self.add(id, signal, &keys, None, at);
                self.evict_over_bound();
                Outcome::Opened(id)
            }
            1 => {
                let (id, by) = found.remove(0);
                self.add(id, signal, &keys, Some(by.clone()), at);
                Outcome::Joined { incident: id, by }
            }
            _ => {
                found.sort_by_key(|(id, _)| self.incidents[id].created_at);
                let (into, by) = found[0].clone();
                let absorbed: Vec<Uuid> = found[1..].iter().map(|(id, _)| *id).collect();
                for (other, key) in &found[1..] {
                    self.merge(into, *other, key, at);
                }
                self.add(into, signal, &keys, Some(by), at);
                Outcome::Merged { into, absorbed }
            }
        }
    }

    /// Applies a person's change to an indexed incident; a resolved or closed one leaves
    /// the index (a new alert opens a new incident).
    pub fn update(&mut self, incident: Incident) {
        let id = incident.id;
        if matches!(
            incident.status,
            IncidentStatus::Resolved | IncidentStatus::Closed
        ) {
            self.forget(id);
            return;
        }
        if self.incidents.contains_key(&id) {
            self.forget(id);
            self.track(incident);
        }
    }

    /// Indexes an incident changed or opened by hand (linked, unlinked, merged): an open
    /// one is (re)indexed with its alerts and keys, a closed one leaves the index.
    pub fn track_by_hand(&mut self, incident: Incident) {
        let id = incident.id;
        self.forget(id);
        if !matches!(
            incident.status,
            IncidentStatus::Resolved | IncidentStatus::Closed
        ) {
            self.track(incident);
            self.evict_over_bound();
        }
    }

    /// Drops incidents quiet for longer than the window from the index.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        let stale: Vec<Uuid> = self
            .incidents
            .values()
            .filter(|i| !self.live(i, now))
            .map(|i| i.id)
            .collect();
        for id in stale {
            self.forget(id);
        }
    }

    /// Incidents changed since the last call (to be stored and published), merged-away
    /// ones included, closed.
    pub fn take_changed(&mut self) -> Vec<Incident> {
        let mut out: Vec<Incident> = std::mem::take(&mut self.absorbed);
        for id in std::mem::take(&mut self.changed) {
            if let Some(incident) = self.incidents.get(&id) {
                out.push(incident.clone());
            }
        }
        out
    }

    fn live(&self, incident: &Incident, now: DateTime<Utc>) -> bool {
        self.live_at(incident, now)
    }

    fn live_at(&self, incident: &Incident, at: DateTime<Utc>) -> bool {
        !matches!(
            incident.status,
            IncidentStatus::Resolved | IncidentStatus::Closed
        ) && at - incident.last_activity.unwrap_or(incident.updated_at) <= self.settings.window
    }

    fn open(&mut self, signal: Signal<'_>, at: DateTime<Utc>) -> Uuid {
        let d = signal.detection;
        let about = match &d.entity {
            Some(entity) => format!(" ({entity})"),
            None => d
                .host
                .as_ref()
                .map(|h| format!(" on {h}"))
                .unwrap_or_default(),
        };
        let mut incident = Incident::new(&format!("{}{about}", signal.alert_title), d.severity);
        incident.created_at = at;
        incident.timeline.push(TimelineEntry {
            at,
            by: BY.into(),
            what: format!("opened by alert {} ({})", signal.alert_id, d.rule_id),
        });
        let id = incident.id;
        self.track(incident);
        id
    }

    /// Adds a signal to an incident: its step, its keys, the score.
    fn add(
        &mut self,
        id: Uuid,
        signal: Signal<'_>,
        keys: &Keys,
        joined_by: Option<String>,
        at: DateTime<Utc>,
    ) {
        let settings = self.settings.clone();
        let Some(incident) = self.incidents.get_mut(&id) else {
            return;
        };
        let d = signal.detection;
        let tactic = furthest_tactic(&d.attack.tactics);
        let existing = incident
            .chain
            .iter()
            .position(|s| s.alert_id == signal.alert_id);
        match existing {
            Some(i) => {
                let step = &mut incident.chain[i];
                step.count += 1;
                step.last_seen = step.last_seen.max(at);
                step.first_seen = step.first_seen.min(at);
                if step.severity < d.severity {
                    step.severity = d.severity;
                }
                if let Some(t) = tactic
                    && step
                        .tactic
                        .as_deref()
                        .is_none_or(|old| position(old) < position(&t))
                {
                    step.tactic = Some(t);
                }
            }
            None if incident.chain.len() < settings.max_steps => {
                if let Some(by) = &joined_by {
                    push_timeline(
                        incident,
                        &settings,
                        TimelineEntry {
                            at,
                            by: BY.into(),
                            what: format!(
                                "alert {} ({}) joined through {by}",
                                signal.alert_id, d.rule_id
                            ),
                        },
                    );
                }
                incident.chain.push(ChainStep {
                    first_seen: at,
                    last_seen: at,
                    alert_id: signal.alert_id,
                    rule_id: d.rule_id.clone(),
                    title: signal.alert_title.to_string(),
                    severity: d.severity,
                    detector: d.detector.clone(),
                    tactic,
                    techniques: d.attack.techniques.clone(),
                    entities: keys.strong.clone(),
                    joined_by,
                    count: 1,
                });
                incident.chain.sort_by_key(|s| s.first_seen);
            }
            None => {}
        }
        if !incident.alert_ids.contains(&signal.alert_id)
            && incident.alert_ids.len() < settings.max_alerts
        {
            incident.alert_ids.push(signal.alert_id);
        }
        for key in &keys.strong {
            if !incident.entities.contains(key) && incident.entities.len() < settings.max_entities {
                incident.entities.push(key.clone());
            }
        }
        for key in &keys.weak {
            if !incident.sites.contains(key) && incident.sites.len() < settings.max_entities {
                incident.sites.push(key.clone());
            }
        }
        for subject in crate::keys::subjects(d) {
            if !incident.subjects.contains(&subject)
                && incident.subjects.len() < settings.max_entities
            {
                incident.subjects.push(subject);
            }
        }
        if incident.severity < d.severity {
            incident.severity = d.severity;
        }
        incident.last_activity = Some(incident.last_activity.map_or(at, |t| t.max(at)));
        incident.updated_at = Utc::now();
        incident.risk = crate::risk::score(
            incident,
            crate::risk::Context {
                critical_hosts: &settings.critical_hosts,
                known_bad: &[],
            },
        );
        incident.summary = summary(incident);
        for key in &keys.strong {
            self.index.insert(key.clone(), id);
        }
        for key in &keys.weak {
            self.sites.insert(key.clone(), id);
        }
        self.alerts.insert(signal.alert_id, id);
        self.changed.insert(id);
    }

    /// Moves `other` into `into`: steps, alerts, entities; `other` is closed as merged.
    fn merge(&mut self, into: Uuid, other: Uuid, key: &str, at: DateTime<Utc>) {
        let settings = self.settings.clone();
        let Some(mut absorbed) = self.incidents.remove(&other) else {
            return;
        };
        self.changed.remove(&other);
        let Some(target) = self.incidents.get_mut(&into) else {
            return;
        };
        crate::edit::absorb(
            target,
            &mut absorbed,
            &settings,
            BY,
            &format!(": both name {key}"),
            at,
        );
        for map in [&mut self.index, &mut self.sites] {
            for v in map.values_mut() {
                if *v == other {
                    *v = into;
                }
            }
        }
        for v in self.alerts.values_mut() {
            if *v == other {
                *v = into;
            }
        }
        self.absorbed.push(absorbed);
        self.changed.insert(into);
    }

    fn track(&mut self, incident: Incident) {
        let id = incident.id;
        for key in &incident.entities {
            self.index.insert(key.clone(), id);
        }
        for key in &incident.sites {
            self.sites.insert(key.clone(), id);
        }
        for alert in &incident.alert_ids {
            self.alerts.insert(*alert, id);
        }
        self.incidents.insert(id, incident);
    }

    fn forget(&mut self, id: Uuid) {
        if let Some(incident) = self.incidents.remove(&id) {
            for key in &incident.entities {
                if self.index.get(key) == Some(&id) {
                    self.index.remove(key);
                }
            }
            for key in &incident.sites {
                if self.sites.get(key) == Some(&id) {
                    self.sites.remove(key);
                }
            }
            for alert in &incident.alert_ids {
                if self.alerts.get(alert) == Some(&id) {
                    self.alerts.remove(alert);
                }
            }
        }
    }

    fn evict_over_bound(&mut self) {
        while self.incidents.len() > self.settings.max_tracked {
            let quietest = self
                .incidents
                .values()
                .min_by_key(|i| i.last_activity.unwrap_or(i.updated_at))
                .map(|i| i.id);
            match quietest {
                Some(id) => self.forget(id),
                None => break,
            }
        }
    }
}

fn push_timeline(incident: &mut Incident, settings: &Settings, entry: TimelineEntry) {
    if incident.timeline.len() < settings.max_timeline {
        incident.timeline.push(entry);
    }
}

fn position(tactic_id: &str) -> Option<usize> {
    TACTICS.iter().position(|t| t.id == tactic_id)
}

/// The tactic furthest along the kill chain among `tactics` (ids or names).
pub(crate) fn furthest_tactic(tactics: &[String]) -> Option<String> {
    tactics
        .iter()
        .filter_map(|t| watchpost_core::Tactic::lookup(t))
        .max_by_key(|t| position(t.id))
        .map(|t| t.id.to_string())
}

/// One line: how many alerts, which tactics in kill-chain order, which entities.
fn summary(incident: &Incident) -> String {
    let mut tactics: Vec<usize> = incident
        .chain
        .iter()
        .filter_map(|s| s.tactic.as_deref().and_then(position))
        .collect();
    tactics.sort_unstable();
    tactics.dedup();
    let path = tactics
        .iter()
        .map(|i| TACTICS[*i].title)
        .collect::<Vec<_>>()
        .join(" → ");
    format!(
        "{} alert(s) from {} detector(s){}; {} entities",
        incident.alert_ids.len(),
        incident
            .chain
            .iter()
            .map(|s| s.detector.as_str())
            .collect::<HashSet<_>>()
            .len(),
        if path.is_empty() {
            String::new()
        } else {
            format!(": {path}")
        },
        incident.entities.len()
    )
}
