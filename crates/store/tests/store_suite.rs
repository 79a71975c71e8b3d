//! The store's behaviour, checked identically on SQLite and PostgreSQL.
//!
//! Each case is an `async fn(Arc<dyn Store>)`; the `suite!` macro runs it once per backend,
//! each time on a fresh database.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use watchpost_core::{
    Alert, AlertStatus, Detection, Entity, Event, Incident, IncidentStatus, Severity,
};
use watchpost_store::{
    AlertQuery, Cursor, DetectionQuery, EventQuery, Sort, SortBy, Store, testing,
};

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let db = watchpost_store::testing::sqlite();
                super::$case(db.open().await).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(db) = watchpost_store::testing::postgres().await else { return };
                super::$case(db.open().await).await;
            })*
        }
    };
}

suite!(
    events_round_trip_with_every_filter,
    text_search_finds_rows_before_and_after_they_are_indexed,
    pagination_visits_every_event_once_in_order,
    a_redelivered_batch_is_stored_once,
    senders_register_and_report_when_they_were_last_seen,
    sessions_end_at_expiry_logout_and_key_revocation,
    api_keys_and_calls_are_kept,
    statistics_count_what_happened_in_the_range,
    large_batches_are_chunked,
    detections_filter_by_rule_host_ip_and_severity,
    alerts_upsert_by_fingerprint_and_filter,
    incidents_upsert_and_read_back,
    retention_deletes_only_what_aged_out,
    stats_count_rows_and_report_the_schema,
    the_outbox_keeps_notifications_until_delivered_and_records_every_attempt,
    silences_are_stored_and_listed_until_they_end,
    detections_stay_unfolded_until_their_alert_is_written,
    metrics_are_downsampled_into_minute_and_hour_series,
    a_search_past_the_query_timeout_is_stopped_and_the_store_goes_on,
    decisions_are_in_force_until_lifted_or_expired,
    actions_are_kept_with_their_history_and_queued_per_host,
    suppressions_are_kept_by_state,
);

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// Search is complete whether the full-text index has caught up with ingest or not, and
/// retention takes rows out of the index with them.
async fn text_search_finds_rows_before_and_after_they_are_indexed(store: Arc<dyn Store>) {
    store
        .insert_events(&(0..300).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let search = |text: &str| EventQuery {
        text: Some(text.into()),
        limit: Some(1000),
        ..Default::default()
    };
    let hits = |page: watchpost_store::Page<Event>| {
        let mut n: Vec<String> = page.items.iter().map(|e| e.labels["n"].clone()).collect();
        n.sort();
        n
    };
    // At once: the rows may not be indexed yet.
    let now = hits(store.query_events(&search("number 17 says")).await.unwrap());
    assert_eq!(now, ["17"]);
    // Rows the index does not have yet are matched as a substring, so "number 29" may also
    // find "number 290" for a moment; never less than the phrase.
    assert!(
        hits(store.query_events(&search("number 29")).await.unwrap()).contains(&"29".to_string())
    );
    // Once the indexer has had its pause.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        hits(store.query_events(&search("number 17 says")).await.unwrap()),
        ["17"]
    );
    // Indexed, whole words: "number 29" is not "number 290".
    assert_eq!(
        hits(store.query_events(&search("NUMBER 29")).await.unwrap()),
        ["29"]
    );
    assert!(
        hits(
            store
                .query_events(&search("number 17 shouts"))
                .await
                .unwrap()
        )
        .is_empty()
    );
    // Retention empties the index of what it deletes.
    store
        .purge(base_time() + Duration::days(1), base_time())
        .await
        .unwrap();
    assert!(hits(store.query_events(&search("number 17 says")).await.unwrap()).is_empty());
    store.insert_events(&[event(17)]).await.unwrap();
    assert_eq!(
        hits(store.query_events(&search("number 17 says")).await.unwrap()),
        ["17"]
    );
}

/// Event `i` of a deterministic mix of hosts, sources, categories, addresses and users.
fn event(i: i64) -> Event {
    let category = ["process", "network", "authentication"][(i % 3) as usize];
    let mut e = Event::from_json(serde_json::json!({
        "@timestamp": (base_time() + Duration::seconds(i)).to_rfc3339(),
        "event": {
            "category": [category],
            "action": if i % 2 == 0 { "exec" } else { "connect" },
            "module": if i % 4 == 0 { "agent" } else { "api" },
        },
        "host": {"name": format!("host-{}", i % 5)},
        "source": {"ip": format!("198.51.100.{}", i % 7)},
        "user": {"name": format!("user{}", i % 2)},
        "message": format!("event number {i} says Hello_World"),
    }))
    .unwrap();
    e.labels.insert("n".into(), i.to_string());
    e
}

async fn count(store: &Arc<dyn Store>, query: EventQuery) -> usize {
    let mut total = 0;
    let mut query = EventQuery {
        limit: Some(1000),
        ..query
    };
    loop {
        let page = store.query_events(&query).await.unwrap();
        total += page.items.len();
        match page.next_cursor {
            Some(c) => query.cursor = Some(Cursor::decode(&c).unwrap()),
            None => return total,
        }
    }
}

async fn events_round_trip_with_every_filter(store: Arc<dyn Store>) {
    let events: Vec<Event> = (0..210).map(event).collect();
    store.insert_events(&events).await.unwrap();

    let page = store
        .query_events(&EventQuery {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.items[0], events[209],
        "newest first, stored document identical"
    );

    let q = EventQuery::default;
    assert_eq!(count(&store, q()).await, 210);
    assert_eq!(
        count(
            &store,
            EventQuery {
                host: Some("host-3".into()),
                ..q()
            }
        )
        .await,
        42
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                source: Some("agent".into()),
                ..q()
            }
        )
        .await,
        53
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                category: Some("network".into()),
                ..q()
            }
        )
        .await,
        70
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                action: Some("exec".into()),
                ..q()
            }
        )
        .await,
        105
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                source_ip: Some("198.51.100.0".into()),
                ..q()
            }
        )
        .await,
        30
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                user: Some("user1".into()),
                ..q()
            }
        )
        .await,
        105
    );
    let from = base_time() + Duration::seconds(100);
    let to = base_time() + Duration::seconds(150);
    assert_eq!(
        count(
            &store,
            EventQuery {
                from: Some(from),
                to: Some(to),
                ..q()
            }
        )
        .await,
        50
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                host: Some("host-0".into()),
                from: Some(from),
                to: Some(to),
                ..q()
            }
        )
        .await,
        10
    );
    // Free text is case-insensitive and takes LIKE wildcards literally.
    assert_eq!(
        count(
            &store,
            EventQuery {
                text: Some("NUMBER 17 SAYS".into()),
                ..q()
            }
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                text: Some("hello_world".into()),
                ..q()
            }
        )
        .await,
        210
    );
    assert_eq!(
        count(
            &store,
            EventQuery {
                text: Some("hello%world".into()),
                ..q()
            }
        )
        .await,
        0
    );
}

async fn pagination_visits_every_event_once_in_order(store: Arc<dyn Store>) {
    // Several events share each timestamp, so ordering must fall back to the id.
    let events: Vec<Event> = (0..250)
        .map(|i| {
            let mut e = event(i);
            e.timestamp = base_time() + Duration::seconds(i / 4);
            e
        })
        .collect();
    store.insert_events(&events).await.unwrap();
    let mut seen = Vec::new();
    let mut query = EventQuery {
        limit: Some(40),
        ..Default::default()
    };
    let mut pages = 0;
    loop {
        let page = store.query_events(&query).await.unwrap();
        assert!(page.items.len() <= 40);
        pages += 1;
        seen.extend(page.items.iter().map(|e| (e.timestamp, e.id())));
        match page.next_cursor {
            Some(c) => query.cursor = Some(Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 7);
    assert_eq!(seen.len(), 250);
    assert_eq!(seen.iter().map(|s| s.1).collect::<HashSet<_>>().len(), 250);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first"
    );
}

async fn a_redelivered_batch_is_stored_once(store: Arc<dyn Store>) {
    // A sender retries a batch whose acknowledgement it lost: ids already stored are the
    // same records and are kept once, the new ones in the batch are added.
    let first: Vec<Event> = (1..10).map(event).collect();
    store.insert_events(&first).await.unwrap();
    let mut again = first.clone();
    again.extend((10..15).map(event));
    store.insert_events(&again).await.unwrap();
    assert_eq!(count(&store, EventQuery::default()).await, 14);
    let detections: Vec<Detection> = (0..3).map(detection).collect();
    store.insert_detections(&detections).await.unwrap();
    store.insert_detections(&detections).await.unwrap();
    let page = store
        .query_detections(&DetectionQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
}

async fn senders_register_and_report_when_they_were_last_seen(store: Arc<dyn Store>) {
    let sender = watchpost_store::Sender::enrolled(
        "p1",
        "edge-proxy",
        "proxy",
        "ab".repeat(32),
        base_time(),
    );
    store.insert_sender(&sender).await.unwrap();
    // Names are unique.
    let twin = watchpost_store::Sender {
        id: "p2".into(),
        ..sender.clone()
    };
    assert!(store.insert_sender(&twin).await.is_err());
    let seen = base_time() + chrono::Duration::minutes(5);
    store
        .touch_sender("p1", seen, Some("0.1.0"), Some("10.0.0.7"))
        .await
        .unwrap();
    let got = store.get_sender("p1").await.unwrap().unwrap();
    assert_eq!(got.last_seen, Some(seen));
    assert_eq!(got.version.as_deref(), Some("0.1.0"));
    assert_eq!(got.address.as_deref(), Some("10.0.0.7"));
    assert_eq!(got.secret_hash, sender.secret_hash);
    assert!(store.get_sender("nope").await.unwrap().is_none());
    let all = store.list_senders().await.unwrap();
    assert_eq!(all.len(), 1);
    // Rotation keeps the old secret for a grace period; revocation is recorded.
    let rotated = watchpost_store::Sender {
        secret_hash: "cd".repeat(32),
        previous_secret_hash: Some(sender.secret_hash.clone()),
        previous_valid_until: Some(seen),
        revoked_at: Some(seen),
        ..got
    };
    assert!(store.update_sender_credentials(&rotated).await.unwrap());
    let got = store.get_sender("p1").await.unwrap().unwrap();
    assert_eq!(got.secret_hash, rotated.secret_hash);
    assert_eq!(got.previous_secret_hash, rotated.previous_secret_hash);
    assert_eq!(got.previous_valid_until, Some(seen));
    assert_eq!(got.revoked_at, Some(seen));
    let missing = watchpost_store::Sender {
        id: "nope".into(),
        ..rotated
    };
    assert!(!store.update_sender_credentials(&missing).await.unwrap());
}

async fn sessions_end_at_expiry_logout_and_key_revocation(store: Arc<dyn Store>) {
    let now = base_time();
    let session = |id: &str, key: &str, minutes: i64| watchpost_store::Session {
        id_hash: id.into(),
        key_id: key.into(),
        created_at: now,
        expires_at: now + chrono::Duration::minutes(minutes),
    };
    store
        .insert_session(&session("s1", "k1", 60))
        .await
        .unwrap();
    store
        .insert_session(&session("s2", "k1", 60))
        .await
        .unwrap();
    store
        .insert_session(&session("s3", "k2", 60))
        .await
        .unwrap();
    store.insert_session(&session("s4", "k2", 1)).await.unwrap();
    assert_eq!(
        store.get_session("s1", now).await.unwrap(),
        Some(session("s1", "k1", 60))
    );
    let later = now + chrono::Duration::minutes(2);
    assert!(
        store.get_session("s4", later).await.unwrap().is_none(),
        "expired"
    );
    store.delete_session("s1").await.unwrap();
    assert!(store.get_session("s1", now).await.unwrap().is_none());
    // k1's remaining session and the expired one go; k2's live one stays.
    assert_eq!(store.delete_sessions(Some("k1"), later).await.unwrap(), 2);
    assert!(store.get_session("s2", now).await.unwrap().is_none());
    assert!(store.get_session("s3", now).await.unwrap().is_some());
}

async fn api_keys_and_calls_are_kept(store: Arc<dyn Store>) {
    let key = watchpost_store::ApiKey {
        id: "k1abc".into(),
        name: "ci".into(),
        role: "analyst".into(),
        secret_hmac: "cd".repeat(32),
        created_at: base_time(),
        expires_at: Some(base_time() + chrono::Duration::days(30)),
        last_used_at: None,
    };
    store.insert_api_key(&key).await.unwrap();
    assert!(store.insert_api_key(&key).await.is_err(), "ids are unique");
    let used = base_time() + chrono::Duration::minutes(3);
    store.touch_api_key("k1abc", used).await.unwrap();
    let got = store.get_api_key("k1abc").await.unwrap().unwrap();
    assert_eq!(got.last_used_at, Some(used));
    assert_eq!(got.expires_at, key.expires_at);
    assert_eq!(
        (got.role.as_str(), got.secret_hmac.as_str()),
        ("analyst", key.secret_hmac.as_str())
    );
    assert_eq!(store.list_api_keys().await.unwrap().len(), 1);
    assert!(store.delete_api_key("k1abc").await.unwrap());
    assert!(!store.delete_api_key("k1abc").await.unwrap());
    assert!(store.get_api_key("k1abc").await.unwrap().is_none());

    for (i, status) in [201u16, 403, 204].into_iter().enumerate() {
        store
            .insert_api_call(&watchpost_store::ApiCall {
                id: format!("call-{i}"),
                at: base_time() + chrono::Duration::seconds(i as i64),
                actor: "ci (k1abc)".into(),
                role: "analyst".into(),
                method: "POST".into(),
                path: "/api/v1/silences".into(),
                status,
                client_ip: Some("10.0.0.9".into()),
            })
            .await
            .unwrap();
    }
    assert!(store.set_rule_enabled("r1", false, "ana").await.unwrap());
    assert!(
        !store.set_rule_enabled("r1", false, "ana").await.unwrap(),
        "already off"
    );
    let off = store.disabled_rules().await.unwrap();
    assert_eq!((off.len(), off[0].disabled_by.as_str()), (1, "ana"));
    assert!(store.set_rule_enabled("r1", true, "ana").await.unwrap());
    assert!(store.disabled_rules().await.unwrap().is_empty());

    let calls = store.recent_api_calls(2).await.unwrap();
    let statuses: Vec<u16> = calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [204, 403], "newest first, bounded");
    assert_eq!(calls[0].client_ip.as_deref(), Some("10.0.0.9"));
}

async fn statistics_count_what_happened_in_the_range(store: Arc<dyn Store>) {
    // 30 detections one second apart: severities cycle over 5, rules over 3, hosts over
    // 2, addresses over 4; rule-0 carries ATT&CK tags.
    let detections: Vec<Detection> = (0..30)
        .map(|i| {
            let mut d = detection(i);
            if d.rule_id == "rule-0" {
                d.attack.tactics = vec!["TA0002".into()];
                d.attack.techniques = vec!["T1059".into()];
            }
            d
        })
        .collect();
    store.insert_detections(&detections).await.unwrap();
    store
        .insert_events(&(0..12).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    let from = base_time();
    let stats = store
        .statistics(from, from + Duration::seconds(20), 10)
        .await
        .unwrap();
    assert_eq!(
        stats.detections, 20,
        "the range is half-open: seconds 0 to 19"
    );
    assert_eq!(stats.events, 12);
    let severity: i64 = stats.by_severity.iter().map(|c| c.count).sum();
    assert_eq!(severity, 20);
    assert!(
        stats.by_severity.iter().all(|c| c.count == 4),
        "{:?}",
        stats.by_severity
    );
    assert_eq!(stats.by_host.len(), 2);
    assert_eq!(stats.by_source_ip.len(), 4);
    assert_eq!(stats.by_detector[0].key, "sigma");
    let rule0 = stats
        .by_rule
        .iter()
        .find(|r| r.rule_id == "rule-0")
        .unwrap();
    assert_eq!((rule0.count, rule0.title.as_str()), (7, "Test rule"));
    assert_eq!(rule0.tactics, ["TA0002"]);
    assert_eq!(rule0.techniques, ["T1059"]);
    assert_eq!(stats.bucket_seconds, 10);
    let per_bucket: Vec<i64> = stats
        .over_time
        .iter()
        .map(|b| b.by_severity.values().sum())
        .collect();
    assert_eq!(per_bucket, [10, 10]);
    let hosts = store.hosts(from + Duration::days(1)).await.unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(names, ["host-0", "host-1"]);
    assert_eq!(hosts[1].last_seen, Some(from + Duration::seconds(29)));
    assert_eq!(stats.over_time[1].start, from + Duration::seconds(10));
}

async fn large_batches_are_chunked(store: Arc<dyn Store>) {
    let events: Vec<Event> = (0..2500).map(event).collect();
    store.insert_events(&events).await.unwrap();
    assert_eq!(count(&store, EventQuery::default()).await, 2500);
}

fn detection(i: i64) -> Detection {
    let severity = Severity::ALL[(i % 5) as usize];
    let mut d = Detection::new(&format!("rule-{}", i % 3), "Test rule", severity, "sigma");
    d.timestamp = base_time() + Duration::seconds(i);
    d.host = Some(format!("host-{}", i % 2));
    d.entity = Some(Entity::Ip {
        ip: format!("203.0.113.{}", i % 4),
    });
    d
}

async fn detections_stay_unfolded_until_their_alert_is_written(store: Arc<dyn Store>) {
    let detections: Vec<Detection> = (0..1200).map(detection).collect();
    store.insert_detections(&detections).await.unwrap();
    let unfolded = store.unfolded_detections(2000).await.unwrap();
    assert_eq!(unfolded.len(), 1200);
    assert_eq!(unfolded[0], detections[0], "oldest first");
    assert_eq!(store.unfolded_detections(10).await.unwrap().len(), 10);

    // The alert and the marks go together; more ids than one UPDATE takes.
    let alert = Alert::from_detection(&detections[0], BTreeMap::new());
    let ids: Vec<uuid::Uuid> = detections[..1100].iter().map(|d| d.id).collect();
    store
        .fold_into_alerts(std::slice::from_ref(&alert), &ids)
        .await
        .unwrap();
    let left = store.unfolded_detections(2000).await.unwrap();
    assert_eq!(left, detections[1100..].to_vec());
    assert!(
        store
            .get_alert_by_fingerprint(&alert.fingerprint)
            .await
            .unwrap()
            .is_some()
    );
}

async fn metrics_are_downsampled_into_minute_and_hour_series(store: Arc<dyn Store>) {
    use watchpost_store::metrics::MetricSample;
    // Two hours of CPU samples every 10 s: 10 + (i mod 60), so each minute averages the
    // same and each minute's min/max are known.
    let start = base_time();
    let samples: Vec<MetricSample> = (0..720)
        .map(|i| MetricSample {
            host: "web-1".into(),
            metric: "cpu.percent".into(),
            at: start + Duration::seconds(10 * i),
            value: 10.0 + (i % 60) as f64,
        })
        .collect();
    // In two writes, so that buckets written twice add up.
    store.record_metric_samples(&samples[..300]).await.unwrap();
    store.record_metric_samples(&samples[300..]).await.unwrap();
    let series = |host: &'static str, hours: i64, step: i64| {
        let store = store.clone();
        async move {
            store
                .metric_series(
                    host,
                    "cpu.percent",
                    start,
                    start + Duration::hours(hours),
                    step,
                )
                .await
        }
    };

    let minutes = series("web-1", 2, 60).await.unwrap();
    assert_eq!(minutes.len(), 120);
    assert!(minutes.iter().all(|p| p.samples == 6));
    assert_eq!(minutes[0].at, start);
    assert_eq!((minutes[0].min, minutes[0].max), (10.0, 15.0));
    assert!((minutes[0].avg - 12.5).abs() < 1e-9);

    // A `from` between whole steps is rounded down: points stay on the minute.
    let unaligned = store
        .metric_series(
            "web-1",
            "cpu.percent",
            start + Duration::seconds(30),
            start + Duration::hours(2),
            60,
        )
        .await
        .unwrap();
    assert_eq!(unaligned[0].at, start);
    assert_eq!(unaligned.len(), 120);

    let fives = series("web-1", 2, 300).await.unwrap();
    assert_eq!(fives.len(), 24);
    assert!(fives.iter().all(|p| p.samples == 30));

    let hours = series("web-1", 2, 3600).await.unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].samples, 360);
    assert_eq!((hours[0].min, hours[0].max), (10.0, 69.0));
    assert!((hours[0].avg - 39.5).abs() < 1e-9);

    assert!(series("web-2", 2, 60).await.unwrap().is_empty());
    let too_many = series("web-1", 720, 60).await.unwrap_err();
    assert!(
        too_many.to_string().contains("widen the step"),
        "{too_many}"
    );

    // Minute rollups go with events, hourly ones with alerts.
    let report = store.purge(start + Duration::days(1), start).await.unwrap();
    assert_eq!(report.metric_rollups, 120);
    let hours = series("web-1", 2, 3600).await.unwrap();
    assert_eq!(hours.len(), 2);
}

async fn decisions_are_in_force_until_lifted_or_expired(store: Arc<dyn Store>) {
    use watchpost_core::{Decision, DecisionScope};
    let now = watchpost_core::time::now_millis();
    let decision = |value: &str, hours: i64, simulated: bool| Decision {
        id: 0,
        kind: "ban".into(),
        scope: DecisionScope::Ip,
        value: value.into(),
        origin: "cli".into(),
        reason: "test".into(),
        created_at: now,
        until: now + Duration::hours(hours),
        simulated,
        deleted_at: None,
        deleted_by: None,
    };
    let a = store
        .insert_decision(&decision("203.0.113.1", 4, false))
        .await
        .unwrap();
    let b = store
        .insert_decision(&decision("203.0.113.2", 1, false))
        .await
        .unwrap();
    let s = store
        .insert_decision(&decision("203.0.113.3", 4, true))
        .await
        .unwrap();
    assert!(a < b && b < s, "ids in order of creation");
    let values = |ds: Vec<Decision>| ds.into_iter().map(|d| d.value).collect::<Vec<_>>();
    assert_eq!(
        values(store.decisions_in_force(now, None, false).await.unwrap()),
        ["203.0.113.1", "203.0.113.2"]
    );
    assert_eq!(
        store
            .decisions_in_force(now, None, true)
            .await
            .unwrap()
            .len(),
        3
    );
    // Lifted a minute on; lifting again finds nothing in force.
    let lifted = store
        .lift_decision(a, "api:alice", now + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lifted.deleted_by.as_deref(), Some("api:alice"));
    assert!(
        store
            .lift_decision(a, "x", now + Duration::minutes(2))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .lift_decision(999_999, "x", now)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        values(
            store
                .decisions_in_force(now + Duration::minutes(2), None, false)
                .await
                .unwrap()
        ),
        ["203.0.113.2"]
    );
    // Ended: the lifted one in its minute, the expired one at its hour; never the simulated.
    assert_eq!(
        values(
            store
                .decisions_ended_between(now, now + Duration::minutes(5))
                .await
                .unwrap()
        ),
        ["203.0.113.1"]
    );
    assert_eq!(
        values(
            store
                .decisions_ended_between(now + Duration::minutes(5), now + Duration::hours(5))
                .await
                .unwrap()
        ),
        ["203.0.113.2"]
    );
    assert!(store.get_decision(s).await.unwrap().unwrap().simulated);
    // A live lookup reads the address's own bans and the network bans, never the rest.
    let range = store
        .insert_decision(&Decision {
            scope: DecisionScope::Range,
            ..decision("198.51.100.0/24", 4, false)
        })
        .await
        .unwrap();
    let about = store
        .decisions_in_force_for(now, "203.0.113.2")
        .await
        .unwrap();
    assert_eq!(about.iter().map(|d| d.id).collect::<Vec<_>>(), [b, range]);
    store.lift_decision(range, "t", now).await.unwrap();
    let later = now + Duration::seconds(1);
    let c = store
        .insert_decision(&Decision {
            created_at: later,
            ..decision("203.0.113.4", 4, false)
        })
        .await
        .unwrap();
    let made_after = store
        .decisions_in_force(later, Some(now), false)
        .await
        .unwrap();
    assert_eq!(made_after.iter().map(|d| d.id).collect::<Vec<_>>(), [c]);
    assert_eq!(
        values(store.recent_decisions(2).await.unwrap()),
        ["203.0.113.4", "198.51.100.0/24"]
    );
}

/// A search that scans every row (a free-text filter on detections has no index) is stopped
/// at the bound with an error that says so; the connections it ran on are disarmed, so the
/// writes and reads that follow are not stopped.
async fn a_search_past_the_query_timeout_is_stopped_and_the_store_goes_on(store: Arc<dyn Store>) {
    let mut detections: Vec<Detection> = (0..50_000).map(detection).collect();
    for d in &mut detections {
        d.summary = "x".repeat(400);
    }
    for chunk in detections.chunks(5000) {
        store.insert_detections(chunk).await.unwrap();
    }
    let scan = DetectionQuery {
        text: Some("no such words anywhere".into()),
        ..DetectionQuery::default()
    };
    store.set_query_timeout(std::time::Duration::from_millis(1));
    // Enough stopped searches to pass through every pooled connection.
    for _ in 0..8 {
        match store.query_detections(&scan).await {
            Err(watchpost_store::StoreError::QueryTimeout { seconds: 1 }) => {}
            other => panic!("expected the query timeout, got {other:?}"),
        }
    }
    // Unbounded work on the same connections, with the 1 ms bound still set.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for i in 0..8 {
        let more: Vec<Event> = (i * 1000..(i + 1) * 1000).map(event).collect();
        store.insert_events(&more).await.unwrap();
    }
    assert!(store.condition().write_failure.is_none());
    assert!(store.condition().damage.is_none());
    store.set_query_timeout(watchpost_store::DEFAULT_QUERY_TIMEOUT);
    assert!(
        store
            .query_detections(&scan)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(count(&store, EventQuery::default()).await, 8000);
}

async fn detections_filter_by_rule_host_ip_and_severity(store: Arc<dyn Store>) {
    let detections: Vec<Detection> = (0..60).map(detection).collect();
    store.insert_detections(&detections).await.unwrap();
    let all = |q: DetectionQuery| {
        let store = store.clone();
        async move {
            store
                .query_detections(&DetectionQuery {
                    limit: Some(1000),
                    ..q
                })
                .await
                .unwrap()
                .items
        }
    };
    let q = DetectionQuery::default;
    let everything = all(q()).await;
    assert_eq!(everything.len(), 60);
    assert_eq!(everything[0], detections[59]);
    assert_eq!(
        all(DetectionQuery {
            rule_id: Some("rule-1".into()),
            ..q()
        })
        .await
        .len(),
        20
    );
    assert_eq!(
        all(DetectionQuery {
            host: Some("host-1".into()),
            ..q()
        })
        .await
        .len(),
        30
    );
    assert_eq!(
        all(DetectionQuery {
            source_ip: Some("203.0.113.2".into()),
            ..q()
        })
        .await
        .len(),
        15
    );
    let high = all(DetectionQuery {
        min_severity: Some(Severity::High),
        ..q()
    })
    .await;
    assert_eq!(high.len(), 24);
    // Free text, in any case, anywhere in the document: the rule id here.
    let text = all(DetectionQuery {
        text: Some("RULE-1".into()),
        ..q()
    })
    .await;
    assert_eq!(text.len(), 20);
    assert!(text.iter().all(|d| d.rule_id == "rule-1"));
    assert!(high.iter().all(|d| d.severity >= Severity::High));
    let page = store
        .query_detections(&DetectionQuery {
            limit: Some(25),
            ..q()
        })
        .await
        .unwrap();
    let rest = all(DetectionQuery {
        cursor: Some(Cursor::decode(&page.next_cursor.unwrap()).unwrap()),
        ..q()
    })
    .await;
    assert_eq!(page.items.len() + rest.len(), 60);
}

async fn alerts_upsert_by_fingerprint_and_filter(store: Arc<dyn Store>) {
    let first = detection(1);
    let mut alert = Alert::from_detection(&first, BTreeMap::new());
    store.upsert_alert(&alert).await.unwrap();
    // The same fingerprint arriving as a new alert value updates the stored one in place.
    let mut repeat = Alert::from_detection(&detection(13), BTreeMap::new());
    assert_eq!(repeat.fingerprint, alert.fingerprint);
    repeat.count = 2;
    store.upsert_alert(&repeat).await.unwrap();
    let stored = store
        .get_alert(alert.id)
        .await
        .unwrap()
        .expect("kept its first id");
    assert_eq!(stored.count, 2);
    assert_eq!(stored.id, alert.id);
    assert!(store.get_alert(repeat.id).await.unwrap().is_none());

    for i in 10..30 {
        let mut a = Alert::from_detection(
            &detection(i),
            BTreeMap::from([("n".to_string(), i.to_string())]),
        );
        if i % 2 == 0 {
            a.status = AlertStatus::Acknowledged;
        }
        store.upsert_alert(&a).await.unwrap();
    }
    let list = |q: AlertQuery| {
        let store = store.clone();
        async move {
            store
                .query_alerts(&AlertQuery {
                    limit: Some(1000),
                    ..q
                })
                .await
                .unwrap()
                .items
        }
    };
    assert_eq!(list(AlertQuery::default()).await.len(), 21);
    assert_eq!(
        list(AlertQuery {
            status: Some(AlertStatus::Acknowledged),
            ..Default::default()
        })
        .await
        .len(),
        10
    );
    let critical = list(AlertQuery {
        min_severity: Some(Severity::Critical),
        ..Default::default()
    })
    .await;
    assert_eq!(critical.len(), 4);
    assert_eq!(
        list(AlertQuery {
            host: Some("host-0".into()),
            ..Default::default()
        })
        .await
        .len(),
        10
    );
    assert_eq!(
        list(AlertQuery {
            source_ip: Some("203.0.113.1".into()),
            ..Default::default()
        })
        .await
        .len(),
        6
    );
    assert_eq!(
        list(AlertQuery {
            rule_id: Some("rule-2".into()),
            ..Default::default()
        })
        .await
        .len(),
        7
    );
    assert_eq!(
        list(AlertQuery {
            text: Some("Rule-2".into()),
            ..Default::default()
        })
        .await
        .len(),
        7,
        "free text finds the same alerts"
    );

    // Sorted by severity, most severe first, paged three at a time through cursors: every
    // alert once, in order, ties by id.
    let by_severity = Sort {
        by: SortBy::Severity,
        ascending: false,
    };
    let mut seen: Vec<Alert> = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .query_alerts(&AlertQuery {
                sort: by_severity,
                limit: Some(3),
                cursor: cursor.take(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(Cursor::decode(&next).unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 21);
    let keys: Vec<(Severity, String)> = seen
        .iter()
        .map(|a| (a.severity, a.id.to_string()))
        .collect();
    let mut expected = keys.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(keys, expected, "most severe first, then by id");
    // First sighting, oldest first.
    let oldest_first = list(AlertQuery {
        sort: Sort {
            by: SortBy::FirstSeen,
            ascending: true,
        },
        ..Default::default()
    })
    .await;
    assert!(
        oldest_first
            .windows(2)
            .all(|w| w[0].first_seen <= w[1].first_seen)
    );
    assert_ne!(
        oldest_first.first().map(|a| a.id),
        list(AlertQuery::default()).await.first().map(|a| a.id),
        "not the default order"
    );

    alert.status = AlertStatus::Resolved;
    alert.count = 3;
    store.upsert_alert(&alert).await.unwrap();
    assert_eq!(
        store.get_alert(alert.id).await.unwrap().unwrap().status,
        AlertStatus::Resolved
    );
}

async fn incidents_upsert_and_read_back(store: Arc<dyn Store>) {
    let mut incident = Incident::new("Credential stuffing against /login", Severity::High);
    store.upsert_incident(&incident).await.unwrap();
    incident.status = IncidentStatus::Investigating;
    incident.assignee = Some("maya".into());
    store.upsert_incident(&incident).await.unwrap();
    assert_eq!(
        store.get_incident(incident.id).await.unwrap(),
        Some(incident.clone())
    );
    assert_eq!(
        store.get_incident(uuid::Uuid::now_v7()).await.unwrap(),
        None
    );
    let mut other = Incident::new("Web shell", Severity::Critical);
    other.updated_at = incident.updated_at + Duration::seconds(5);
    store.upsert_incident(&other).await.unwrap();
    let ids = |list: Vec<Incident>| list.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.query_incidents(None, None, 10).await.unwrap()),
        [other.id, incident.id]
    );
    assert_eq!(
        ids(store.query_incidents(Some("open"), None, 10).await.unwrap()),
        [other.id]
    );
    assert_eq!(
        ids(store
            .query_incidents(None, Some(other.updated_at), 10)
            .await
            .unwrap()),
        [other.id]
    );
    assert_eq!(store.query_incidents(None, None, 1).await.unwrap().len(), 1);
}

async fn retention_deletes_only_what_aged_out(store: Arc<dyn Store>) {
    let now = base_time() + Duration::days(100);
    let old: Vec<Event> = (0..30).map(event).collect();
    let recent: Vec<Event> = (0..12)
        .map(|i| {
            let mut e = event(i);
            e.timestamp = now - Duration::days(1);
            e
        })
        .collect();
    store.insert_events(&old).await.unwrap();
    store.insert_events(&recent).await.unwrap();
    store.insert_detections(&[detection(1)]).await.unwrap();

    let mut resolved_old = Alert::from_detection(&detection(1), BTreeMap::new());
    resolved_old.status = AlertStatus::Resolved;
    let firing_old = Alert::from_detection(&detection(2), BTreeMap::new());
    let mut resolved_recent = Alert::from_detection(&detection(3), BTreeMap::new());
    resolved_recent.status = AlertStatus::Resolved;
    resolved_recent.last_seen = now - Duration::days(2);
    for a in [&resolved_old, &firing_old, &resolved_recent] {
        store.upsert_alert(a).await.unwrap();
    }
    let mut closed_old = Incident::new("old", Severity::Low);
    closed_old.status = IncidentStatus::Closed;
    closed_old.updated_at = base_time();
    store.upsert_incident(&closed_old).await.unwrap();

    // Events older than 30 days go; alerts and incidents get 90 days.
    let report = store
        .purge(now - Duration::days(30), now - Duration::days(90))
        .await
        .unwrap();
    assert_eq!(
        (
            report.events,
            report.detections,
            report.alerts,
            report.incidents
        ),
        (30, 1, 1, 1)
    );
    assert_eq!(count(&store, EventQuery::default()).await, 12);
    assert!(store.get_alert(resolved_old.id).await.unwrap().is_none());
    assert!(
        store.get_alert(firing_old.id).await.unwrap().is_some(),
        "open alerts are kept"
    );
    assert!(store.get_alert(resolved_recent.id).await.unwrap().is_some());
    assert!(store.get_incident(closed_old.id).await.unwrap().is_none());
    let again = store
        .purge(now - Duration::days(30), now - Duration::days(90))
        .await
        .unwrap();
    assert_eq!(again, Default::default());
}

async fn stats_count_rows_and_report_the_schema(store: Arc<dyn Store>) {
    store
        .insert_events(&(0..75).map(event).collect::<Vec<_>>())
        .await
        .unwrap();
    store
        .insert_detections(&(0..4).map(detection).collect::<Vec<_>>())
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.backend, store.backend());
    assert_eq!(stats.schema_version, 13);
    let rows: Vec<(String, i64)> = stats
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.rows))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("events".into(), 75),
            ("detections".into(), 4),
            ("alerts".into(), 0),
            ("incidents".into(), 0),
            ("notifications".into(), 0)
        ]
    );
    let events = &stats.tables[0];
    assert!(
        events.bytes.unwrap() > 0,
        "event table size known: {stats:?}"
    );
    assert!(stats.total_bytes.unwrap() >= events.bytes.unwrap());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn reopening_an_existing_database_keeps_its_data() {
    let db = testing::sqlite();
    db.open().await.insert_events(&[event(1)]).await.unwrap();
    let store = db.open().await;
    assert_eq!(count(&store, EventQuery::default()).await, 1);
}

fn notification(alert: &Alert, at: DateTime<Utc>) -> watchpost_alert::Notification {
    watchpost_alert::Notification {
        id: uuid::Uuid::now_v7(),
        kind: watchpost_alert::NotificationKind::Firing,
        receiver: "ops".into(),
        route: "root".into(),
        group_key: "root{}".into(),
        group_labels: BTreeMap::new(),
        alerts: vec![alert.clone()],
        truncated: 0,
        silence: None,
        created_at: at,
    }
}

async fn the_outbox_keeps_notifications_until_delivered_and_records_every_attempt(
    store: Arc<dyn Store>,
) {
    use watchpost_store::{AttemptOutcome, DeliveryStatus};
    let alert = Alert::from_detection(&detection(1), BTreeMap::new());
    store.upsert_alert(&alert).await.unwrap();
    let t = base_time();
    let first = notification(&alert, t);
    let second = notification(&alert, t + Duration::seconds(1));
    let trace = watchpost_alert::TraceEntry {
        alert_id: alert.id,
        at: t,
        stage: watchpost_alert::Stage::Route,
        verdict: watchpost_alert::Verdict::Passed,
        route: Some("root".into()),
        receiver: Some("ops".into()),
        detail: "route root takes it".into(),
    };
    let mut resolved = alert.clone();
    resolved.status = AlertStatus::Resolved;
    store
        .record_pipeline(
            &[first.clone(), second.clone()],
            std::slice::from_ref(&trace),
            &[resolved],
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_alert(alert.id).await.unwrap().unwrap().status,
        AlertStatus::Resolved,
        "the pipeline's state change is stored with its notices"
    );
    assert_eq!(store.alert_trace(alert.id).await.unwrap(), vec![trace]);
    let never_told = uuid::Uuid::now_v7();
    assert_eq!(
        store
            .notified_alerts(&[alert.id, never_told])
            .await
            .unwrap(),
        std::collections::HashSet::from([alert.id])
    );
    assert_eq!(store.next_due_notification().await.unwrap(), Some(t));
    let due = store.due_notifications(t, 10).await.unwrap();
    assert_eq!(due.len(), 1, "the second is not due yet");
    assert_eq!(due[0].notification, first);

    store
        .record_attempt(
            first.id,
            "ops (webhook)",
            &AttemptOutcome::Retry {
                error: "HTTP 503".into(),
                retry_at: t + Duration::seconds(30),
            },
            t,
        )
        .await
        .unwrap();
    let due = store
        .due_notifications(t + Duration::seconds(5), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].notification.id, second.id,
        "the retry waits its turn"
    );
    store
        .record_attempt(
            first.id,
            "ops (webhook)",
            &AttemptOutcome::Sent {
                detail: "HTTP 200".into(),
            },
            t + Duration::seconds(30),
        )
        .await
        .unwrap();
    store
        .record_attempt(
            second.id,
            "ops (webhook)",
            &AttemptOutcome::Dead {
                error: "HTTP 400: bad payload".into(),
            },
            t + Duration::seconds(31),
        )
        .await
        .unwrap();
    assert!(
        store
            .due_notifications(t + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = store
        .query_notifications(Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 400: bad payload"));

    let history = store.alert_notifications(alert.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].entry.status, DeliveryStatus::Sent);
    assert_eq!(history[0].entry.attempts, 2);
    let outcomes: Vec<&str> = history[0]
        .attempts_made
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["failed", "sent"]);

    // A dead letter can be sent again; a sent one cannot.
    assert!(
        store
            .requeue_notification(second.id, "ana", t + Duration::seconds(60))
            .await
            .unwrap()
    );
    assert!(
        !store
            .requeue_notification(first.id, "ana", t + Duration::seconds(60))
            .await
            .unwrap()
    );
    let again = store.get_notification(second.id).await.unwrap().unwrap();
    assert_eq!(again.entry.status, DeliveryStatus::Pending);
    assert_eq!(again.attempts_made.last().unwrap().outcome, "requeued");
}

async fn silences_are_stored_and_listed_until_they_end(store: Arc<dyn Store>) {
    let t = base_time();
    let silence = watchpost_alert::Silence {
        id: uuid::Uuid::now_v7(),
        matchers: vec!["host=\"db-1\"".into()],
        starts_at: t,
        ends_at: t + Duration::hours(2),
        created_by: "ana".into(),
        comment: "maintenance".into(),
        created_at: t,
    };
    store.upsert_silence(&silence).await.unwrap();
    assert_eq!(store.list_silences(t).await.unwrap(), vec![silence.clone()]);
    let mut expired = silence.clone();
    expired.ends_at = t + Duration::minutes(5);
    store.upsert_silence(&expired).await.unwrap();
    assert!(
        store
            .list_silences(t + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_silence(silence.id).await.unwrap(),
        Some(expired),
        "expiring keeps the silence in history"
    );
}

async fn actions_are_kept_with_their_history_and_queued_per_host(store: Arc<dyn Store>) {
    use watchpost_core::{Action, ActionKind, ActionState, ActionTarget};
    use watchpost_store::ActionQuery;
    let incident = uuid::Uuid::now_v7();
    let mut kill = Action::new(
        ActionKind::KillProcess,
        ActionTarget::Process {
            host: "web-1".into(),
            pid: 4242,
        },
        "playbook:contain",
        "shell from the web server",
    );
    kill.incident_id = Some(incident);
    kill.step(ActionState::Queued, "playbook:contain", "automatic");
    store.upsert_action(&kill).await.unwrap();
    let mut ban = Action::new(
        ActionKind::BlockAddress,
        ActionTarget::Address {
            ip: "203.0.113.7".into(),
        },
        "playbook:contain",
        "sqli",
    );
    ban.incident_id = Some(incident);
    ban.ttl_seconds = 60;
    ban.done_at = Some(Utc::now() - Duration::minutes(2));
    ban.step(ActionState::Done, "watchpost", "decision 1 made");
    store.upsert_action(&ban).await.unwrap();
    let queued = store
        .query_actions(&ActionQuery {
            state: Some(ActionState::Queued),
            host: Some("web-1".into()),
            limit: 10,
            oldest_first: true,
            ..ActionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(queued, [kill.clone()], "the agent of web-1 sees its kill");
    assert!(
        store
            .query_actions(&ActionQuery {
                host: Some("web-2".into()),
                limit: 10,
                ..ActionQuery::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    let of_incident = store
        .query_actions(&ActionQuery {
            incident: Some(incident),
            limit: 10,
            ..ActionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(of_incident.len(), 2);
    let expired = store.expired_actions(Utc::now(), 10).await.unwrap();
    assert_eq!(expired.iter().map(|a| a.id).collect::<Vec<_>>(), [ban.id]);
    kill.step(ActionState::Done, "agent:web-1", "killed 1 process");
    store.upsert_action(&kill).await.unwrap();
    let back = store.get_action(kill.id).await.unwrap().unwrap();
    assert_eq!(back.state, ActionState::Done);
    assert_eq!(back.history.len(), 2);
    assert!(
        store.expired_actions(Utc::now(), 10).await.unwrap().len() == 1,
        "a kill does not expire"
    );
}

async fn suppressions_are_kept_by_state(store: Arc<dyn Store>) {
    use watchpost_core::{Replay, Suppression, SuppressionState};
    let mut d = Detection::new("sigma.x", "x", Severity::High, "sigma");
    d.host = Some("backup-1".into());
    store
        .insert_detections(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(
        store.get_detection(d.id).await.unwrap().unwrap().rule_id,
        "sigma.x"
    );
    let mut s = Suppression {
        replay: Replay {
            would_suppress: 3,
            of: 10,
            days: 30,
            truncated: false,
        },
        ..Suppression::proposed(
            "sigma.x",
            watchpost_core::suppression::conditions_of(&d),
            "backup job",
            "api:ana",
        )
    };
    store.upsert_suppression(&s).await.unwrap();
    assert_eq!(
        store
            .list_suppressions(Some(SuppressionState::Proposed), 10)
            .await
            .unwrap(),
        [s.clone()]
    );
    s.state = SuppressionState::Active;
    s.expires_at = Some(Utc::now() + Duration::days(90));
    store.upsert_suppression(&s).await.unwrap();
    assert!(
        store
            .list_suppressions(Some(SuppressionState::Proposed), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_suppressions(None, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.get_suppression(s.id).await.unwrap().unwrap().state,
        SuppressionState::Active
    );
}
