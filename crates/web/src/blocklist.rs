//! Clients blocked for a while: consulted before anything else, fed by the honeypot and by
//! blocking decisions. In memory and bounded; an allowlist is never blocked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past this the entries closest to expiry are dropped first.
pub const MAX_BLOCKED: usize = 100_000;

/// Why and until when a client is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub until: Instant,
    pub reason: String,
}

/// The blocklist. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug, Default)]
pub struct Blocklist {
    entries: Mutex<HashMap<IpAddr, Block>>,
    /// Addresses never blocked (the service's own, monitoring, the office).
    allow: Vec<IpAddr>,
}

impl Blocklist {
    pub fn with_allowlist(allow: Vec<IpAddr>) -> Blocklist {
        Blocklist {
            allow,
            ..Blocklist::default()
        }
    }

    /// Blocks `ip` for `ttl` (extending an existing block); returns false for an
    /// allowlisted address.
    pub fn block(&self, ip: IpAddr, ttl: Duration, reason: &str) -> bool {
        if self.allow.contains(&ip)
            || ip.is_loopback() && self.allow.iter().any(IpAddr::is_loopback)
        {
            return false;
        }
        let until = Instant::now() + ttl;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_BLOCKED && !entries.contains_key(&ip) {
            let now = Instant::now();
            entries.retain(|_, b| b.until > now);
            if entries.len() >= MAX_BLOCKED {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, b)| b.until)
                    .map(|(ip, _)| *ip);
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        let entry = entries.entry(ip).or_insert(Block {
            until,
            reason: reason.to_string(),
        });
        if entry.until < until {
            entry.until = until;
            entry.reason = reason.to_string();
        }
        true
    }

    /// The block on `ip`, if one is in force.
    pub fn blocked(&self, ip: IpAddr) -> Option<Block> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&ip) {
            Some(b) if b.until > Instant::now() => Some(b.clone()),
            Some(_) => {
                entries.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Lifts a block; true if there was one.
    pub fn unblock(&self, ip: IpAddr) -> bool {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ip)
            .is_some()
    }

    /// Every block in force: address, reason and time left, the soonest to end first.
    pub fn entries(&self) -> Vec<(IpAddr, String, Duration)> {
        let now = Instant::now();
        let mut out: Vec<(IpAddr, String, Duration)> = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, b)| b.until > now)
            .map(|(ip, b)| (*ip, b.reason.clone(), b.until - now))
            .collect();
        out.sort_by_key(|(ip, _, left)| (*left, *ip));
        out
    }

    /// Blocks in force.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|b| b.until > now)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_expire_and_the_allowlist_holds() {
        let office: IpAddr = "198.51.100.7".parse().unwrap();
        let list = Blocklist::with_allowlist(vec![office]);
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(list.block(attacker, Duration::from_secs(60), "honeypot"));
        assert_eq!(list.blocked(attacker).unwrap().reason, "honeypot");
        assert!(!list.block(office, Duration::from_secs(60), "honeypot"));
        assert!(list.blocked(office).is_none());
        let brief: IpAddr = "203.0.113.10".parse().unwrap();
        list.block(brief, Duration::from_millis(1), "x");
        std::thread::sleep(Duration::from_millis(5));
        assert!(list.blocked(brief).is_none());
        assert!(list.unblock(attacker));
        assert!(list.is_empty());
    }
}
