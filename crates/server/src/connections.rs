//! The connections the server holds, and how many it may: a cap in all
//! (`api.max_connections`, fitted under the process's descriptor limit) and a share per
//! client address (`api.max_connections_per_ip`). A connection is *busy* from the moment
//! a request head has arrived until its answer's head is ready, and *waiting* otherwise
//! (sending a request head, kept alive between requests, or reading an answer: a client
//! that reads slowly holds no more than a waiting connection does). When a new connection would pass a bound, the oldest
//! waiting connection within that bound is closed to make room, so clients holding
//! connections open without finishing a request (slowloris) give way to ones that send
//! requests; only when every connection within the bound is busy is the new one refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// A connection's state, shared between the table and its task.
pub struct Slot {
    busy: AtomicBool,
    /// When it last started waiting (opened, or finished a request).
    waiting_since: Mutex<Instant>,
    /// Whether it has finished a request yet (a new connection has a shorter time to
    /// send its first head than a kept-alive one has to send its next).
    served: AtomicBool,
    /// Told when the table closes it to make room.
    pub evicted: Notify,
}

impl Slot {
    fn new(now: Instant) -> Slot {
        Slot {
            busy: AtomicBool::new(false),
            waiting_since: Mutex::new(now),
            served: AtomicBool::new(false),
            evicted: Notify::new(),
        }
    }

    /// A request head has arrived: the connection is busy.
    pub fn begin(&self) {
        self.busy.store(true, Ordering::Release);
    }

    /// Its request was answered: it waits for the next.
    pub fn end(&self) {
        *self.waiting_since.lock().expect("not poisoned") = Instant::now();
        self.served.store(true, Ordering::Release);
        self.busy.store(false, Ordering::Release);
    }

    /// How long it has been waiting, `None` while busy; and whether it served before.
    pub fn waiting(&self) -> Option<(std::time::Duration, bool)> {
        if self.busy.load(Ordering::Acquire) {
            return None;
        }
        let since = *self.waiting_since.lock().expect("not poisoned");
        Some((since.elapsed(), self.served.load(Ordering::Acquire)))
    }
}

struct Entry {
    ip: IpAddr,
    slot: Arc<Slot>,
}

/// See the module doc.
pub struct Connections {
    entries: Mutex<HashMap<u64, Entry>>,
    next_id: std::sync::atomic::AtomicU64,
    max: usize,
    per_ip: usize,
}

/// A connection's place in the table; leaving it frees the place.
pub struct Admitted {
    table: Arc<Connections>,
    id: u64,
    pub slot: Arc<Slot>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.table
            .entries
            .lock()
            .expect("not poisoned")
            .remove(&self.id);
    }
}

impl Connections {
    pub fn new(max: usize, per_ip: usize) -> Arc<Connections> {
        Arc::new(Connections {
            entries: Mutex::new(HashMap::new()),
            next_id: Default::default(),
            max,
            per_ip: per_ip.min(max),
        })
    }

    /// Connections held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().expect("not poisoned").len()
    }

    /// Admits a connection from `ip`, closing the oldest waiting one in the way if a
    /// bound is reached; `None` when every connection in the way is busy.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let mut entries = self.entries.lock().expect("not poisoned");
        let from_ip = entries.values().filter(|e| e.ip == ip).count();
        if from_ip >= self.per_ip && !evict_oldest_waiting(&mut entries, Some(ip)) {
            return None;
        }
        if entries.len() >= self.max && !evict_oldest_waiting(&mut entries, None) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::new(Instant::now()));
        entries.insert(
            id,
            Entry {
                ip,
                slot: slot.clone(),
            },
        );
        Some(Admitted {
            table: self.clone(),
            id,
            slot,
        })
    }
}

/// Closes the connection (of `ip`, when given) that has waited longest; whether there
/// was one. It leaves the table at once; its task ends the connection.
fn evict_oldest_waiting(entries: &mut HashMap<u64, Entry>, ip: Option<IpAddr>) -> bool {
    let oldest = entries
        .iter()
        .filter(|(_, e)| ip.is_none_or(|ip| e.ip == ip))
        .filter_map(|(id, e)| e.slot.waiting().map(|(waited, _)| (*id, waited)))
        .max_by_key(|(_, waited)| *waited)
        .map(|(id, _)| id);
    match oldest.and_then(|id| entries.remove(&id)) {
        Some(entry) => {
            entry.slot.evicted.notify_one();
            true
        }
        None => false,
    }
}

/// Raises the process's open-file limit to its hard limit and returns the connections
/// it leaves room for: `wanted`, or fewer when descriptors are short (a reserve is kept
/// for the database, logs, rule files and the live stream).
pub fn fit_to_descriptors(wanted: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if setrlimit(Resource::Nofile, limit).is_err() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    let available = limit.current.map_or(usize::MAX, |n| n as usize);
    let fitted = wanted.min(available.saturating_sub(128) / 2).max(16);
    if fitted < wanted {
        tracing::warn!(
            wanted,
            fitted,
            open_files = available,
            "api.max_connections lowered to fit the open-file limit"
        );
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_connections_make_room_and_busy_ones_do_not() {
        let table = Connections::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = table.admit(a).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = table.admit(a).unwrap();
        // a's share is full: its oldest waiting connection makes room.
        let third = table.admit(a).unwrap();
        assert!(first.slot.evicted.notified().now_or_never_for_test());
        assert_eq!(table.len(), 2);
        // Both of a's are busy: a fourth from a is refused, one from b is not.
        second.slot.begin();
        third.slot.begin();
        assert!(table.admit(a).is_none());
        let from_b = table.admit(b).unwrap();
        assert_eq!(table.len(), 3);
        // The table is full; b's waiting connection makes room for another client.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        assert!(table.admit(c).is_some());
        drop(from_b);
        drop(first);
        assert!(table.len() <= 3);
    }

    trait NowOrNever {
        fn now_or_never_for_test(self) -> bool;
    }

    impl<F: std::future::Future> NowOrNever for F {
        fn now_or_never_for_test(self) -> bool {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut fut = std::pin::pin!(self);
            fut.as_mut().poll(&mut cx).is_ready()
        }
    }
}
