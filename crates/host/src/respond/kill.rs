//! Killing a process and everything below it.
//!
//! The tree is frozen first (SIGSTOP, repeated until no new child appears), so that a
//! shell cannot fork faster than it is killed, then killed (SIGKILL). A pid is only a
//! number the kernel hands out again: a process that started after the action was decided
//! is not the one the detection named, and is left alone.

use super::Outcome;
use crate::procfs::{list_pids, read_process};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// Processes killed per action at most: a tree larger than this is not an attacker's shell.
const MAX_TREE: usize = 4096;
/// Rounds of looking for new children while freezing.
const FREEZE_ROUNDS: usize = 10;

pub(super) fn kill_tree(pid: i64, decided_at: DateTime<Utc>) -> Outcome {
    let pid = i32::try_from(pid).map_err(|_| format!("{pid} is not a process id"))?;
    let own = std::process::id() as i32;
    if pid <= 1 {
        return Err(format!("process {pid} is the system's own: refused"));
    }
    let ancestors = ancestors_of(own);
    if pid == own || ancestors.contains(&pid) {
        return Err(format!(
            "process {pid} is this agent or one of its parents: refused"
        ));
    }
    let root = read_process(pid);
    if root.partial && root.start.is_none() {
        // What the action wants, no such process running, holds already.
        return Ok((
            format!("process {pid} had already exited"),
            serde_json::json!({ "killed": [] }),
        ));
    }
    if let Some(start) = root.start
        // (start times are read in clock ticks: a second of slack)
        && start > decided_at + chrono::Duration::seconds(1)
    {
        return Err(format!(
            "process {pid} started at {start}, after the action was decided: its number was reused, refused"
        ));
    }
    let mut tree: BTreeMap<i32, String> = BTreeMap::new();
    tree.insert(pid, root.name().unwrap_or_default());
    signal(pid, libc::SIGSTOP);
    for _ in 0..FREEZE_ROUNDS {
        let before = tree.len();
        for p in list_pids() {
            if tree.contains_key(&p) || p == own {
                continue;
            }
            let info = read_process(p);
            if info.ppid.is_some_and(|pp| tree.contains_key(&pp)) && tree.len() < MAX_TREE {
                signal(p, libc::SIGSTOP);
                tree.insert(p, info.name().unwrap_or_default());
            }
        }
        if tree.len() == before {
            break;
        }
    }
    let mut killed = Vec::new();
    for (p, name) in &tree {
        if signal(*p, libc::SIGKILL) {
            killed.push(format!("{p} {name}"));
        }
    }
    if killed.is_empty() {
        return Err(format!(
            "process {pid} could not be killed (gone, or not ours to kill)"
        ));
    }
    Ok((
        format!("killed {} process(es): {}", killed.len(), killed.join(", ")),
        serde_json::json!({ "killed": tree.keys().collect::<Vec<_>>() }),
    ))
}

/// Sends `sig`; whether the process was there to receive it.
fn signal(pid: i32, sig: libc::c_int) -> bool {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn ancestors_of(pid: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    let mut at = read_process(pid).ppid;
    while let Some(p) = at {
        if p <= 0 || !out.insert(p) {
            break;
        }
        at = read_process(p).ppid;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn kills_a_shell_and_the_children_it_forked() {
        let mut shell = Command::new("sh")
            .args(["-c", "sleep 300 & sleep 300 & wait"])
            .spawn()
            .unwrap();
        let pid = shell.id() as i64;
        // Let it fork its children.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let children = list_pids()
                .into_iter()
                .filter(|p| read_process(*p).ppid == Some(pid as i32))
                .count();
            if children == 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (message, undo) = kill_tree(pid, Utc::now()).unwrap();
        assert!(message.starts_with("killed 3 process(es)"), "{message}");
        assert_eq!(undo["killed"].as_array().unwrap().len(), 3);
        let status = shell.wait().unwrap();
        assert!(!status.success());
    }

    #[test]
    fn refuses_the_first_processes_itself_and_a_reused_number() {
        assert!(kill_tree(1, Utc::now()).is_err());
        assert!(kill_tree(std::process::id() as i64, Utc::now()).is_err());
        let mut child = Command::new("sleep").arg("300").spawn().unwrap();
        let err = kill_tree(
            child.id() as i64,
            Utc::now() - chrono::Duration::minutes(10),
        )
        .unwrap_err();
        assert!(err.contains("reused"), "{err}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
