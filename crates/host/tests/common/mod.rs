//! What the exec-capture tests share: whether they may run, a burst of real short-lived
//! processes, and a capture collecting until it has seen them.

#![allow(dead_code)] // each test file uses a different part of this helper

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use watchpost_core::Event;
use watchpost_host::ExecCapture;
use watchpost_host::capture::CaptureStats;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Collects events on a thread until `count` processes with an argument starting with
/// `marker` are seen or `seconds` pass.
pub fn collect_marked(
    mut capture: ExecCapture,
    marker: String,
    count: usize,
    seconds: u64,
) -> std::thread::JoinHandle<(Vec<Event>, CaptureStats)> {
    std::thread::spawn(move || {
        let mut events = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let ours = |e: &Event| {
            e.process
                .as_ref()
                .is_some_and(|p| p.args.iter().any(|a| a.starts_with(&marker)))
        };
        while Instant::now() < deadline && events.iter().filter(|e| ours(e)).count() < count {
            events.extend(capture.next_events(Duration::from_millis(100)));
        }
        (events, capture.stats())
    })
}

/// Spawns `count` `/bin/true MARKER-i SECOND` as fast as possible, 64 in flight, in `cwd`;
/// returns each pid's `i`.
pub fn burst(marker: &str, second: &str, count: usize, cwd: &Path) -> HashMap<i64, usize> {
    let mut pids = HashMap::new();
    let mut running = Vec::new();
    for i in 0..count {
        let child = Command::new("/bin/true")
            .args([format!("{marker}-{i}"), second.to_string()])
            .current_dir(cwd)
            .spawn()
            .unwrap();
        pids.insert(i64::from(child.id()), i);
        running.push(child);
        if running.len() >= 64 {
            for mut c in running.drain(..) {
                c.wait().unwrap();
            }
        }
    }
    for mut c in running {
        c.wait().unwrap();
    }
    pids
}
