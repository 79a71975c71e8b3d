//! The auditd exec source with real processes (as root, with auditd running): an audit
//! rule for `execve` is loaded for the test and removed after it, a burst of short-lived
//! processes is spawned, and every one arrives from the audit log whole, with argv,
//! working directory and user as the kernel recorded them.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;
use watchpost_host::{ExecCapture, SourceChoice};

const KEY: &str = "watchpost-audit-test";

/// Whether auditd runs: `auditctl -s` names its pid and that process is alive (a killed
/// auditd stays registered until the kernel next writes to it, perhaps as a zombie).
fn auditd_running() -> bool {
    let pid = Command::new("auditctl")
        .arg("-s")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("pid ").map(|p| p.trim().to_string()))
        });
    let Some(pid) = pid.filter(|p| p != "0") else {
        return false;
    };
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|s| !s.trim_start().starts_with('Z'))
    })
}

/// `auditctl -s` and `-l` as printed, for a failure's message: whether auditd is
/// registered, records were lost, the rule is loaded.
fn audit_status() -> String {
    ["-s", "-l"]
        .iter()
        .filter_map(|flag| Command::new("auditctl").arg(flag).output().ok())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .collect::<Vec<_>>()
        .join("")
}

/// The test's audit rule, removed when dropped.
struct ExecRule;

impl ExecRule {
    fn add() -> ExecRule {
        let status = Command::new("auditctl")
            .args([
                "-a",
                "always,exit",
                "-F",
                "arch=b64",
                "-S",
                "execve",
                "-k",
                KEY,
            ])
            .status()
            .expect("auditctl runs");
        assert!(status.success(), "adding the audit rule");
        ExecRule
    }
}

impl Drop for ExecRule {
    fn drop(&mut self) {
        let _ = Command::new("auditctl")
            .args([
                "-d",
                "always,exit",
                "-F",
                "arch=b64",
                "-S",
                "execve",
                "-k",
                KEY,
            ])
            .status();
    }
}

#[test]
fn short_lived_processes_arrive_whole_from_the_audit_log() {
    if let Some(why) = std::env::var_os("WATCHPOST_AUDIT_UNAVAILABLE") {
        eprintln!("skipped: {}", why.to_string_lossy());
        return;
    }
    if !common::is_root() || !auditd_running() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs this as root with auditd started by .ci/run"
        );
        eprintln!("skipped: needs root and a running auditd");
        return;
    }
    let _rule = ExecRule::add();
    let capture = ExecCapture::start(SourceChoice::Auditd("/var/log/audit/audit.log".into()))
        .expect("the audit log opens");
    assert_eq!(capture.source_name(), "auditd");
    let marker = format!("wp-audit-{}", std::process::id());
    const PROCESSES: usize = 300;
    let capturing = common::collect_marked(capture, marker.clone(), PROCESSES, 30);
    std::thread::sleep(Duration::from_millis(300));
    let workdir = tempfile::tempdir().unwrap();
    let pids = common::burst(
        &marker,
        "an argument with spaces",
        PROCESSES,
        workdir.path(),
    );
    let (events, stats) = capturing.join().unwrap();
    let mut seen = HashSet::new();
    for event in &events {
        let process = event.process.as_ref().unwrap();
        let Some(i) = process.pid.and_then(|p| pids.get(&p)) else {
            continue;
        };
        assert_eq!(
            process.args,
            [
                "/bin/true".to_string(),
                format!("{marker}-{i}"),
                "an argument with spaces".into()
            ],
            "argv as the kernel recorded it: {event:#?}"
        );
        assert!(
            process
                .executable
                .as_deref()
                .is_some_and(|e| e.ends_with("/true")),
            "{event:#?}"
        );
        assert_eq!(
            process.working_directory.as_deref(),
            workdir.path().to_str(),
            "{event:#?}"
        );
        assert_eq!(
            process.parent.as_ref().and_then(|p| p.pid),
            Some(i64::from(std::process::id())),
            "{event:#?}"
        );
        assert_eq!(
            event.labels.get("capture.source").map(String::as_str),
            Some("auditd")
        );
        assert!(
            !event.labels.contains_key("capture.partial"),
            "complete from the audit record: {event:#?}"
        );
        seen.insert(process.pid.unwrap());
    }
    assert_eq!(
        seen.len(),
        PROCESSES,
        "every exec recorded ({stats:?}); audit status:\n{}",
        audit_status()
    );
}
