//! The process tree: every process the collector knows, by pid, so that an exec's parent
//! and ancestors can be named even after they exited.
//!
//! Bounded: an exited process stays for [`KEEP_EXITED`] (long enough for the children it
//! left to be recorded with it as parent; orphans are adopted by init soon after) or until
//! room is needed, oldest exit first; a process still running is dropped only when the tree
//! is full of running ones. Command lines kept here are cut at [`MAX_KEPT_ARGV_BYTES`]: a
//! build's compiler invocations can be tens of kilobytes each.

use crate::procfs::ProcessInfo;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an exited process is kept.
pub const KEEP_EXITED: Duration = Duration::from_secs(30);
/// The most of a command line kept per process in the tree.
pub const MAX_KEPT_ARGV_BYTES: usize = 2048;

/// Processes kept by default: a machine running 1,000 short processes a second fills it
/// in 16 s, within [`KEEP_EXITED`], so the oldest exits make room first.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// A process that exited: its pid, its start time (to tell it from a later process that
/// reuses the pid) and when it exited.
type Exit = (i32, Option<chrono::DateTime<chrono::Utc>>, Instant);

/// The tree.
pub struct ProcessTree {
    processes: HashMap<i32, ProcessInfo>,
    /// Pids in the order they exited, with when (a pid may be reused: checked on eviction).
    exited: VecDeque<Exit>,
    capacity: usize,
}

impl Default for ProcessTree {
    fn default() -> Self {
        ProcessTree::with_capacity(DEFAULT_CAPACITY)
    }
}

impl ProcessTree {
    /// An empty tree holding at most `capacity` processes.
    pub fn with_capacity(capacity: usize) -> ProcessTree {
        ProcessTree {
            processes: HashMap::new(),
            exited: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// A tree of every process running now.
    pub fn from_proc() -> ProcessTree {
        let mut tree = ProcessTree::default();
        for pid in crate::procfs::list_pids() {
            tree.insert(crate::procfs::read_process(pid));
        }
        tree
    }

    /// Adds or replaces a process (an exec replaces what the pid ran before).
    pub fn insert(&mut self, mut info: ProcessInfo) {
        if !self.processes.contains_key(&info.pid) {
            self.make_room();
        }
        // An ancestor is named by what it ran and as whom; its environment and the
        // programs its pipes led to were its own exec's news.
        info.env = Vec::new();
        for stream in info.stdio.iter_mut().flatten() {
            stream.peer = None;
        }
        let mut kept = 0;
        info.argv.retain(|arg| {
            kept += arg.len() + 1;
            kept <= MAX_KEPT_ARGV_BYTES
        });
        self.processes.insert(info.pid, info);
    }

    /// A process by pid.
    pub fn get(&self, pid: i32) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    /// Notes that `pid` exited; it stays until room is needed.
    pub fn exited(&mut self, pid: i32) {
        let now = Instant::now();
        if let Some(process) = self.processes.get(&pid) {
            self.exited.push_back((pid, process.start, now));
        }
        while let Some(&(old, start, at)) = self.exited.front() {
            if now.duration_since(at) < KEEP_EXITED {
                break;
            }
            self.exited.pop_front();
            self.forget(old, start);
        }
    }

    /// Removes `pid` unless a later process reuses the pid.
    fn forget(&mut self, pid: i32, start: Option<chrono::DateTime<chrono::Utc>>) {
        if self.processes.get(&pid).is_some_and(|p| p.start == start) {
            self.processes.remove(&pid);
        }
    }

    /// The ancestors of `pid`, parent first, at most `depth` of them.
    pub fn ancestry(&self, pid: i32, depth: usize) -> Vec<&ProcessInfo> {
        let mut chain = Vec::new();
        let mut current = self.get(pid).and_then(|p| p.ppid);
        while let Some(ppid) = current {
            if chain.len() >= depth || ppid <= 0 {
                break;
            }
            let Some(parent) = self.get(ppid) else { break };
            if chain.iter().any(|p: &&ProcessInfo| p.pid == parent.pid) {
                break;
            }
            chain.push(parent);
            current = parent.ppid;
        }
        chain
    }

    /// Processes in the tree.
    pub fn len(&self) -> usize {
        self.processes.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    fn make_room(&mut self) {
        while self.processes.len() >= self.capacity {
            match self.exited.pop_front() {
                Some((pid, start, _)) => self.forget(pid, start),
                None => {
                    // Full of running processes: drop an arbitrary one rather than grow.
                    let Some(&pid) = self.processes.keys().next() else {
                        return;
                    };
                    self.processes.remove(&pid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(pid: i32, ppid: i32, exe: &str) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid: Some(ppid),
            executable: Some(exe.to_string()),
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn ancestry_survives_the_parents_exit() {
        let mut tree = ProcessTree::default();
        tree.insert(process(1, 0, "/sbin/init"));
        tree.insert(process(10, 1, "/usr/sbin/sshd"));
        tree.insert(process(20, 10, "/bin/bash"));
        tree.insert(process(30, 20, "/usr/bin/less"));
        tree.exited(20);
        let chain: Vec<i32> = tree.ancestry(30, 8).iter().map(|p| p.pid).collect();
        assert_eq!(chain, [20, 10, 1]);
        assert_eq!(tree.ancestry(30, 2).len(), 2);
    }

    #[test]
    fn exited_processes_make_room_first() {
        let mut tree = ProcessTree::with_capacity(3);
        tree.insert(process(1, 0, "/sbin/init"));
        tree.insert(process(2, 1, "/a"));
        tree.insert(process(3, 1, "/b"));
        tree.exited(2);
        tree.insert(process(4, 1, "/c"));
        assert_eq!(tree.len(), 3);
        assert!(tree.get(2).is_none());
        assert!(tree.get(1).is_some() && tree.get(4).is_some());
        // Full of running processes: still bounded.
        tree.insert(process(5, 1, "/d"));
        assert_eq!(tree.len(), 3);
    }

    #[test]
    fn a_cycle_of_parents_ends() {
        let mut tree = ProcessTree::default();
        tree.insert(process(5, 6, "/a"));
        tree.insert(process(6, 5, "/b"));
        assert_eq!(tree.ancestry(5, 8).len(), 2);
    }
}
