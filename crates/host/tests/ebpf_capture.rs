//! The eBPF exec source with real processes (as root): a burst of
//! short-lived processes is recorded whole, argv from the kernel, even those gone before
//! `/proc` could be read.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use watchpost_host::{ExecCapture, SourceChoice};

#[test]
fn a_burst_of_short_lived_processes_is_recorded_whole() {
    if !common::is_root() {
        eprintln!("skipped: loading an eBPF program needs root");
        return;
    }
    let capture = ExecCapture::start(SourceChoice::Ebpf).expect("the eBPF source loads");
    assert_eq!(capture.source_name(), "ebpf");
    let marker = format!("wp-ebpf-{}", std::process::id());
    const PROCESSES: usize = 500;
    let capturing = common::collect_marked(capture, marker.clone(), PROCESSES, 20);
    std::thread::sleep(Duration::from_millis(300));
    // Spawned as fast as possible, 64 in flight: most are gone before /proc is read.
    let pids = common::burst(&marker, "second argument", PROCESSES, Path::new("/"));
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
                "second argument".into()
            ],
            "argv as the kernel saw it: {event:#?}"
        );
        assert!(
            process
                .executable
                .as_deref()
                .is_some_and(|e| e.ends_with("/true")),
            "{event:#?}"
        );
        assert_eq!(
            process.parent.as_ref().and_then(|p| p.pid),
            Some(i64::from(std::process::id())),
            "the parent is this test: {event:#?}"
        );
        assert_eq!(
            event.labels.get("capture.source").map(String::as_str),
            Some("ebpf")
        );
        assert!(
            !event.labels.contains_key("capture.partial"),
            "complete from the kernel even when /proc was gone: {event:#?}"
        );
        seen.insert(process.pid.unwrap());
    }
    assert_eq!(seen.len(), PROCESSES, "every exec recorded ({stats:?})");
    assert_eq!(stats.lost, 0);
}
