//! Real processes, really captured: the proc connector (as root) sees every exec,
//! completes it from /proc, and keeps the ancestry; polling sees long-lived ones.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};
use watchpost_core::Event;
use watchpost_host::{ExecCapture, SourceChoice};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Collects events until `done` says so or 10 s pass.
fn collect(capture: &mut ExecCapture, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !done(&events) {
        events.extend(capture.next_events(Duration::from_millis(100)));
    }
    events
}

#[test]
fn the_connector_records_every_exec_with_its_ancestry() {
    if !is_root() {
        eprintln!("skipped: the proc connector needs root");
        return;
    }
    let mut capture = ExecCapture::start(SourceChoice::Connector).expect("connector");
    assert_eq!(capture.source_name(), "proc-connector");
    let capturing = std::thread::spawn(move || {
        let events = collect(&mut capture, |events| {
            events.iter().filter(|e| marker(e).is_some()).count() >= 50
                && events
                    .iter()
                    .any(|e| command(e).contains("wp-capture-sleep"))
        });
        (events, capture.stats())
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut pids = HashSet::new();
    for i in 0..50 {
        let child = Command::new("/bin/true")
            .arg(format!("wp-capture-{i}"))
            .spawn()
            .unwrap();
        pids.insert(child.id() as i64);
        let mut child = child;
        child.wait().unwrap();
    }
    // A shell that lives long enough to be read whole, with a child of its own.
    Command::new("/bin/sh")
        .args(["-c", "sleep 0.3; exec /bin/sleep 0.1 # wp-capture-sleep"])
        .status()
        .unwrap();
    let (events, stats) = capturing.join().unwrap();
    let seen: HashSet<i64> = events
        .iter()
        .filter(|e| marker(e).is_some())
        .filter_map(|e| e.process.as_ref()?.pid)
        .collect();
    let missing: Vec<_> = pids.difference(&seen).collect();
    let ours: Vec<_> = events
        .iter()
        .filter(|e| {
            e.process
                .as_ref()
                .and_then(|p| p.pid)
                .is_some_and(|p| missing.contains(&&p))
        })
        .collect();
    assert_eq!(
        seen, pids,
        "every /bin/true exec is recorded; missing {missing:?}: {ours:#?}"
    );
    assert!(stats.execs >= 50, "{stats:?}");
    // Every record of /bin/true names its parent, complete or not.
    for event in events.iter().filter(|e| marker(e).is_some()) {
        let process = event.process.as_ref().unwrap();
        let parent = process.parent.as_ref().expect("parent");
        assert_eq!(parent.pid, Some(std::process::id() as i64));
        if !event.labels.contains_key("capture.partial") {
            assert_eq!(process.executable.as_deref(), Some("/usr/bin/true"));
            assert_eq!(event.labels["capture.source"], "proc-connector");
        }
    }
    let sleep = events
        .iter()
        .find(|e| command(e).contains("wp-capture-sleep") && command(e).starts_with("/bin/sh"))
        .expect("the shell was recorded");
    let process = sleep.process.as_ref().unwrap();
    assert!(
        process
            .hash
            .as_ref()
            .unwrap()
            .sha256
            .as_ref()
            .unwrap()
            .len()
            == 64
    );
    assert_eq!(process.real_user.as_ref().unwrap().id.as_deref(), Some("0"));
    assert_eq!(sleep.user.as_ref().unwrap().name.as_deref(), Some("root"));
    assert!(process.working_directory.is_some());
    // Ancestry: the test binary, then whatever started it.
    let parent = process.parent.as_ref().unwrap();
    assert_eq!(parent.pid, Some(std::process::id() as i64));
    assert!(parent.parent.is_some(), "grandparent attached");
}

#[test]
fn polling_sees_a_process_that_outlives_its_interval() {
    let mut capture = ExecCapture::start(SourceChoice::Poll).unwrap();
    assert_eq!(capture.source_name(), "proc-poll");
    let mut child = Command::new("/bin/sleep").arg("1.5").spawn().unwrap();
    let pid = child.id() as i64;
    let events = collect(&mut capture, |events| {
        events
            .iter()
            .any(|e| e.process.as_ref().and_then(|p| p.pid) == Some(pid))
    });
    child.wait().unwrap();
    let event = events
        .iter()
        .find(|e| e.process.as_ref().and_then(|p| p.pid) == Some(pid))
        .expect("sleep seen by polling");
    assert_eq!(command(event), "/bin/sleep 1.5");
    assert_eq!(event.labels["capture.source"], "proc-poll");
}

fn command(event: &Event) -> String {
    event
        .process
        .as_ref()
        .and_then(|p| p.command_line.clone())
        .unwrap_or_default()
}

/// `wp-capture-N` of a /bin/true run, from its command line or, for a partial record,
/// nothing but its parent: partial records of our children are counted through their
/// pid by the caller.
fn marker(event: &Event) -> Option<String> {
    let process = event.process.as_ref()?;
    if let Some(arg) = process
        .args
        .iter()
        .find(|a| a.starts_with("wp-capture-") && *a != "wp-capture-sleep")
    {
        return Some(arg.clone());
    }
    let partial = event.labels.contains_key("capture.partial");
    let our_child = process.parent.as_ref()?.pid == Some(std::process::id() as i64);
    (partial && our_child && process.args.is_empty()).then(|| "partial".to_string())
}

#[test]
fn a_renamed_copy_of_the_shell_is_named_after_the_original() {
    if !is_root() {
        eprintln!("skipped: the proc connector needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("maintenance-helper");
    std::fs::copy(std::fs::canonicalize("/bin/sh").unwrap(), &copy).unwrap();
    let mut capture = ExecCapture::start(SourceChoice::Connector).expect("connector");
    let wanted = copy.display().to_string();
    let looking_for = wanted.clone();
    let capturing = std::thread::spawn(move || {
        collect(&mut capture, |events| {
            let processes = || events.iter().filter_map(|e| e.process.as_ref());
            processes().any(|p| p.executable.as_deref() == Some(looking_for.as_str()))
                && processes().any(is_original_shell)
        })
    });
    std::thread::sleep(Duration::from_millis(200));
    // The shell stays for a while (a command after the sleep), so /proc can be read.
    Command::new(&copy)
        .args(["-c", "sleep 0.3; true"])
        .status()
        .unwrap();
    // The original itself is not a copy.
    Command::new("/bin/sh")
        .args(["-c", "sleep 0.3; true"])
        .status()
        .unwrap();
    let events = capturing.join().unwrap();
    let renamed = events
        .iter()
        .filter_map(|e| e.process.as_ref())
        .find(|p| p.executable.as_deref() == Some(wanted.as_str()))
        .expect("the copy's exec was recorded");
    assert_eq!(
        renamed.original_file_name.as_deref(),
        Some("sh"),
        "{renamed:#?}"
    );
    let original = events
        .iter()
        .filter_map(|e| e.process.as_ref())
        .find(|p| is_original_shell(p))
        .expect("the original shell's exec was recorded");
    assert_eq!(original.original_file_name, None, "{original:#?}");
}

/// The test's run of `/bin/sh` itself.
fn is_original_shell(p: &watchpost_core::event::Process) -> bool {
    p.command_line.as_deref() == Some("/bin/sh -c sleep 0.3; true")
}
