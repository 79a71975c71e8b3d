//! The alert pipeline: routing → grouping → inhibition → mute intervals → silences →
//! cooldown and rate limits → notifications, plus escalation, acknowledgement and resolve
//! notices, and silence reminders.
//!
//! The pipeline is a state machine with no clock and no I/O of its own: the caller hands it
//! alerts as they change ([`Pipeline::observe`]) and the current time ([`Pipeline::tick`]),
//! and gets back the notifications to deliver, the trace of every decision, and the alerts
//! that resolved by timeout. That is what lets tests drive it with a hand-set clock, and
//! lets the server write every notification to its outbox before anything is sent.

use crate::matcher::LabelSet;
use crate::policy::{Policy, alert_labels};
use crate::route::{GroupBy, Route};
use crate::silence::ActiveSilence;
use crate::trace::{Stage, TraceEntry, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use uuid::Uuid;
use watchpost_core::{Alert, AlertStatus, Fingerprint};

/// Most open alerts the pipeline tracks; past it, new alerts are traced as not routed (they
/// stay in the store and the API).
pub const MAX_TRACKED_ALERTS: usize = 100_000;
/// Most alerts one digest lists by name; the rest are counted.
pub const MAX_DIGEST_ITEMS: usize = 200;
/// Most alerts one notification carries; the rest are counted in `truncated`.
pub const MAX_ALERTS_PER_NOTIFICATION: usize = 500;

const HOUR: chrono::Duration = chrono::Duration::hours(1);

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum NotificationKind {
    /// A group's notice: at least one alert fires (resolved ones may ride along).
    Firing,
    /// A group's notice in which every alert listed has resolved.
    Resolved,
    /// Someone acknowledged an alert this receiver was told about.
    Acknowledged,
    /// An alert stayed unacknowledged; `level` counts from 1.
    Escalation { policy: String, level: usize },
    /// Alerts a rate limit held back, summarised.
    Digest { held_back: u64 },
    /// A silence is about to end.
    SilenceExpiring { silence_id: Uuid },
}

impl NotificationKind {
    pub fn name(&self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Acknowledged => "acknowledged",
            NotificationKind::Escalation { .. } => "escalation",
            NotificationKind::Digest { .. } => "digest",
            NotificationKind::SilenceExpiring { .. } => "silence_expiring",
        }
    }
}

/// One message for one receiver. Its `id` is the idempotency key a receiver dedups on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub receiver: String,
    /// The route id (`root.1`) or `escalation:NAME` / `digest` / `silence`.
    pub route: String,
    /// Stable per group and receiver: threads emails, keys PagerDuty incidents.
    pub group_key: String,
    pub group_labels: LabelSet,
    pub alerts: Vec<Alert>,
    /// Alerts left out of `alerts` by the size bound.
    #[serde(default)]
    pub truncated: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<crate::silence::Silence>,
    #[serde(with = "watchpost_core::time::flexible")]
    pub created_at: DateTime<Utc>,
}

/// What one [`Pipeline::tick`] produced.
#[derive(Debug, Default)]
pub struct Output {
    pub notifications: Vec<Notification>,
    pub trace: Vec<TraceEntry>,
    /// Alerts the pipeline resolved because no detection renewed them within
    /// `resolve_timeout`; the caller stores them.
    pub resolved: Vec<Alert>,
}

struct Tracked {
    alert: Alert,
    labels: LabelSet,
    /// When the pipeline last heard of it (a detection folded in): the resolve timeout
    /// counts from here, not from the detection's own time, so old logs ingested today
    /// still page.
    renewed: DateTime<Utc>,
    /// Receivers told that this alert fires, so they also hear of its acknowledgement and
    /// resolution.
    told: BTreeSet<String>,
    escalation: Option<Escalating>,
}

struct Escalating {
    policy: String,
    /// The next step to run.
    step: usize,
    due: DateTime<Utc>,
}

struct Group {
    route_id: String,
    receiver: String,
    labels: LabelSet,
    members: BTreeSet<Fingerprint>,
    next_flush: DateTime<Utc>,
    /// Firing alerts the last notice listed.
    notified: BTreeSet<Fingerprint>,
    last_notice: Option<DateTime<Utc>>,
}

/// A sliding one-hour window of alerts sent.
#[derive(Default)]
struct Budget {
    sent: VecDeque<DateTime<Utc>>,
}

impl Budget {
    fn room(&mut self, limit: u32, now: DateTime<Utc>) -> u32 {
        while self.sent.front().is_some_and(|t| *t + HOUR <= now) {
            self.sent.pop_front();
        }
        limit.saturating_sub(u32::try_from(self.sent.len()).unwrap_or(u32::MAX))
    }
}

/// Alerts a receiver's budget held back, to be summarised.
struct HeldBack {
    since: DateTime<Utc>,
    count: u64,
    alerts: Vec<Alert>,
}

/// The pipeline's state. See the module doc.
pub struct Pipeline {
    policy: Arc<Policy>,
    alerts: HashMap<Fingerprint, Tracked>,
    groups: BTreeMap<String, Group>,
    /// Each group's next look, in time order, so finding the due groups does not scan them
    /// all: the pipeline is stepped after every batch of detections.
    due: BTreeSet<(DateTime<Utc>, String)>,
    silences: Vec<ActiveSilence>,
    reminded: HashSet<Uuid>,
    cooldown: HashMap<(String, Fingerprint), DateTime<Utc>>,
    budgets: HashMap<String, Budget>,
    held: BTreeMap<String, HeldBack>,
    /// Notices and trace made between ticks (acknowledgements, resolutions).
    pending: Output,
}

impl Pipeline {
    pub fn new(policy: Arc<Policy>) -> Pipeline {
        Pipeline {
            policy,
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            due: BTreeSet::new(),
            silences: Vec::new(),
            reminded: HashSet::new(),
            cooldown: HashMap::new(),
            budgets: HashMap::new(),
            held: BTreeMap::new(),
            pending: Output::default(),
        }
    }

    /// Swaps in a new policy (a configuration reload). Groups keep their alerts and are
    /// routed again at their next change.
    pub fn set_policy(&mut self, policy: Arc<Policy>) {
        self.policy = policy;
    }

    /// Replaces the silences the pipeline applies.
    pub fn set_silences(&mut self, silences: Vec<ActiveSilence>) {
        let ids: HashSet<Uuid> = silences.iter().map(|s| s.silence.id).collect();
        self.reminded.retain(|id| ids.contains(id));
        self.silences = silences;
    }

    /// How many open alerts the pipeline tracks.
    pub fn tracked(&self) -> usize {
        self.alerts.len()
    }

    /// Takes an alert that was created or changed: a new or repeated detection, an
    /// acknowledgement, a resolution, a reopening.
    pub fn observe(&mut self, alert: &Alert, now: DateTime<Utc>) {
        let fp = alert.fingerprint.clone();
        let previous = self.alerts.get(&fp).map(|t| t.alert.status);
        match alert.status {
            AlertStatus::Resolved => {
                if previous.is_some() && previous != Some(AlertStatus::Resolved) {
                    self.mark_resolved(alert, now, "resolved");
                }
            }
            AlertStatus::Acknowledged => {
                if let Some(t) = self.alerts.get_mut(&fp) {
                    t.alert = alert.clone();
                    t.labels = alert_labels(alert);
                    if previous != Some(AlertStatus::Acknowledged) {
                        t.escalation = None;
                        let receivers: Vec<String> = t.told.iter().cloned().collect();
                        let alert = t.alert.clone();
                        self.announce_status(
                            &alert,
                            NotificationKind::Acknowledged,
                            receivers,
                            "acknowledged: escalation stops, repeats stop",
                            now,
                        );
                    }
                } else {
                    self.admit(alert, now);
                }
            }
            AlertStatus::Firing => {
                if let Some(t) = self.alerts.get_mut(&fp)
                    && previous != Some(AlertStatus::Resolved)
                {
                    // A repeat: it is already grouped; refresh what notices will show.
                    t.renewed = now;
                    t.alert = alert.clone();
                    t.labels = alert_labels(alert);
                    return;
                }
                self.admit(alert, now);
            }
        }
    }

    /// Takes back an open alert after a restart. `told` says whether a notice about it
    /// was already made (it is in the outbox): then its groups count it as told, and only
    /// its changes and repeats are sent; otherwise it is news, as if just observed.
    pub fn restore(&mut self, alert: &Alert, told: bool, now: DateTime<Utc>) {
        self.admit(alert, now);
        if !told {
            return;
        }
        for g in self.groups.values_mut() {
            if g.members.contains(&alert.fingerprint) {
                g.notified.insert(alert.fingerprint.clone());
                g.last_notice.get_or_insert(now);
                if let Some(t) = self.alerts.get_mut(&alert.fingerprint) {
                    t.told.insert(g.receiver.clone());
                }
            }
        }
    }

    /// Routes a new (or reopened) alert into its groups.
    fn admit(&mut self, alert: &Alert, now: DateTime<Utc>) {
        if self.alerts.len() >= MAX_TRACKED_ALERTS && !self.alerts.contains_key(&alert.fingerprint)
        {
            self.trace(
                alert,
                now,
                Stage::Route,
                Verdict::Suppressed,
                None,
                None,
                format!("not routed: the pipeline already tracks {MAX_TRACKED_ALERTS} open alerts"),
            );
            return;
        }
        let labels = alert_labels(alert);
        let policy = Arc::clone(&self.policy);
        let routes = policy.root.matching(&labels);
        let mut entries = Vec::new();
        for route in routes {
            let (key, group_labels) = group_key(route, &labels, &alert.fingerprint);
            let is_new = !self.groups.contains_key(&key);
            let group = self.groups.entry(key.clone()).or_insert_with(|| Group {
                route_id: route.id.clone(),
                receiver: route.receiver.clone(),
                labels: group_labels,
                members: BTreeSet::new(),
                next_flush: now + chrono::Duration::from_std(route.group_wait).unwrap_or_default(),
                notified: BTreeSet::new(),
                last_notice: None,
            });
            group.members.insert(alert.fingerprint.clone());
            if is_new {
                self.due.insert((group.next_flush, key.clone()));
            }
            entries.push((
                route.id.clone(),
                route.receiver.clone(),
                key,
                is_new,
                group.next_flush,
            ));
        }
        self.alerts.insert(
            alert.fingerprint.clone(),
            Tracked {
                alert: alert.clone(),
                labels,
                renewed: now,
                told: BTreeSet::new(),
                escalation: None,
            },
        );
        for (route_id, receiver, key, is_new, next) in entries {
            self.trace(
                alert,
                now,
                Stage::Route,
                Verdict::Passed,
                Some(&route_id),
                Some(&receiver),
                format!("route {route_id} takes it, receiver `{receiver}`"),
            );
            self.trace(
                alert,
                now,
                Stage::Group,
                Verdict::Passed,
                Some(&route_id),
                Some(&receiver),
                format!(
                    "{} group {key}; next notice at {}",
                    if is_new { "opened" } else { "joined" },
                    next.to_rfc3339()
                ),
            );
        }
    }

    /// Ends an alert: groups send a resolved notice to receivers that heard it fire, and
    /// escalation receivers are told at once.
    fn mark_resolved(&mut self, alert: &Alert, now: DateTime<Utc>, why: &str) {
        let Some(t) = self.alerts.get_mut(&alert.fingerprint) else {
            return;
        };
        t.alert = alert.clone();
        t.labels = alert_labels(alert);
        t.escalation = None;
        let escalated: Vec<String> = t
            .told
            .iter()
            .filter(|r| {
                !self
                    .groups
                    .values()
                    .any(|g| &g.receiver == *r && g.members.contains(&alert.fingerprint))
            })
            .cloned()
            .collect();
        let alert = t.alert.clone();
        self.announce_status(&alert, NotificationKind::Resolved, escalated, why, now);
        // Groups pick the resolution up at their next flush; the alert is forgotten once
        // no group holds it.
        self.forget_if_ungrouped(&alert.fingerprint);
    }

    fn forget_if_ungrouped(&mut self, fp: &Fingerprint) {
        let grouped = self.groups.values().any(|g| g.members.contains(fp));
        if !grouped
            && self
                .alerts
                .get(fp)
                .is_some_and(|t| t.alert.status == AlertStatus::Resolved)
        {
            self.alerts.remove(fp);
        }
    }

    /// Advances the pipeline to `now`: resolve timeouts, due groups, escalations, digests,
    /// silence reminders. Call it about once a second; it looks at every tracked alert.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Output {
        self.resolve_timed_out(now);
        self.flush_due_groups(now);
        self.escalate(now);
        self.send_digests(now);
        self.remind_silences(now);
        self.cooldown.retain(|_, until| *until > now);
        std::mem::take(&mut self.pending)
    }

    /// Notifies only the groups due at `now` (and returns what earlier calls made): cheap
    /// enough to call after every batch of new alerts, so that `group_wait = 0` means now.
    pub fn flush_due(&mut self, now: DateTime<Utc>) -> Output {
        self.flush_due_groups(now);
        std::mem::take(&mut self.pending)
    }

    fn flush_due_groups(&mut self, now: DateTime<Utc>) {
        let due: Vec<String> = self
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, key)| key.clone())
            .collect();
        for key in due {
            self.flush(&key, now);
        }
    }

    /// Sets when a group is looked at next.
    fn schedule(&mut self, key: &str, at: DateTime<Utc>) {
        if let Some(g) = self.groups.get_mut(key) {
            self.due.remove(&(g.next_flush, key.to_string()));
            g.next_flush = at;
            self.due.insert((at, key.to_string()));
        }
    }

    /// Drops a group and its place in the schedule.
    fn remove_group(&mut self, key: &str) -> Option<Group> {
        let g = self.groups.remove(key)?;
        self.due.remove(&(g.next_flush, key.to_string()));
        Some(g)
    }

    fn resolve_timed_out(&mut self, now: DateTime<Utc>) {
        let Some(timeout) = self.policy.resolve_timeout else {
            return;
        };
        let timeout = chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
        let expired: Vec<Alert> = self
            .alerts
            .values()
            .filter(|t| t.alert.status != AlertStatus::Resolved && t.renewed + timeout <= now)
            .map(|t| t.alert.clone())
            .collect();
        for mut alert in expired {
            alert.change_status(
                AlertStatus::Resolved,
                "resolve_timeout",
                Some(format!("no detection for {} s", timeout.num_seconds())),
                now,
            );
            self.pending.resolved.push(alert.clone());
            self.mark_resolved(
                &alert,
                now,
                &format!(
                    "resolved by timeout: no detection for {} s",
                    timeout.num_seconds()
                ),
            );
        }
    }

    fn flush(&mut self, key: &str, now: DateTime<Utc>) {
        let policy = Arc::clone(&self.policy);
        let Some(group) = self.groups.get(key) else {
            return;
        };
        let Some(route) = policy
            .root
            .walk()
            .into_iter()
            .find(|r| r.id == group.route_id)
        else {
            // The route is gone after a reload: its alerts are routed again.
            let members: Vec<Fingerprint> = group.members.iter().cloned().collect();
            self.remove_group(key);
            for fp in members {
                if let Some(t) = self.alerts.remove(&fp)
                    && t.alert.status != AlertStatus::Resolved
                {
                    self.admit(&t.alert, now);
                }
            }
            return;
        };
        let receiver = group.receiver.clone();
        let route_id = group.route_id.clone();
        let members: Vec<Fingerprint> = group.members.iter().cloned().collect();
        let previously_notified = group.notified.clone();
        let last_notice = group.last_notice;
        let next = now + chrono::Duration::from_std(route.group_interval).unwrap_or_default();

        let mut firing = Vec::new();
        let mut resolved = Vec::new();
        let mut silently_resolved = Vec::new();
        for fp in &members {
            let Some(t) = self.alerts.get(fp) else {
                continue;
            };
            if t.alert.status == AlertStatus::Resolved {
                if previously_notified.contains(fp) {
                    resolved.push(fp.clone());
                } else {
                    silently_resolved.push(fp.clone());
                }
            } else {
                firing.push(fp.clone());
            }
        }

        // Mute and active time intervals hold back the whole group.
        let muted_by = route
            .mute_time_intervals
            .iter()
            .find(|n| policy.intervals.get(*n).is_some_and(|i| i.contains(now)))
            .map(|n| format!("inside mute interval `{n}`"))
            .or_else(|| {
                (!route.active_time_intervals.is_empty()
                    && !route
                        .active_time_intervals
                        .iter()
                        .any(|n| policy.intervals.get(n).is_some_and(|i| i.contains(now))))
                .then(|| format!("outside active intervals {:?}", route.active_time_intervals))
            });
        if let Some(reason) = muted_by {
            for fp in firing.iter().chain(&resolved) {
                let alert = self.alerts[fp].alert.clone();
                self.trace(
                    &alert,
                    now,
                    Stage::Mute,
                    Verdict::Suppressed,
                    Some(&route_id),
                    Some(&receiver),
                    format!("{reason}; looked at again at {}", next.to_rfc3339()),
                );
            }
            self.schedule(key, next);
            return;
        }

        // Inhibition and silences, alert by alert.
        let mut kept = Vec::new();
        for fp in &firing {
            let t = &self.alerts[fp];
            let alert = t.alert.clone();
            if let Some((rule, source)) = self.inhibited_by(fp, &t.labels) {
                self.trace(
                    &alert,
                    now,
                    Stage::Inhibit,
                    Verdict::Suppressed,
                    Some(&route_id),
                    Some(&receiver),
                    format!("inhibited by rule `{rule}`: alert {source} fires"),
                );
                continue;
            }
            if let Some(s) = self.silences.iter().find(|s| s.mutes(&t.labels, now)) {
                let detail = format!(
                    "silenced by {} ({}, until {}): {}",
                    s.silence.id,
                    s.silence.created_by,
                    s.silence.ends_at.to_rfc3339(),
                    s.silence.comment
                );
                self.trace(
                    &alert,
                    now,
                    Stage::Silence,
                    Verdict::Suppressed,
                    Some(&route_id),
                    Some(&receiver),
                    detail,
                );
                continue;
            }
            kept.push(fp.clone());
        }

        // Cooldown: an alert this receiver heard fire recently is not news again.
        let mut fresh = Vec::new();
        let mut carried = Vec::new();
        for fp in kept {
            if previously_notified.contains(&fp) {
                carried.push(fp);
                continue;
            }
            if let Some(until) = self.cooldown.get(&(receiver.clone(), fp.clone())).copied()
                && until > now
            {
                let alert = self.alerts[&fp].alert.clone();
                self.trace(
                    &alert,
                    now,
                    Stage::Cooldown,
                    Verdict::Suppressed,
                    Some(&route_id),
                    Some(&receiver),
                    format!(
                        "notified to `{receiver}` less than {} s ago; cooldown until {}",
                        policy.cooldown.as_secs(),
                        until.to_rfc3339()
                    ),
                );
                carried.push(fp);
                continue;
            }
            fresh.push(fp);
        }

        let repeat_due = last_notice.is_some_and(|t| {
            t + chrono::Duration::from_std(route.repeat_interval).unwrap_or_default() <= now
        }) && carried
            .iter()
            .chain(&fresh)
            .any(|fp| self.alerts[fp].alert.status == AlertStatus::Firing);
        let mut to_send: Vec<Fingerprint> = if repeat_due {
            carried.iter().chain(&fresh).cloned().collect()
        } else {
            fresh.clone()
        };

        // Rate limits: per receiver and per route, the excess goes to a digest.
        let mut held_now = Vec::new();
        if !to_send.is_empty() {
            let room = self.room(&receiver, route, now);
            if (room as usize) < to_send.len() {
                held_now = to_send.split_off(room as usize);
            }
        }
        for fp in &held_now {
            let alert = self.alerts[fp].alert.clone();
            self.trace(
                &alert,
                now,
                Stage::RateLimit,
                Verdict::Suppressed,
                Some(&route_id),
                Some(&receiver),
                format!("over the hourly budget of `{receiver}`; listed in the next digest"),
            );
            self.hold(&receiver, alert, now);
        }

        let send_notice = !to_send.is_empty() || !resolved.is_empty();
        if send_notice {
            let mut alerts: Vec<Alert> = Vec::new();
            // A notice shows every firing alert of the group that passed the filters, so the
            // reader sees the whole picture, and the resolved ones that end.
            let shown: Vec<Fingerprint> = if to_send.is_empty() {
                Vec::new()
            } else {
                carried
                    .iter()
                    .chain(&fresh)
                    .filter(|fp| !held_now.contains(fp))
                    .cloned()
                    .collect()
            };
            for fp in shown.iter().chain(&resolved) {
                alerts.push(self.alerts[fp].alert.clone());
            }
            let kind = if to_send.is_empty() {
                NotificationKind::Resolved
            } else {
                NotificationKind::Firing
            };
            let group_labels = self.groups[key].labels.clone();
            let id = self
                .emit(kind, &receiver, &route_id, key, group_labels, alerts, now)
                .id;
            self.spend(&receiver, route, to_send.len(), now);
            let cooldown_until =
                now + chrono::Duration::from_std(policy.cooldown).unwrap_or_default();
            for fp in &to_send {
                self.cooldown
                    .insert((receiver.clone(), fp.clone()), cooldown_until);
                let escalation = route.escalation.clone();
                if let Some(t) = self.alerts.get_mut(fp) {
                    t.told.insert(receiver.clone());
                    if let (Some(name), None, AlertStatus::Firing) =
                        (&escalation, &t.escalation, t.alert.status)
                        && let Some(p) = policy.escalations.get(name)
                    {
                        t.escalation = Some(Escalating {
                            policy: name.clone(),
                            step: 0,
                            due: now
                                + chrono::Duration::from_std(p.steps[0].after).unwrap_or_default(),
                        });
                    }
                }
                let alert = self.alerts[fp].alert.clone();
                self.trace(
                    &alert,
                    now,
                    Stage::Notify,
                    Verdict::Sent,
                    Some(&route_id),
                    Some(&receiver),
                    format!(
                        "{} notice {id} to `{receiver}`",
                        if repeat_due && carried.contains(fp) {
                            "repeat"
                        } else {
                            "firing"
                        }
                    ),
                );
            }
            for fp in &resolved {
                let alert = self.alerts[fp].alert.clone();
                self.trace(
                    &alert,
                    now,
                    Stage::Notify,
                    Verdict::Sent,
                    Some(&route_id),
                    Some(&receiver),
                    format!("resolved notice {id} to `{receiver}`"),
                );
            }
        }

        // Update the group: what it last told, who is still in it.
        let Some(g) = self.groups.get_mut(key) else {
            return;
        };
        if send_notice {
            g.last_notice = Some(now);
        }
        // Told: what earlier notices listed, what this one lists, and what a digest will
        // list. Alerts that stopped passing the filters are no longer counted as told, so
        // they are news again when they pass.
        g.notified = carried
            .iter()
            .chain(&fresh)
            .filter(|fp| {
                previously_notified.contains(*fp) || to_send.contains(*fp) || held_now.contains(*fp)
            })
            .cloned()
            .collect();
        for fp in resolved.iter().chain(&silently_resolved) {
            g.members.remove(fp);
            g.notified.remove(fp);
        }
        let empty = g.members.is_empty();
        if empty {
            self.remove_group(key);
        } else {
            self.schedule(key, next);
        }
        for fp in resolved.iter().chain(&silently_resolved) {
            self.forget_if_ungrouped(fp);
        }
    }

    fn inhibited_by(&self, fp: &Fingerprint, labels: &LabelSet) -> Option<(String, Fingerprint)> {
        let firing = || {
            self.alerts
                .iter()
                .filter(|(_, t)| t.alert.status != AlertStatus::Resolved)
                .map(|(k, t)| (k, &t.labels))
        };
        self.policy.inhibit_rules.iter().find_map(|rule| {
            rule.source_for(fp, labels, firing())
                .map(|source| (rule.name.clone(), source.clone()))
        })
    }

    fn room(&mut self, receiver: &str, route: &Route, now: DateTime<Utc>) -> u32 {
        let limit = self.policy.max_alerts_per_hour;
        let mut room = self
            .budgets
            .entry(format!("receiver:{receiver}"))
            .or_default()
            .room(limit, now);
        if let Some(route_limit) = route.max_alerts_per_hour {
            room = room.min(
                self.budgets
                    .entry(format!("route:{}", route.id))
                    .or_default()
                    .room(route_limit, now),
            );
        }
        room
    }

    fn spend(&mut self, receiver: &str, route: &Route, n: usize, now: DateTime<Utc>) {
        for key in [
            format!("receiver:{receiver}"),
            format!("route:{}", route.id),
        ] {
            if key.starts_with("route:") && route.max_alerts_per_hour.is_none() {
                continue;
            }
            let budget = self.budgets.entry(key).or_default();
            budget.sent.extend(std::iter::repeat_n(now, n));
        }
    }

    fn hold(&mut self, receiver: &str, alert: Alert, now: DateTime<Utc>) {
        let held = self
            .held
            .entry(receiver.to_string())
            .or_insert_with(|| HeldBack {
                since: now,
                count: 0,
                alerts: Vec::new(),
            });
        held.count += 1;
        if held.alerts.len() < MAX_DIGEST_ITEMS {
            held.alerts.push(alert);
        }
    }

    /// A digest goes out one hour after the first alert it holds: one message, whatever
    /// the budget, so nothing held back goes unmentioned.
    fn send_digests(&mut self, now: DateTime<Utc>) {
        let due: Vec<String> = self
            .held
            .iter()
            .filter(|(_, h)| h.since + HOUR <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for receiver in due {
            let Some(held) = self.held.remove(&receiver) else {
                continue;
            };
            let listed = held.alerts.len() as u64;
            let digest = self.emit(
                NotificationKind::Digest {
                    held_back: held.count,
                },
                &receiver,
                "digest",
                &format!("digest:{receiver}"),
                LabelSet::new(),
                held.alerts.clone(),
                now,
            );
            digest.truncated += held.count - listed;
            let id = digest.id;
            for alert in &held.alerts {
                self.trace(
                    alert,
                    now,
                    Stage::RateLimit,
                    Verdict::Sent,
                    None,
                    Some(&receiver),
                    format!("listed in digest {id} of {} held-back alerts", held.count),
                );
            }
        }
    }

    fn escalate(&mut self, now: DateTime<Utc>) {
        let policy = Arc::clone(&self.policy);
        let due: Vec<Fingerprint> = self
            .alerts
            .iter()
            .filter(|(_, t)| {
                t.alert.status == AlertStatus::Firing
                    && t.escalation.as_ref().is_some_and(|e| e.due <= now)
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in due {
            let Some(t) = self.alerts.get_mut(&fp) else {
                continue;
            };
            let Some(e) = t.escalation.as_mut() else {
                continue;
            };
            let Some(p) = policy.escalations.get(&e.policy) else {
                t.escalation = None;
                continue;
            };
            let step = &p.steps[e.step];
            let receiver = step.receiver.clone();
            let level = e.step + 1;
            let name = p.name.clone();
            e.step += 1;
            if e.step >= p.steps.len() {
                if p.repeat {
                    e.step = 0;
                } else {
                    t.escalation = None;
                }
            }
            if let Some(e) = t.escalation.as_mut() {
                e.due = now + chrono::Duration::from_std(p.steps[e.step].after).unwrap_or_default();
            }
            let labels = t.labels.clone();
            let alert = t.alert.clone();
            if let Some(s) = self.silences.iter().find(|s| s.mutes(&labels, now)) {
                let detail = format!(
                    "escalation level {level} held: silenced by {}",
                    s.silence.id
                );
                self.trace(
                    &alert,
                    now,
                    Stage::Escalate,
                    Verdict::Suppressed,
                    None,
                    Some(&receiver),
                    detail,
                );
                continue;
            }
            if let Some(t) = self.alerts.get_mut(&fp) {
                t.told.insert(receiver.clone());
            }
            let id = self
                .emit(
                    NotificationKind::Escalation {
                        policy: name.clone(),
                        level,
                    },
                    &receiver,
                    &format!("escalation:{name}"),
                    &format!("escalation:{name}:{fp}"),
                    LabelSet::new(),
                    vec![alert.clone()],
                    now,
                )
                .id;
            self.trace(
                &alert,
                now,
                Stage::Escalate,
                Verdict::Sent,
                None,
                Some(&receiver),
                format!("unacknowledged: level {level} of `{name}`, notice {id} to `{receiver}`"),
            );
        }
    }

    fn remind_silences(&mut self, now: DateTime<Utc>) {
        let Some(ahead) = self.policy.silence_reminder else {
            return;
        };
        let ahead = chrono::Duration::from_std(ahead).unwrap_or_default();
        let receiver = self.policy.root.receiver.clone();
        let due: Vec<crate::silence::Silence> = self
            .silences
            .iter()
            .filter(|s| {
                now < s.silence.ends_at
                    && now >= s.silence.starts_at
                    // A silence shorter than the lead time needs no reminder.
                    && s.silence.starts_at < s.silence.ends_at - ahead
                    && s.silence.ends_at - ahead <= now
                    && !self.reminded.contains(&s.silence.id)
            })
            .map(|s| s.silence.clone())
            .collect();
        for s in due {
            self.reminded.insert(s.id);
            let id = s.id;
            self.emit(
                NotificationKind::SilenceExpiring { silence_id: id },
                &receiver,
                "silence",
                &format!("silence:{id}"),
                LabelSet::new(),
                Vec::new(),
                now,
            )
            .silence = Some(s);
        }
    }

    /// Records a status change on the alert's trace and tells `receivers` about it, one
    /// notice each.
    fn announce_status(
        &mut self,
        alert: &Alert,
        kind: NotificationKind,
        receivers: Vec<String>,
        why: &str,
        now: DateTime<Utc>,
    ) {
        self.trace(
            alert,
            now,
            Stage::Status,
            Verdict::Changed,
            None,
            None,
            why.into(),
        );
        for r in receivers {
            self.notify_direct(kind.clone(), &r, "status", alert, now);
        }
    }

    fn notify_direct(
        &mut self,
        kind: NotificationKind,
        receiver: &str,
        route: &str,
        alert: &Alert,
        now: DateTime<Utc>,
    ) {
        let label = kind.name();
        let id = self
            .emit(
                kind,
                receiver,
                route,
                &format!("alert:{}", alert.fingerprint),
                LabelSet::new(),
                vec![alert.clone()],
                now,
            )
            .id;
        self.trace(
            alert,
            now,
            Stage::Notify,
            Verdict::Sent,
            None,
            Some(receiver),
            format!("{label} notice {id} to `{receiver}`"),
        );
    }

    /// Adds a notice to the pending output and returns it, for the caller to complete.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        kind: NotificationKind,
        receiver: &str,
        route: &str,
        group_key: &str,
        group_labels: LabelSet,
        mut alerts: Vec<Alert>,
        now: DateTime<Utc>,
    ) -> &mut Notification {
        let truncated = alerts.len().saturating_sub(MAX_ALERTS_PER_NOTIFICATION) as u64;
        alerts.truncate(MAX_ALERTS_PER_NOTIFICATION);
        self.pending.notifications.push(Notification {
            id: Uuid::now_v7(),
            kind,
            receiver: receiver.to_string(),
            route: route.to_string(),
            group_key: group_key.to_string(),
            group_labels,
            alerts,
            truncated,
            silence: None,
            created_at: now,
        });
        let last = self.pending.notifications.len() - 1;
        &mut self.pending.notifications[last]
    }

    #[allow(clippy::too_many_arguments)]
    fn trace(
        &mut self,
        alert: &Alert,
        at: DateTime<Utc>,
        stage: Stage,
        verdict: Verdict,
        route: Option<&str>,
        receiver: Option<&str>,
        detail: String,
    ) {
        self.pending.trace.push(TraceEntry {
            alert_id: alert.id,
            at,
            stage,
            verdict,
            route: route.map(str::to_string),
            receiver: receiver.map(str::to_string),
            detail,
        });
    }
}

/// The group an alert joins on a route, and the group's labels.
fn group_key(route: &Route, labels: &LabelSet, fp: &Fingerprint) -> (String, LabelSet) {
    match &route.group_by {
        GroupBy::Each => (format!("{}{{alert={fp}}}", route.id), labels.clone()),
        GroupBy::Labels(names) => {
            let group_labels: LabelSet = names
                .iter()
                .map(|n| (n.clone(), labels.get(n).cloned().unwrap_or_default()))
                .collect();
            let inner: Vec<String> = group_labels
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            (format!("{}{{{}}}", route.id, inner.join(",")), group_labels)
        }
    }
}
