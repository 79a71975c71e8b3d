//! A receiver that is down for 30 s while 1,000 alerts fire: once it is back, every alert
//! is delivered, each notice exactly once. The outage and the retries run on a hand-set
//! clock (the worker schedules retries from the time it is given); the HTTP is real.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use watchpost_alert::{AlertingConfig, Pipeline, Policy};
use watchpost_core::{Alert, Detection, Entity, Severity};
use watchpost_notify::{Channels, Deliverer};
use watchpost_store::{DeliveryStatus, Store};

/// Idempotency keys seen, with how often.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

async fn hook(State(seen): State<Seen>, headers: HeaderMap) -> StatusCode {
    let key = headers["idempotency-key"].to_str().unwrap().to_string();
    *seen.lock().unwrap().entry(key).or_default() += 1;
    StatusCode::OK
}

async fn drain(d: &Deliverer, at: DateTime<Utc>) {
    while d.deliver_due(at).await.unwrap() > 0 {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_30_seconds_misses_nothing() {
    // A port with nothing behind it: connections are refused until the receiver starts.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config: AlertingConfig = toml::from_str(&format!(
        r#"
        max_alerts_per_hour = 5000
        alert_cooldown_seconds = 0
        [route]
        receiver = "ops"
        group_by = ["..."]
        group_wait_seconds = 0
        [[channels]]
        name = "ops"
        type = "webhook"
        url = "http://127.0.0.1:{port}/hook"
        "#
    ))
    .unwrap();
    let mut pipeline = Pipeline::new(Arc::new(Policy::compile(&config).unwrap()));
    let t0 = Utc::now();
    for i in 0..1000 {
        let mut d = Detection::new("web.sqli", "SQL injection", Severity::High, "web");
        d.entity = Some(Entity::Ip {
            ip: format!("198.51.{}.{}", i / 250, i % 250),
        });
        pipeline.observe(&Alert::from_detection(&d, BTreeMap::new()), t0);
    }
    let out = pipeline.tick(t0);
    assert_eq!(out.notifications.len(), 1000);

    let db = watchpost_store::testing::sqlite();
    let store: Arc<dyn Store> = db.open().await;
    store
        .record_pipeline(&out.notifications, &out.trace, &[])
        .await
        .unwrap();
    let d = Deliverer::new(
        Arc::clone(&store),
        Channels::build(&config.channels).unwrap(),
    );

    // 30 s of outage, looked at every second.
    for s in 0..=30 {
        drain(&d, t0 + Duration::seconds(s)).await;
    }
    let pending = store
        .query_notifications(Some(DeliveryStatus::Pending), 1000)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1000, "all waiting for a retry, none dead");
    assert!(
        pending.iter().all(|e| e.attempts >= 4),
        "retried with backoff"
    );

    // The receiver comes back on the same address.
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut at = t0 + Duration::seconds(30);
    while at < t0 + Duration::minutes(10) {
        at += Duration::seconds(5);
        drain(&d, at).await;
    }
    let sent = store
        .query_notifications(Some(DeliveryStatus::Sent), 1000)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1000, "every alert delivered");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1000, "each notice's key arrived");
    assert!(seen.values().all(|&n| n == 1), "and arrived once");
}

/// Bodies a receiver got.
type Bodies = Arc<Mutex<Vec<serde_json::Value>>>;

async fn record(State(bodies): State<Bodies>, body: axum::body::Bytes) -> StatusCode {
    bodies
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or_default());
    StatusCode::OK
}

async fn start_recorder(port: u16) -> Bodies {
    let bodies: Bodies = Arc::default();
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(Arc::clone(&bodies));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    bodies
}

fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Outages last hours: a notice is retried for the channel's time budget (a day by
/// default), however many attempts that takes; a channel failing for five minutes says so
/// once through its fallback; a notice whose receiver never returns is dead-lettered at the
/// end of the day and handed to the fallback. The clock is hand-set, the HTTP real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_outlast_a_23_hour_outage_and_the_channel_reports_itself() {
    let (ops_port, gone_port, backup_port) = (unused_port(), unused_port(), unused_port());
    let backup = start_recorder(backup_port).await;
    let config: AlertingConfig = toml::from_str(&format!(
        r#"
        [route]
        receiver = "ops"
        [[channels]]
        name = "ops"
        type = "webhook"
        url = "http://127.0.0.1:{ops_port}/hook"
        fallback = "backup"
        [[channels]]
        name = "gone"
        type = "webhook"
        url = "http://127.0.0.1:{gone_port}/hook"
        fallback = "backup"
        [[channels]]
        name = "backup"
        type = "webhook"
        url = "http://127.0.0.1:{backup_port}/hook"
        "#
    ))
    .unwrap();
    let db = watchpost_store::testing::sqlite();
    let store: Arc<dyn Store> = db.open().await;
    let t0 = Utc::now();
    let mut notices = Vec::new();
    for receiver in ["ops", "gone"] {
        let d = Detection::new(
            "host.reverse_shell",
            "Reverse shell",
            Severity::Critical,
            "host",
        );
        let alert = Alert::from_detection(&d, BTreeMap::new());
        notices.push(watchpost_alert::Notification {
            id: uuid::Uuid::now_v7(),
            kind: watchpost_alert::NotificationKind::Firing,
            receiver: receiver.into(),
            route: "root".into(),
            group_key: format!("{receiver}:1"),
            group_labels: BTreeMap::new(),
            alerts: vec![alert],
            truncated: 0,
            silence: None,
            created_at: t0,
        });
    }
    store.record_pipeline(&notices, &[], &[]).await.unwrap();
    let d = Deliverer::new(
        Arc::clone(&store),
        Channels::build(&config.channels).unwrap(),
    );

    // 23 hours of outage, looked at every five minutes.
    let mut at = t0;
    while at < t0 + Duration::hours(23) {
        drain(&d, at).await;
        at += Duration::minutes(5);
    }
    for n in &notices {
        let h = store.get_notification(n.id).await.unwrap().unwrap();
        assert_eq!(h.entry.status, DeliveryStatus::Pending, "{:?}", h.entry);
        // Backoff capped at five minutes (±20 %): well over a hundred attempts, where the
        // old count limit gave up after eight, two minutes in.
        assert!(
            h.entry.attempts > 150,
            "retried all along: {}",
            h.entry.attempts
        );
    }
    // Each failing channel said so through the fallback, once.
    let warnings: Vec<String> = backup
        .lock()
        .unwrap()
        .iter()
        .map(|b| b.to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .all(|w| w.contains("watchpost.channel_failing"))
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("Notification channel ops (webhook) has failed since")),
        "{warnings:?}"
    );

    // `ops` returns at hour 23 and gets its notice; `gone` never does.
    // Its next attempt falls within the capped backoff (at most six minutes away).
    let ops = start_recorder(ops_port).await;
    let returned = at;
    let mut status = DeliveryStatus::Pending;
    while status != DeliveryStatus::Sent && at <= returned + Duration::minutes(7) {
        drain(&d, at).await;
        status = store
            .get_notification(notices[0].id)
            .await
            .unwrap()
            .unwrap()
            .entry
            .status;
        at += Duration::minutes(1);
    }
    assert_eq!(status, DeliveryStatus::Sent);
    assert_eq!(ops.lock().unwrap().len(), 1);

    while at <= t0 + Duration::hours(24) + Duration::minutes(10) {
        at += Duration::minutes(5);
        drain(&d, at).await;
    }
    let dead = store
        .get_notification(notices[1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.entry.status, DeliveryStatus::Dead);
    assert!(
        dead.entry
            .last_error
            .as_deref()
            .unwrap()
            .contains("retried for 24h"),
        "{:?}",
        dead.entry.last_error
    );
    drain(&d, at + Duration::seconds(1)).await;
    let backup = backup.lock().unwrap();
    assert_eq!(
        backup.len(),
        3,
        "the dead notice was handed to the fallback"
    );
}
