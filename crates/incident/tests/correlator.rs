//! Grouping as an analyst would: one attack across detectors is one incident, two
//! attackers of one site are two, a window and a bound hold, and a restart loses nothing.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use uuid::Uuid;
use watchpost_core::{AttackTags, Detection, Entity, IncidentStatus, Severity};
use watchpost_incident::{Correlator, Outcome, Settings, Signal};

fn web(rule: &str, ip: &str, severity: Severity, tags: &[&str], at: DateTime<Utc>) -> Detection {
    let mut d = Detection::new(
        rule,
        rule,
        severity,
        if rule.contains("decoy") {
            "web-honeypot"
        } else {
            "web"
        },
    );
    d.entity = Some(Entity::Ip { ip: ip.into() });
    d.host = Some("shop".into());
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.timestamp = at;
    d
}

fn host(rule: &str, user: &str, pid: i64, tags: &[&str], at: DateTime<Utc>) -> Detection {
    let mut d = Detection::new(rule, rule, Severity::High, "sigma");
    d.host = Some("shop".into());
    d.entity = Some(Entity::Process {
        host: "shop".into(),
        pid,
        name: None,
    });
    d.evidence = json!({"fields": {"user.name": user}, "ancestry": [{"pid": pid, "user": user}, {"pid": 100, "user": user}]});
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.timestamp = at;
    d
}

fn observe(c: &mut Correlator, d: &Detection) -> Outcome {
    c.observe(
        Signal {
            detection: d,
            alert_id: Uuid::now_v7(),
            alert_title: &d.rule_title,
        },
        d.timestamp,
    )
}

#[test]
fn a_multi_stage_attack_is_one_incident_with_its_chain_in_tactic_order() {
    let mut c = Correlator::new(Settings {
        critical_hosts: vec!["shop".into()],
        ..Settings::default()
    });
    let t = Utc::now() - Duration::minutes(30);
    let x = "203.0.113.7";
    let Outcome::Opened(id) = observe(
        &mut c,
        &web(
            "web.sqli",
            x,
            Severity::High,
            &["attack.initial-access", "attack.t1190"],
            t,
        ),
    ) else {
        panic!("the first high alert opens an incident");
    };
    for (i, d) in [
        web(
            "web.path_traversal",
            x,
            Severity::High,
            &["attack.initial-access", "attack.t1190"],
            t + Duration::minutes(1),
        ),
        web(
            "web.decoy",
            x,
            Severity::Medium,
            &["attack.reconnaissance", "attack.t1595.003"],
            t + Duration::minutes(2),
        ),
        web(
            "web.login_after_failures",
            x,
            Severity::Medium,
            &["attack.credential-access", "attack.t1110.001"],
            t + Duration::minutes(3),
        ),
        // On the host: the web server's user spawns a shell (tied by the site), pipes a
        // download into it and installs a crontab (tied by the user and process tree).
        host(
            "sigma.webserver_shell",
            "www-data",
            4242,
            &["attack.execution", "attack.t1059.004"],
            t + Duration::minutes(5),
        ),
        host(
            "sigma.curl_pipe_sh",
            "www-data",
            4250,
            &["attack.execution", "attack.t1105"],
            t + Duration::minutes(6),
        ),
        host(
            "sigma.crontab_install",
            "www-data",
            4260,
            &["attack.persistence", "attack.t1053.003"],
            t + Duration::minutes(7),
        ),
    ]
    .iter()
    .enumerate()
    {
        match observe(&mut c, d) {
            Outcome::Joined { incident, .. } => assert_eq!(incident, id, "step {i}"),
            other => panic!("step {i} ({}): {other:?}", d.rule_id),
        }
    }
    let incident = c.get(id).unwrap();
    assert_eq!(incident.chain.len(), 7);
    assert_eq!(incident.alert_ids.len(), 7);
    let times: Vec<_> = incident.chain.iter().map(|s| s.first_seen).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    let shell = incident
        .chain
        .iter()
        .find(|s| s.rule_id == "sigma.webserver_shell")
        .unwrap();
    assert_eq!(
        shell.joined_by.as_deref(),
        Some("host:shop"),
        "the site ties the host to the web attack"
    );
    assert_eq!(shell.tactic.as_deref(), Some("TA0002"));
    assert!(
        incident.summary.contains(
            "Reconnaissance → Initial Access → Execution → Persistence → Credential Access"
        ),
        "{}",
        incident.summary
    );
    let terms: Vec<&str> = incident
        .risk
        .terms
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(
        terms,
        [
            "severity",
            "detectors",
            "kill_chain",
            "techniques",
            "asset",
            "reputation"
        ]
    );
    assert_eq!(
        incident.risk.score,
        incident
            .risk
            .terms
            .iter()
            .map(|t| t.points)
            .sum::<u32>()
            .min(100)
    );
    assert!(incident.risk.score >= 60, "{:?}", incident.risk);
    let asset = &incident.risk.terms[4];
    assert_eq!(asset.points, 10, "{asset:?}");

    // A second attacker of the same site is another incident: the site is no tie.
    let other = observe(
        &mut c,
        &web(
            "web.sqli",
            "198.51.100.9",
            Severity::High,
            &["attack.initial-access"],
            t + Duration::minutes(8),
        ),
    );
    assert!(matches!(other, Outcome::Opened(o) if o != id), "{other:?}");
}

#[test]
fn low_alerts_only_join_and_old_ones_do_not() {
    let mut c = Correlator::new(Settings::default());
    let t = Utc::now() - Duration::hours(3);
    assert_eq!(
        observe(
            &mut c,
            &web("web.scan", "203.0.113.1", Severity::Low, &[], t)
        ),
        Outcome::Ignored
    );
    let Outcome::Opened(id) = observe(
        &mut c,
        &web("web.sqli", "203.0.113.1", Severity::High, &[], t),
    ) else {
        panic!()
    };
    assert!(
        matches!(observe(&mut c, &web("web.scan", "203.0.113.1", Severity::Low, &[], t + Duration::minutes(5))),
        Outcome::Joined { incident, .. } if incident == id)
    );
    // Two hours of quiet: past the window, a new incident.
    let later = observe(
        &mut c,
        &web(
            "web.sqli",
            "203.0.113.1",
            Severity::High,
            &[],
            t + Duration::hours(2),
        ),
    );
    assert!(matches!(later, Outcome::Opened(o) if o != id), "{later:?}");
    c.expire(Utc::now());
    assert_eq!(c.tracked(), 0, "everything is older than the window now");
}

#[test]
fn an_alert_naming_two_incidents_merges_them() {
    let mut c = Correlator::new(Settings::default());
    let t = Utc::now() - Duration::minutes(10);
    let Outcome::Opened(a) = observe(
        &mut c,
        &web("web.sqli", "203.0.113.5", Severity::High, &[], t),
    ) else {
        panic!()
    };
    let mut login = Detection::new(
        "auth.bruteforce",
        "Password guessing",
        Severity::High,
        "sigma",
    );
    login.entity = Some(Entity::User { name: "bob".into() });
    login.host = Some("vpn".into());
    login.timestamp = t + Duration::minutes(1);
    let Outcome::Opened(b) = observe(&mut c, &login) else {
        panic!()
    };
    assert_ne!(a, b);
    c.take_changed();
    let mut both = Detection::new(
        "auth.success_after_guessing",
        "Login after guessing",
        Severity::Critical,
        "sigma",
    );
    both.entity = Some(Entity::User { name: "bob".into() });
    both.evidence = json!({"fields": {"source.ip": "203.0.113.5"}});
    both.timestamp = t + Duration::minutes(2);
    assert_eq!(
        observe(&mut c, &both),
        Outcome::Merged {
            into: a,
            absorbed: vec![b]
        }
    );
    let merged = c.get(a).unwrap();
    assert_eq!(merged.chain.len(), 3);
    assert!(
        merged
            .timeline
            .iter()
            .any(|e| e.what.contains("merged incident"))
    );
    let changed = c.take_changed();
    let absorbed = changed.iter().find(|i| i.id == b).unwrap();
    assert_eq!(
        absorbed.status,
        IncidentStatus::Closed,
        "the absorbed incident is closed, not lost"
    );
    assert!(c.get(b).is_none());
}

#[test]
fn memory_is_bounded_and_a_restart_restores_the_index() {
    let mut c = Correlator::new(Settings {
        max_tracked: 3,
        ..Settings::default()
    });
    let t = Utc::now() - Duration::minutes(10);
    for i in 0..5 {
        observe(
            &mut c,
            &web(
                "web.sqli",
                &format!("203.0.113.{i}"),
                Severity::High,
                &[],
                t + Duration::seconds(i),
            ),
        );
    }
    assert_eq!(c.tracked(), 3, "the quietest leave the index first");
    let stored = c.take_changed();
    let mut restarted = Correlator::new(Settings::default());
    restarted.restore(stored, Utc::now());
    assert_eq!(restarted.tracked(), 3);
    let again = observe(
        &mut restarted,
        &web(
            "web.xss",
            "203.0.113.4",
            Severity::Medium,
            &[],
            t + Duration::minutes(1),
        ),
    );
    assert!(matches!(again, Outcome::Joined { .. }), "{again:?}");
}
