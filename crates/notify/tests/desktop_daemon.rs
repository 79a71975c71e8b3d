//! The desktop channel (built with `--features desktop-notify`) against a notification
//! daemon on a private session bus: a `dbus-daemon` of the test's own and a fake
//! `org.freedesktop.Notifications` (dbus-next, PyPI) that records each `Notify` call as the
//! Desktop Notifications Specification defines it.
//!
//! Needs `dbus-daemon` and python3 with `dbus-next`; without them the test says it is
//! skipped, and under `CI=true` it fails.

#![cfg(feature = "desktop-notify")]

mod common;

use common::{alert, deliver_all, notice};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use watchpost_alert::NotificationKind;
use watchpost_alert::config::ChannelConfig;
use watchpost_core::Severity;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn available() -> bool {
    let daemon = Command::new("dbus-daemon")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let python = Command::new("python3")
        .args(["-c", "import dbus_next"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(daemon && python) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dbus-daemon and python3 with dbus-next are required under CI=true"
        );
        eprintln!("skipped: needs dbus-daemon and python3 with dbus-next (pip install dbus-next)");
    }
    daemon && python
}

/// Reads the first line a child prints.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim().to_string()
}

#[test]
fn a_critical_alert_pops_up_through_the_session_bus() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("bus");
    let mut bus = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .arg(format!("--address=unix:path={}", socket.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let address = first_line(&mut bus);
    let _bus = Killed(bus);
    assert!(address.starts_with("unix:"), "{address}");
    let out = dir.path().join("calls.jsonl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notification_daemon.py");
    let mut daemon = Command::new("python3")
        .arg(script)
        .arg(&address)
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(first_line(&mut daemon), "ready");
    let _daemon = Killed(daemon);
    // SAFETY: the only test in this binary, before any other thread exists.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address) };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = watchpost_store::testing::sqlite();
        let store = db.open().await;
        let config = ChannelConfig {
            name: "me".into(),
            kind: "desktop".into(),
            ..ChannelConfig::default()
        };
        let n = notice(
            "me",
            NotificationKind::Firing,
            vec![alert("Reverse shell", Severity::Critical)],
        );
        deliver_all(&store, &[config], std::slice::from_ref(&n)).await;
        let sent = store.get_notification(n.id).await.unwrap().unwrap();
        assert_eq!(
            sent.entry.status,
            watchpost_store::DeliveryStatus::Sent,
            "{:?}",
            sent.entry.last_error
        );
        assert!(
            sent.attempts_made[0]
                .detail
                .contains("shown as desktop notification 1"),
            "{:?}",
            sent.attempts_made
        );
    });

    let calls: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call["app_name"], "Watchpost");
    assert_eq!(call["replaces_id"], 0);
    assert_eq!(call["summary"], "[FIRING CRITICAL] Reverse shell on web-1");
    assert!(
        call["body"]
            .as_str()
            .unwrap()
            .contains("critical · Reverse shell · host web-1")
    );
    // Urgency is a byte hint; critical stays on screen (expire_timeout 0 = never).
    assert_eq!(call["hints"]["urgency"]["signature"], "y");
    assert_eq!(call["hints"]["urgency"]["value"], 2);
    assert_eq!(call["expire_timeout"], 0);
}
