//! The desktop channel (built with `--features desktop-notify`) where there is no session
//! bus to reach: the send fails at once, permanently, saying what is missing, so the notice
//! goes to the channel's fallback instead of waiting on retries.

#![cfg(feature = "desktop-notify")]

mod common;

use common::{alert, deliver_all, notice};
use watchpost_alert::NotificationKind;
use watchpost_alert::config::ChannelConfig;
use watchpost_core::Severity;

#[test]
fn without_a_session_bus_the_send_fails_at_once_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-bus-here");
    // SAFETY: the only test in this binary, before any other thread exists.
    unsafe {
        std::env::set_var(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", missing.display()),
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = watchpost_store::testing::sqlite();
        let store = db.open().await;
        let mut desktop = ChannelConfig {
            name: "me".into(),
            kind: "desktop".into(),
            fallback: Some("mail".into()),
            ..ChannelConfig::default()
        };
        desktop.max_attempts = 5;
        let mail_hook = common::channel("mail", "webhook", "http://127.0.0.1:9/unreachable");
        let n = notice(
            "me",
            NotificationKind::Firing,
            vec![alert("Shell", Severity::Critical)],
        );
        deliver_all(&store, &[desktop, mail_hook], std::slice::from_ref(&n)).await;
        let dead = store.get_notification(n.id).await.unwrap().unwrap();
        assert_eq!(
            dead.entry.attempts, 1,
            "not retried: {:?}",
            dead.attempts_made
        );
        let error = dead.entry.last_error.clone().unwrap();
        assert!(
            error.contains("no desktop notification service reachable on the session bus"),
            "{error}"
        );
        let all = store.query_notifications(None, 10).await.unwrap();
        assert!(
            all.iter().any(|e| e.notification.receiver == "mail"),
            "handed to the fallback: {all:?}"
        );
    });
}
