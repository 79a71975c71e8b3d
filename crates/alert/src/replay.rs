//! Dry runs: a routing configuration replayed over what already happened.
//!
//! `watchpost alerts replay --config NEW.toml --since 7d` feeds the stored detections and
//! the status changes people made, in time order, through a [`Pipeline`] running the
//! proposed policy on a simulated clock, and collects the notices it would have sent. The
//! clock advances in [`Replay::step`] increments between happenings, so timers (group wait
//! and interval, repeat, escalation, resolve timeout) fire as they would have, to within
//! one step.

use crate::pipeline::{Notification, Pipeline};
use crate::policy::Policy;
use crate::silence::ActiveSilence;
use crate::trace::{TraceEntry, Verdict};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use watchpost_core::{Alert, AlertStatus, Detection, Fingerprint};

/// Something that happened to an alert, as the store remembers it.
#[derive(Debug, Clone)]
pub enum Happening {
    /// A detection, folded into its alert as the server folds it.
    Detection(Box<Detection>),
    /// A person (or a detector) changed an alert's status.
    Status {
        fingerprint: Fingerprint,
        to: AlertStatus,
        by: String,
        reason: Option<String>,
    },
}

/// What a replay produced.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The notices the policy would have sent, oldest first.
    pub notifications: Vec<Notification>,
    /// Every stage verdict, for alerts that would have reached no one.
    pub trace: Vec<TraceEntry>,
    /// The alerts as the replay built them, by fingerprint.
    pub alerts: BTreeMap<Fingerprint, Alert>,
}

impl Replayed {
    /// Why an alert would have reached no one: the last suppressing verdict on it.
    pub fn held_back_because(&self, alert: &Alert) -> Option<&TraceEntry> {
        self.trace
            .iter()
            .rev()
            .find(|t| t.alert_id == alert.id && t.verdict == Verdict::Suppressed)
    }
}

/// A replay in progress.
pub struct Replay {
    pipeline: Pipeline,
    alerts: BTreeMap<Fingerprint, Alert>,
    clock: Option<DateTime<Utc>>,
    step: Duration,
    out: Replayed,
}

impl Replay {
    /// A replay of `policy` with the silences that existed (each applies within its own
    /// start and end), advancing timers every `step`.
    pub fn new(policy: Arc<Policy>, silences: Vec<ActiveSilence>, step: Duration) -> Replay {
        let mut pipeline = Pipeline::new(policy);
        pipeline.set_silences(silences);
        Replay {
            pipeline,
            alerts: BTreeMap::new(),
            clock: None,
            step: step.max(Duration::seconds(1)),
            out: Replayed::default(),
        }
    }

    /// Runs the timers up to `at`, one step at a time.
    fn advance(&mut self, at: DateTime<Utc>) {
        let Some(mut clock) = self.clock else {
            self.clock = Some(at);
            return;
        };
        while clock + self.step <= at {
            clock += self.step;
            let output = self.pipeline.tick(clock);
            self.take(output);
        }
        if clock < at {
            clock = at;
        }
        self.clock = Some(clock);
    }

    fn take(&mut self, output: crate::pipeline::Output) {
        for resolved in output.resolved {
            self.alerts.insert(resolved.fingerprint.clone(), resolved);
        }
        self.out.notifications.extend(output.notifications);
        self.out.trace.extend(output.trace);
    }

    /// Applies one happening at `at` (happenings must come in time order).
    pub fn apply(&mut self, at: DateTime<Utc>, happening: &Happening) {
        self.advance(at);
        let at = self.clock.unwrap_or(at);
        let alert = match happening {
            Happening::Detection(d) => {
                Alert::fold(&mut self.alerts, d).and_then(|fp| self.alerts.get(&fp).cloned())
            }
            Happening::Status {
                fingerprint,
                to,
                by,
                reason,
            } => self.alerts.get_mut(fingerprint).and_then(|a| {
                a.change_status(*to, by, reason.clone(), at)
                    .then(|| a.clone())
            }),
        };
        if let Some(alert) = alert {
            self.pipeline.observe(&alert, at);
            let output = self.pipeline.flush_due(at);
            self.take(output);
        }
    }

    /// Runs the timers to `until` and returns what the replay produced.
    pub fn finish(mut self, until: DateTime<Utc>) -> Replayed {
        self.advance(until);
        let output = self.pipeline.tick(until);
        self.take(output);
        self.out.alerts = self.alerts;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AlertingConfig, RouteConfig};
    use watchpost_core::Severity;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn detection(rule: &str, severity: Severity, when: DateTime<Utc>) -> Detection {
        let mut d = Detection::new(rule, rule, severity, "sigma");
        d.timestamp = when;
        d.host = Some("web-1".into());
        d
    }

    #[test]
    fn timers_fire_on_the_simulated_clock_and_routes_follow_the_new_policy() {
        let config = AlertingConfig {
            route: RouteConfig {
                receiver: Some("ops".into()),
                group_wait_seconds: Some(30),
                routes: vec![RouteConfig {
                    receiver: Some("pager".into()),
                    matchers: vec!["severity=critical".into()],
                    ..RouteConfig::default()
                }],
                ..RouteConfig::default()
            },
            resolve_timeout_seconds: 600,
            ..AlertingConfig::default()
        };
        let policy = Arc::new(Policy::compile(&config).unwrap());
        let mut replay = Replay::new(policy, Vec::new(), Duration::seconds(10));
        let shell = detection("lnx.reverse_shell", Severity::Critical, at(0));
        let scan = detection("web.scan", Severity::Low, at(5));
        replay.apply(at(0), &Happening::Detection(Box::new(shell.clone())));
        replay.apply(at(5), &Happening::Detection(Box::new(scan)));
        replay.apply(
            at(100),
            &Happening::Status {
                fingerprint: Fingerprint::of_detection(&shell, &BTreeMap::new()),
                to: AlertStatus::Acknowledged,
                by: "alice".into(),
                reason: None,
            },
        );
        let out = replay.finish(at(3600));
        let sent: Vec<(String, &str, i64)> = out
            .notifications
            .iter()
            .map(|n| {
                (
                    n.receiver.clone(),
                    n.kind.name(),
                    (n.created_at - at(0)).num_seconds(),
                )
            })
            .collect();
        // Each timer fires within one step (10 s) of when it was due.
        let when = |receiver: &str, kind: &str| {
            sent.iter()
                .find(|(r, k, _)| r == receiver && *k == kind)
                .map(|(_, _, s)| *s)
                .unwrap_or_else(|| panic!("no {kind} notice to {receiver}: {sent:?}"))
        };
        assert!((30..40).contains(&when("pager", "firing")), "{sent:?}");
        assert!((35..45).contains(&when("ops", "firing")), "{sent:?}");
        assert_eq!(
            when("pager", "acknowledged"),
            100,
            "at once, not on the next step"
        );
        // No detection renews either alert: both resolve 600 s after they were admitted,
        // and the resolved notice leaves with the group's next interval (300 s by default).
        assert!((600..=650).contains(&when("pager", "resolved")), "{sent:?}");
        assert!((605..=650).contains(&when("ops", "resolved")), "{sent:?}");
        assert_eq!(
            out.alerts
                .values()
                .filter(|a| a.status == AlertStatus::Resolved)
                .count(),
            2
        );
        assert_eq!(sent.len(), 5, "{sent:?}");
    }
}
