//! Polling `/proc`: the exec source of last resort, when the agent may not open a
//! netlink socket. It sees processes that live longer than the polling interval, and
//! misses the rest: the agent reports the source it uses so that nobody takes this for
//! complete capture.

use crate::{ExecNotice, ExecSource};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A `/proc` poller.
pub struct ProcPoller {
    interval: Duration,
    known: HashSet<i32>,
    exited: Vec<i32>,
    last: Option<Instant>,
}

impl ProcPoller {
    /// A poller that lists `/proc` every `interval`; processes running now are not
    /// reported as new.
    pub fn new(interval: Duration) -> ProcPoller {
        ProcPoller {
            interval,
            known: crate::procfs::list_pids().into_iter().collect(),
            exited: Vec::new(),
            last: Some(Instant::now()),
        }
    }
}

impl ExecSource for ProcPoller {
    fn name(&self) -> &'static str {
        "proc-poll"
    }

    fn poll(&mut self, timeout: Duration) -> Vec<ExecNotice> {
        let due = self.last.map_or(Duration::ZERO, |t| {
            self.interval.saturating_sub(t.elapsed())
        });
        std::thread::sleep(due.min(timeout));
        if due > timeout {
            return Vec::new();
        }
        self.last = Some(Instant::now());
        let now: HashSet<i32> = crate::procfs::list_pids().into_iter().collect();
        let new = now
            .difference(&self.known)
            .map(|&pid| ExecNotice {
                pid,
                ppid: None,
                record: None,
                at: None,
            })
            .collect();
        self.exited.extend(self.known.difference(&now));
        self.known = now;
        new
    }

    fn exited(&mut self) -> Vec<i32> {
        std::mem::take(&mut self.exited)
    }
}
