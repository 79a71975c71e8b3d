//! Sigma correlation rules and filters, run the way `hunt` and `serve` run them: match each
//! event, hand its correlation input to a `CorrelationState` in time order.

use watchpost_sigma::{CompiledRuleSet, CorrelationHit, CorrelationState, FlatEvent, RuleSet};

const BASE_RULES: &str = r#"
title: Failed logon
id: 0b0a0c8e-0000-4000-8000-000000000001
name: failed_logon
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4625}
  condition: selection
---
title: Successful logon
id: 0b0a0c8e-0000-4000-8000-000000000002
name: successful_logon
level: low
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4624}
  condition: selection
"#;

fn compile(docs: &[&str]) -> CompiledRuleSet {
    let mut set = RuleSet::default();
    set.add_yaml(BASE_RULES, "base.yml").unwrap();
    for (i, doc) in docs.iter().enumerate() {
        set.add_yaml(doc, &format!("doc{i}.yml")).unwrap();
    }
    let set = set.compile();
    assert!(set.errors().is_empty(), "{:?}", set.errors());
    set
}

fn logon(event_id: u32, user: &str, ip: &str) -> FlatEvent {
    let mut e = FlatEvent::windows("Security", event_id);
    e.push("TargetUserName", user);
    e.push("IpAddress", ip);
    e
}

/// Runs `events` (seconds, event) through the rules; returns the hits (with the
/// index of each event as evidence) and every standalone rule match's title.
fn run(
    set: &CompiledRuleSet,
    events: &[(i64, FlatEvent)],
) -> (Vec<CorrelationHit<usize>>, Vec<String>) {
    let mut state = CorrelationState::new(set);
    let mut hits = Vec::new();
    let mut reported = Vec::new();
    for (i, (seconds, event)) in events.iter().enumerate() {
        let matches = set.matches(event);
        reported.extend(
            matches
                .iter()
                .filter(|m| m.rule.standalone)
                .map(|m| m.rule.title.clone()),
        );
        if let Some(input) = set.correlation_input(&matches, event, seconds * 1000) {
            hits.extend(state.observe(set, &input, i));
        }
    }
    hits.extend(state.finish(set));
    (hits, reported)
}

const BRUTE_FORCE: &str = r#"
title: Brute force on one account
id: 0b0a0c8e-0000-4000-8000-0000000000b1
level: high
tags: [attack.credential-access, attack.t1110]
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: {gte: 3}
"#;

#[test]
fn event_count_fires_once_per_group_inside_the_timespan() {
    let set = compile(&[BRUTE_FORCE]);
    assert_eq!(set.correlation_rules().count(), 1);
    let events = vec![
        (0, logon(4625, "alice", "10.0.0.1")),
        (10, logon(4625, "bob", "10.0.0.1")),
        (60, logon(4625, "alice", "10.0.0.2")),
        (70, logon(4625, "bob", "10.0.0.1")),
        (120, logon(4625, "alice", "10.0.0.3")), // alice's third within 5 minutes
        (130, logon(4624, "alice", "10.0.0.3")),
        // carol: three failures, but spread over 12 minutes
        (200, logon(4625, "carol", "10.0.0.9")),
        (560, logon(4625, "carol", "10.0.0.9")),
        (920, logon(4625, "carol", "10.0.0.9")),
    ];
    let (hits, reported) = run(&set, &events);
    assert_eq!(hits.len(), 1, "{hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.rule.title, "Brute force on one account");
    assert_eq!(
        hit.group,
        vec![("TargetUserName".to_string(), "alice".to_string())]
    );
    assert_eq!((hit.count, hit.first_ms, hit.last_ms), (3, 0, 120_000));
    assert_eq!(hit.evidence, vec![0, 2, 4]);
    // The failed-logon rule only feeds the correlation (generate defaults to false); the
    // successful-logon rule is not correlated and reports as usual.
    assert_eq!(reported, vec!["Successful logon".to_string()]);
}

#[test]
fn generate_true_keeps_the_correlated_rules_reporting() {
    let set = compile(&[&BRUTE_FORCE.replace("timespan: 5m", "timespan: 5m\n  generate: true")]);
    let (_, reported) = run(&set, &[(0, logon(4625, "alice", "10.0.0.1"))]);
    assert_eq!(reported, vec!["Failed logon".to_string()]);
}

#[test]
fn value_count_counts_distinct_values_per_group() {
    let spray = r#"
title: Password spraying from one address
id: 0b0a0c8e-0000-4000-8000-0000000000b2
correlation:
  type: value_count
  rules: [0b0a0c8e-0000-4000-8000-000000000001]
  group-by: [IpAddress]
  timespan: 10m
  condition: {field: TargetUserName, gte: 3}
"#;
    let set = compile(&[spray]);
    let events = vec![
        (0, logon(4625, "alice", "10.0.0.66")),
        (5, logon(4625, "alice", "10.0.0.66")),
        (6, logon(4625, "alice", "10.0.0.7")),
        (10, logon(4625, "bob", "10.0.0.66")),
        (11, logon(4625, "bob", "10.0.0.7")),
        (20, logon(4625, "carol", "10.0.0.66")),
    ];
    let (hits, _) = run(&set, &events);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].group[0].1, "10.0.0.66");
    assert_eq!(hits[0].count, 3);
}

#[test]
fn temporal_ordered_chains_a_correlation_into_another() {
    // The specification's example: many failed logons, then a success, same user.
    let chain = r#"
title: Failed logons followed by a successful logon
id: 0b0a0c8e-0000-4000-8000-0000000000b3
level: critical
correlation:
  type: temporal_ordered
  rules: [many_failed, successful_logon]
  group-by: [TargetUserName]
  timespan: 10m
---
title: Many failed logons
id: 0b0a0c8e-0000-4000-8000-0000000000b4
name: many_failed
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 10m
  condition: {gte: 3}
"#;
    let set = compile(&[chain]);
    let events = vec![
        // dave succeeds first, then fails: wrong order, no hit
        (0, logon(4624, "dave", "10.0.0.4")),
        (1, logon(4625, "dave", "10.0.0.4")),
        (2, logon(4625, "dave", "10.0.0.4")),
        (3, logon(4625, "dave", "10.0.0.4")),
        // erin fails three times and then gets in
        (10, logon(4625, "erin", "10.0.0.5")),
        (11, logon(4625, "erin", "10.0.0.5")),
        (12, logon(4625, "erin", "10.0.0.5")),
        (300, logon(4624, "erin", "10.0.0.5")),
        // frank fails three times, gets in 20 minutes later: outside the timespan
        (20, logon(4625, "frank", "10.0.0.6")),
        (21, logon(4625, "frank", "10.0.0.6")),
        (22, logon(4625, "frank", "10.0.0.6")),
        (1500, logon(4624, "frank", "10.0.0.6")),
    ];
    let (hits, reported) = run(&set, &events);
    let titles: Vec<(&str, &str)> = hits
        .iter()
        .map(|h| (h.rule.title.as_str(), h.group[0].1.as_str()))
        .collect();
    // The inner correlation feeds the outer one and does not report by itself.
    assert_eq!(
        titles,
        vec![("Failed logons followed by a successful logon", "erin")]
    );
    assert_eq!(hits[0].evidence.last(), Some(&7));
    assert!(reported.is_empty(), "{reported:?}");
}

#[test]
fn temporal_with_aliases_groups_across_field_names() {
    let temporal = r#"
title: Logon failure and success from the same address
id: 0b0a0c8e-0000-4000-8000-0000000000b5
correlation:
  type: temporal
  rules: [failed_logon, successful_logon]
  group-by: [address]
  timespan: 1m
  aliases:
    address:
      failed_logon: IpAddress
      successful_logon: WorkstationIp
"#;
    let set = compile(&[temporal]);
    let mut success = logon(4624, "gina", "-");
    success.push("WorkstationIp", "192.0.2.1");
    let mut late = logon(4624, "gina", "-");
    late.push("WorkstationIp", "192.0.2.2");
    let events = vec![
        (0, success),
        (30, logon(4625, "gina", "192.0.2.1")), // any order, same address: hit
        (40, logon(4625, "gina", "192.0.2.2")),
        (200, late), // same address, too late
    ];
    let (hits, _) = run(&set, &events);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        hits[0].group,
        vec![("address".to_string(), "192.0.2.1".to_string())]
    );
}

#[test]
fn an_upper_bound_is_judged_when_the_window_closes() {
    let rare = r#"
title: A single failed logon for an account
id: 0b0a0c8e-0000-4000-8000-0000000000b6
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 1h
  condition: {lt: 2}
"#;
    let set = compile(&[rare]);
    let events = vec![
        (0, logon(4625, "hal", "10.0.0.1")),
        (10, logon(4625, "ivy", "10.0.0.1")),
        (20, logon(4625, "ivy", "10.0.0.1")),
        // hal again, in a new hour: his first window closed with one event
        (4000, logon(4625, "hal", "10.0.0.1")),
        (4010, logon(4625, "hal", "10.0.0.1")),
    ];
    let (hits, _) = run(&set, &events);
    let groups: Vec<(&str, u64)> = hits
        .iter()
        .map(|h| (h.group[0].1.as_str(), h.count))
        .collect();
    assert_eq!(groups, vec![("hal", 1)]);
}

#[test]
fn state_stays_bounded_with_many_groups() {
    let set = compile(&[BRUTE_FORCE]);
    let mut state = CorrelationState::new(&set);
    let total = watchpost_sigma::MAX_GROUPS + 20_000;
    for i in 0..total {
        let event = logon(4625, &format!("user{i}"), "10.0.0.1");
        let matches = set.matches(&event);
        let input = set.correlation_input(&matches, &event, 0).unwrap();
        assert!(state.observe(&set, &input, i).is_empty());
        assert!(state.groups() <= watchpost_sigma::MAX_GROUPS);
    }
    assert!(state.dropped_groups() > 0);
    // Once time moves past the timespan, every window is gone.
    assert!(state.expire(&set, 10 * 60_000).is_empty());
    assert_eq!(state.groups(), 0);
}

#[test]
fn unknown_references_and_cycles_are_reported_and_the_rest_load() {
    let mut set = RuleSet::default();
    set.add_yaml(BASE_RULES, "base.yml").unwrap();
    set.add_yaml(BRUTE_FORCE, "brute.yml").unwrap();
    set.add_yaml(
        r#"
title: Refers to nothing
id: c1
correlation: {type: event_count, rules: [no_such_rule], timespan: 5m, condition: {gte: 2}}
---
title: A
id: c2
name: cycle_a
correlation: {type: temporal, rules: [cycle_b, failed_logon], timespan: 5m}
---
title: B
id: c3
name: cycle_b
correlation: {type: temporal, rules: [cycle_a, failed_logon], timespan: 5m}
"#,
        "broken.yml",
    )
    .unwrap();
    let set = set.compile();
    assert_eq!(set.correlation_rules().count(), 1, "the brute-force one");
    let errors: Vec<String> = set.errors().iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("`no_such_rule`"), "{errors:?}");
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("broken.yml: correlation.rules"))
    );
}

#[test]
fn a_malformed_correlation_names_its_field() {
    let mut set = RuleSet::default();
    let err = set
        .add_yaml(
            "title: x\nid: x\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5 minutes\n  condition: {gte: 2}\n",
            "bad.yml",
        )
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("correlation.timespan"));
    assert_eq!(err.line, Some(6));
}

const ADMIN_FILTER: &str = r#"
title: Our administrators log on all the time
logsource: {product: windows, service: security}
filter:
  rules: [failed_logon, 0b0a0c8e-0000-4000-8000-000000000002]
  selection:
    TargetUserName|startswith: 'adm_'
  condition: selection
"#;

#[test]
fn a_filter_silences_its_rules_for_the_events_it_describes() {
    let set = compile(&[ADMIN_FILTER]);
    assert_eq!(set.filters(), 1);
    let titles = |e: &FlatEvent| -> Vec<String> {
        set.matches(e)
            .iter()
            .map(|m| m.rule.title.clone())
            .collect()
    };
    assert!(titles(&logon(4625, "adm_root", "10.0.0.1")).is_empty());
    assert!(titles(&logon(4624, "adm_root", "10.0.0.1")).is_empty());
    assert_eq!(
        titles(&logon(4625, "alice", "10.0.0.1")),
        vec!["Failed logon"]
    );
}

#[test]
fn a_filter_does_not_leak_into_a_rules_own_selection_patterns() {
    let rule = r#"
title: Any of them
id: 0b0a0c8e-0000-4000-8000-000000000003
logsource: {product: windows, service: security}
detection:
  sel_a: {EventID: 4740}
  sel_b: {EventID: 4767}
  condition: 1 of them
"#;
    let filter = r#"
title: Not the helpdesk
logsource: {product: windows}
filter:
  rules: [0b0a0c8e-0000-4000-8000-000000000003]
  helpdesk: {TargetUserName: helpdesk}
  condition: helpdesk
"#;
    let set = compile(&[rule, filter]);
    let titles = |e: &FlatEvent| {
        set.matches(e)
            .iter()
            .filter(|m| m.rule.title == "Any of them")
            .count()
    };
    // With `1 of them` also covering the filter's selection, any helpdesk event would match.
    assert_eq!(titles(&logon(4625, "helpdesk", "10.0.0.1")), 0);
    assert_eq!(titles(&logon(4740, "helpdesk", "10.0.0.1")), 0);
    assert_eq!(titles(&logon(4740, "alice", "10.0.0.1")), 1);
}

#[test]
fn a_filter_for_rules_that_are_not_loaded_is_reported() {
    let mut set = RuleSet::default();
    set.add_yaml(BASE_RULES, "base.yml").unwrap();
    set.add_yaml(
        &ADMIN_FILTER.replace("service: security", "service: system"),
        "filter.yml",
    )
    .unwrap();
    let set = set.compile();
    assert_eq!(set.errors().len(), 1);
    assert_eq!(set.errors()[0].field.as_deref(), Some("filter.rules"));
}
