//! Pipeline behaviour driven by a hand-set clock: every time below is passed in, nothing
//! sleeps, so each test checks the timers exactly.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;
use watchpost_alert::{
    ActiveSilence, AlertingConfig, NotificationKind, Output, Pipeline, Policy, Silence, Stage,
    Verdict,
};
use watchpost_core::{Alert, AlertStatus, Detection, Entity, Severity};

fn t0() -> DateTime<Utc> {
    // A Monday, 10:00 UTC.
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .unwrap()
        .into()
}

fn secs(n: i64) -> Duration {
    Duration::seconds(n)
}

fn pipeline(toml_text: &str) -> Pipeline {
    let config: AlertingConfig = toml::from_str(toml_text).unwrap();
    Pipeline::new(Arc::new(Policy::compile(&config).unwrap()))
}

fn alert(rule: &str, host: &str, severity: Severity, at: DateTime<Utc>) -> Alert {
    let mut d = Detection::new(rule, rule, severity, "sigma");
    d.host = Some(host.into());
    d.entity = Some(Entity::Host { name: host.into() });
    d.timestamp = at;
    Alert::from_detection(&d, BTreeMap::new())
}

fn kinds(out: &Output) -> Vec<(String, String, usize)> {
    out.notifications
        .iter()
        .map(|n| {
            (
                n.kind.name().to_string(),
                n.receiver.clone(),
                n.alerts.len(),
            )
        })
        .collect()
}

fn verdicts(out: &Output, alert: &Alert, stage: Stage) -> Vec<Verdict> {
    out.trace
        .iter()
        .filter(|e| e.alert_id == alert.id && e.stage == stage)
        .map(|e| e.verdict)
        .collect()
}

const GROUPING: &str = r#"
    resolve_timeout_seconds = 0
    alert_cooldown_seconds = 0
    [route]
    receiver = "team"
    group_by = ["host"]
    group_wait_seconds = 30
    group_interval_seconds = 300
    repeat_interval_seconds = 3600
"#;

#[test]
fn group_wait_batches_a_burst_and_group_interval_paces_changes() {
    let mut p = pipeline(GROUPING);
    let a = alert("r1", "web-1", Severity::High, t0());
    let b = alert("r2", "web-1", Severity::High, t0() + secs(10));
    let c = alert("r3", "web-2", Severity::High, t0() + secs(10));
    p.observe(&a, t0());
    p.observe(&b, t0() + secs(10));
    p.observe(&c, t0() + secs(10));
    assert!(p.tick(t0() + secs(29)).notifications.is_empty());
    let out = p.tick(t0() + secs(30));
    assert_eq!(
        kinds(&out),
        [("firing".into(), "team".into(), 2)],
        "web-1 waits 30 s from its first alert"
    );
    let out = p.tick(t0() + secs(40));
    assert_eq!(
        kinds(&out),
        [("firing".into(), "team".into(), 1)],
        "web-2 opened at +10 s"
    );

    // A new alert in a group already told waits for the group interval.
    let d = alert("r4", "web-1", Severity::High, t0() + secs(60));
    p.observe(&d, t0() + secs(60));
    assert!(p.tick(t0() + secs(329)).notifications.is_empty());
    let out = p.tick(t0() + secs(330));
    assert_eq!(
        kinds(&out),
        [("firing".into(), "team".into(), 3)],
        "the notice shows the whole group"
    );

    // Nothing changed: no notice until the repeat interval.
    assert!(p.tick(t0() + secs(630)).notifications.is_empty());
    let out = p.tick(t0() + secs(330 + 3600));
    assert_eq!(kinds(&out).len(), 2, "both groups repeat after an hour");
}

#[test]
fn a_resolved_alert_is_announced_once_to_those_who_heard_it_fire() {
    let mut p = pipeline(GROUPING);
    let a = alert("r1", "web-1", Severity::High, t0());
    p.observe(&a, t0());
    p.tick(t0() + secs(30));
    let mut done = a.clone();
    done.status = AlertStatus::Resolved;
    p.observe(&done, t0() + secs(100));
    let out = p.tick(t0() + secs(330));
    assert_eq!(kinds(&out), [("resolved".into(), "team".into(), 1)]);
    assert_eq!(p.tracked(), 0, "a resolved, announced alert is forgotten");
    assert!(p.tick(t0() + secs(5000)).notifications.is_empty());

    // Resolved inside group_wait: nobody is told anything.
    let b = alert("r2", "web-1", Severity::High, t0() + secs(6000));
    p.observe(&b, t0() + secs(6000));
    let mut done = b.clone();
    done.status = AlertStatus::Resolved;
    p.observe(&done, t0() + secs(6010));
    assert!(p.tick(t0() + secs(6100)).notifications.is_empty());
    assert_eq!(p.tracked(), 0);
}

#[test]
fn inhibition_mutes_lesser_alerts_on_the_same_host_while_the_critical_one_fires() {
    let mut p = pipeline(&format!(
        "{GROUPING}\n[[inhibit_rules]]\nname = \"host-compromised\"\nsource_matchers = ['severity=\"critical\"']\ntarget_matchers = ['severity=~\"low|medium\"']\nequal = [\"host\"]\n"
    ));
    let crit = alert("rootkit", "db-1", Severity::Critical, t0());
    let low = alert("scan", "db-1", Severity::Low, t0());
    let other = alert("scan", "db-2", Severity::Low, t0());
    for a in [&crit, &low, &other] {
        p.observe(a, t0());
    }
    let out = p.tick(t0() + secs(30));
    let sent: Vec<&str> = out
        .notifications
        .iter()
        .flat_map(|n| n.alerts.iter().map(|a| a.host.as_deref().unwrap()))
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(sent.contains(&"db-2"));
    assert_eq!(verdicts(&out, &low, Stage::Inhibit), [Verdict::Suppressed]);
    let detail = &out
        .trace
        .iter()
        .find(|e| e.alert_id == low.id && e.stage == Stage::Inhibit)
        .unwrap()
        .detail;
    assert!(detail.contains("host-compromised"), "{detail}");

    // Once the critical alert resolves, the lesser one is news.
    let mut done = crit.clone();
    done.status = AlertStatus::Resolved;
    p.observe(&done, t0() + secs(100));
    let out = p.tick(t0() + secs(330));
    let firing = out
        .notifications
        .iter()
        .find(|n| n.kind == NotificationKind::Firing)
        .expect("the low alert is sent now");
    assert_eq!(firing.alerts[0].id, low.id);
}

#[test]
fn a_silence_holds_matching_alerts_and_a_reminder_comes_before_it_ends() {
    let mut p = pipeline(&format!("silence_reminder_seconds = 600\n{GROUPING}"));
    let silence = Silence {
        id: Uuid::now_v7(),
        matchers: vec!["host=\"db-1\"".into()],
        starts_at: t0(),
        ends_at: t0() + secs(3600),
        created_by: "ana".into(),
        comment: "patching db-1, CHG-42".into(),
        created_at: t0(),
    };
    p.set_silences(vec![ActiveSilence::new(silence.clone()).unwrap()]);
    let held = alert("r1", "db-1", Severity::High, t0());
    let sent = alert("r1", "db-2", Severity::High, t0());
    p.observe(&held, t0());
    p.observe(&sent, t0());
    let out = p.tick(t0() + secs(30));
    assert_eq!(out.notifications.len(), 1);
    assert_eq!(out.notifications[0].alerts[0].id, sent.id);
    let detail = &out
        .trace
        .iter()
        .find(|e| e.alert_id == held.id && e.stage == Stage::Silence)
        .unwrap()
        .detail;
    assert!(
        detail.contains("CHG-42") && detail.contains("ana"),
        "{detail}"
    );

    let out = p.tick(t0() + secs(3000));
    assert_eq!(kinds(&out), [("silence_expiring".into(), "team".into(), 0)]);
    assert_eq!(
        out.notifications[0].silence.as_ref().unwrap().id,
        silence.id
    );
    assert!(
        p.tick(t0() + secs(3100)).notifications.is_empty(),
        "one reminder"
    );

    // The silence ends: the held alert is news at the next group interval.
    // (db-2's group repeats at the same moment: an hour after its first notice.)
    let out = p.tick(t0() + secs(3630));
    let released = out
        .notifications
        .iter()
        .find(|n| n.group_labels.get("host").map(String::as_str) == Some("db-1"))
        .expect("db-1's group is told");
    assert_eq!(released.alerts[0].id, held.id);
}

#[test]
fn mute_intervals_hold_a_route_at_night_and_release_it_in_the_morning() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 0
        [route]
        receiver = "team"
        group_wait_seconds = 0
        group_interval_seconds = 60
        [[route.routes]]
        matchers = ['severity!="critical"']
        receiver = "office"
        mute_time_intervals = ["nights"]
        [[time_intervals]]
        name = "nights"
        intervals = [{ times = [{ start = "00:00", end = "08:00" }], location = "Europe/Berlin" }]
        "#,
    );
    // 05:30 UTC is 06:30 in Berlin: muted.
    let night = t0() - secs(4 * 3600 + 1800);
    let low = alert("r1", "web-1", Severity::Low, night);
    let crit = alert("r2", "web-1", Severity::Critical, night);
    p.observe(&low, night);
    p.observe(&crit, night);
    let out = p.tick(night);
    assert_eq!(
        kinds(&out),
        [("firing".into(), "team".into(), 1)],
        "critical alerts go to the team at any hour"
    );
    assert_eq!(verdicts(&out, &low, Stage::Mute), [Verdict::Suppressed]);
    // 07:00 UTC is 08:00 in Berlin: released at the first look after.
    let morning = t0() - secs(3 * 3600);
    let mut released = None;
    let mut at = night;
    while at <= morning {
        at += secs(60);
        let out = p.tick(at);
        if !out.notifications.is_empty() {
            released = Some((at, out));
            break;
        }
    }
    let (at, out) = released.expect("released in the morning");
    assert_eq!(at, morning, "held until 08:00 Berlin exactly");
    assert_eq!(kinds(&out), [("firing".into(), "office".into(), 1)]);
}

#[test]
fn cooldown_keeps_a_flapping_alert_from_paging_again() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 0
        alert_cooldown_seconds = 900
        [route]
        receiver = "team"
        group_by = ["..."]
        group_wait_seconds = 0
        group_interval_seconds = 60
        "#,
    );
    let a = alert("r1", "web-1", Severity::High, t0());
    p.observe(&a, t0());
    assert_eq!(p.tick(t0()).notifications.len(), 1);
    let mut flap = a.clone();
    flap.status = AlertStatus::Resolved;
    p.observe(&flap, t0() + secs(60));
    assert_eq!(
        kinds(&p.tick(t0() + secs(60))),
        [("resolved".into(), "team".into(), 1)]
    );
    flap.status = AlertStatus::Firing;
    p.observe(&flap, t0() + secs(120));
    let out = p.tick(t0() + secs(120));
    assert!(out.notifications.is_empty());
    assert_eq!(verdicts(&out, &a, Stage::Cooldown), [Verdict::Suppressed]);
    // Still firing after the cooldown: the next look sends it.
    let out = p.tick(t0() + secs(960));
    assert_eq!(kinds(&out), [("firing".into(), "team".into(), 1)]);
}

#[test]
fn a_rate_limit_holds_the_excess_and_a_digest_lists_it_an_hour_later() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 0
        max_alerts_per_hour = 5
        [route]
        receiver = "team"
        group_by = ["..."]
        group_wait_seconds = 0
        "#,
    );
    let alerts: Vec<Alert> = (0..12)
        .map(|i| alert(&format!("r{i}"), "web-1", Severity::Medium, t0()))
        .collect();
    for a in &alerts {
        p.observe(a, t0());
    }
    let out = p.tick(t0());
    assert_eq!(out.notifications.len(), 5);
    let held: Vec<_> = out
        .trace
        .iter()
        .filter(|e| e.stage == Stage::RateLimit && e.verdict == Verdict::Suppressed)
        .collect();
    assert_eq!(held.len(), 7, "nothing dropped silently");
    assert!(p.tick(t0() + secs(3599)).notifications.is_empty());
    let out = p.tick(t0() + secs(3600));
    let digest = out
        .notifications
        .iter()
        .find(|n| matches!(n.kind, NotificationKind::Digest { held_back: 7 }))
        .expect("a digest of the seven");
    assert_eq!(digest.alerts.len(), 7);
}

#[test]
fn a_route_budget_is_tighter_than_the_receivers() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 0
        [route]
        receiver = "team"
        group_by = ["..."]
        group_wait_seconds = 0
        [[route.routes]]
        matchers = ['rule=~"scan.*"']
        max_alerts_per_hour = 2
        "#,
    );
    for i in 0..4 {
        p.observe(
            &alert(&format!("scan{i}"), "web-1", Severity::Low, t0()),
            t0(),
        );
        p.observe(
            &alert(&format!("other{i}"), "web-1", Severity::Low, t0()),
            t0(),
        );
    }
    let out = p.tick(t0());
    assert_eq!(out.notifications.len(), 6, "2 scans + 4 others");
}

#[test]
fn escalation_climbs_until_acknowledged_and_the_ack_reaches_everyone_told() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 0
        [route]
        receiver = "team"
        group_wait_seconds = 0
        escalation = "oncall"
        [[escalation_policies]]
        name = "oncall"
        levels = [{ after_minutes = 5, receiver = "primary" }, { after_minutes = 10, receiver = "manager" }]
        "#,
    );
    let a = alert("r1", "web-1", Severity::Critical, t0());
    p.observe(&a, t0());
    assert_eq!(kinds(&p.tick(t0())), [("firing".into(), "team".into(), 1)]);
    assert!(p.tick(t0() + secs(299)).notifications.is_empty());
    let out = p.tick(t0() + secs(300));
    assert_eq!(out.notifications.len(), 1);
    assert_eq!(out.notifications[0].receiver, "primary");
    assert_eq!(
        out.notifications[0].kind,
        NotificationKind::Escalation {
            policy: "oncall".into(),
            level: 1
        }
    );
    let out = p.tick(t0() + secs(900));
    assert_eq!(out.notifications[0].receiver, "manager");

    let mut acked = a.clone();
    acked.status = AlertStatus::Acknowledged;
    p.observe(&acked, t0() + secs(1000));
    let out = p.tick(t0() + secs(1000));
    let mut told: Vec<_> = out
        .notifications
        .iter()
        .filter(|n| n.kind == NotificationKind::Acknowledged)
        .map(|n| n.receiver.as_str())
        .collect();
    told.sort();
    assert_eq!(told, ["manager", "primary", "team"]);
    assert!(
        p.tick(t0() + secs(100_000)).notifications.is_empty(),
        "no repeat, no escalation once acknowledged"
    );

    let mut done = acked.clone();
    done.status = AlertStatus::Resolved;
    p.observe(&done, t0() + secs(100_100));
    let mut out = p.tick(t0() + secs(100_400));
    out.notifications
        .sort_by(|a, b| a.receiver.cmp(&b.receiver));
    assert_eq!(
        kinds(&out),
        [
            ("resolved".into(), "manager".into(), 1),
            ("resolved".into(), "primary".into(), 1),
            ("resolved".into(), "team".into(), 1)
        ]
    );
}

#[test]
fn an_alert_without_new_detections_resolves_after_the_timeout() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 600
        [route]
        receiver = "team"
        group_wait_seconds = 0
        group_interval_seconds = 60
        "#,
    );
    let a = alert("r1", "web-1", Severity::High, t0());
    p.observe(&a, t0());
    p.tick(t0());
    let mut repeat = a.clone();
    repeat.last_seen = t0() + secs(300);
    repeat.count = 2;
    p.observe(&repeat, t0() + secs(300));
    assert!(
        p.tick(t0() + secs(899)).resolved.is_empty(),
        "the repeat renewed it"
    );
    let out = p.tick(t0() + secs(900));
    assert_eq!(out.resolved.len(), 1);
    assert_eq!(out.resolved[0].status, AlertStatus::Resolved);
    // The group was last looked at 899 s in; the notice goes at its next look.
    assert!(out.notifications.is_empty());
    assert!(p.tick(t0() + secs(958)).notifications.is_empty());
    assert_eq!(
        kinds(&p.tick(t0() + secs(959))),
        [("resolved".into(), "team".into(), 1)]
    );
}

#[test]
fn every_stage_leaves_a_trace_that_explains_a_notice() {
    let mut p = pipeline(GROUPING);
    let a = alert("r1", "web-1", Severity::High, t0());
    p.observe(&a, t0());
    let first = p.tick(t0());
    let out = p.tick(t0() + secs(30));
    let stages: Vec<(Stage, Verdict)> = first
        .trace
        .iter()
        .chain(&out.trace)
        .filter(|e| e.alert_id == a.id)
        .map(|e| (e.stage, e.verdict))
        .collect();
    assert_eq!(
        stages,
        [
            (Stage::Route, Verdict::Passed),
            (Stage::Group, Verdict::Passed),
            (Stage::Notify, Verdict::Sent)
        ]
    );
    let notify = out.trace.iter().find(|e| e.stage == Stage::Notify).unwrap();
    assert!(notify.detail.contains(&out.notifications[0].id.to_string()));
    assert_eq!(notify.route.as_deref(), Some("root"));
}

#[test]
fn flush_due_sends_due_groups_without_running_the_other_timers() {
    let mut p = pipeline(
        r#"
        resolve_timeout_seconds = 60
        [route]
        receiver = "team"
        group_wait_seconds = 0
        "#,
    );
    let a = alert("r1", "web-1", Severity::High, t0());
    p.observe(&a, t0());
    assert_eq!(
        kinds(&p.flush_due(t0())),
        [("firing".into(), "team".into(), 1)]
    );
    assert!(
        p.flush_due(t0() + secs(120)).resolved.is_empty(),
        "resolve timeouts wait for tick"
    );
    assert_eq!(p.tick(t0() + secs(120)).resolved.len(), 1);
}
