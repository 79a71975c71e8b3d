//! Header values already found clean. Every request of a browser carries the same
//! User-Agent, and most carry one of a handful of Referers: inspecting each of them once,
//! not once per request, takes the largest value of an ordinary request off its cost.
//!
//! Only header values are remembered, only clean ones (a value with any hit, at any
//! paranoia level, is inspected every time), and only whole: the key is the exact value as
//! sent, as decoded and the header that carried it (some techniques count only in the
//! User-Agent or Referer: `id` is clean in `X-Note` and a command line as the
//! User-Agent), so a remembered value can stand only for itself. The memory is bounded: a
//! full shard is emptied and fills again.

use crate::targets::{Location, Target};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Longer values are rare enough to repeat that remembering them only costs memory.
const MAX_VALUE: usize = 512;
const SHARDS: usize = 8;

/// Raw values, with the header that carried each and how it decoded.
type Values = HashMap<Box<str>, Remembered>;

#[derive(Debug)]
struct Remembered {
    header: Box<str>,
    decoded: Box<str>,
}

#[derive(Debug)]
pub(crate) struct CleanValues {
    /// Values per shard; 0 turns remembering off.
    per_shard: usize,
    hasher: RandomState,
    shards: [Mutex<Values>; SHARDS],
}

impl CleanValues {
    /// Remembers up to `capacity` values.
    pub(crate) fn new(capacity: usize) -> CleanValues {
        CleanValues {
            per_shard: capacity.div_ceil(SHARDS),
            hasher: RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(HashMap::new())),
        }
    }

    fn shard(&self, target: &Target) -> Option<&Mutex<Values>> {
        if self.per_shard == 0
            || target.location != Location::Header
            || target.raw.len() > MAX_VALUE
            || target.decoded.len() > MAX_VALUE
        {
            return None;
        }
        let hash = self.hasher.hash_one(&target.raw) as usize;
        Some(&self.shards[hash % SHARDS])
    }

    /// Whether `target` was found clean before.
    pub(crate) fn contains(&self, target: &Target) -> bool {
        self.shard(target).is_some_and(|shard| {
            let values = shard.lock().unwrap_or_else(|e| e.into_inner());
            values
                .get(target.raw.as_str())
                .is_some_and(|r| *r.header == *target.name && *r.decoded == *target.decoded)
        })
    }

    /// Remembers that `target` had no hit.
    pub(crate) fn remember(&self, target: &Target) {
        if let Some(shard) = self.shard(target) {
            let mut values = shard.lock().unwrap_or_else(|e| e.into_inner());
            if values.len() >= self.per_shard {
                values.clear();
            }
            values.insert(
                target.raw.as_str().into(),
                Remembered {
                    header: target.name.as_str().into(),
                    decoded: target.decoded.as_str().into(),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> Target {
        Target {
            location: Location::Header,
            name: "User-Agent".into(),
            raw: value.into(),
            decoded: value.into(),
            lower: value.to_lowercase(),
        }
    }

    #[test]
    fn remembers_only_what_it_was_told_and_only_header_values() {
        let memo = CleanValues::new(64);
        let browser = header("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0");
        assert!(!memo.contains(&browser));
        memo.remember(&browser);
        assert!(memo.contains(&browser));
        // The same text decoded otherwise is another value.
        let mut other = browser.clone();
        other.decoded.push(' ');
        assert!(!memo.contains(&other));
        // So is the same text in another header.
        let mut elsewhere = browser.clone();
        elsewhere.name = "Referer".into();
        assert!(!memo.contains(&elsewhere));
        let mut query = browser.clone();
        query.location = Location::Query;
        memo.remember(&query);
        assert!(!memo.contains(&query));
        let long = header(&"a".repeat(MAX_VALUE + 1));
        memo.remember(&long);
        assert!(!memo.contains(&long));
    }

    #[test]
    fn memory_stays_within_its_capacity() {
        let memo = CleanValues::new(16);
        for i in 0..10_000 {
            memo.remember(&header(&format!("agent {i}")));
        }
        let held: usize = memo.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 16, "{held} values held");
        let off = CleanValues::new(0);
        off.remember(&header("agent"));
        assert!(!off.contains(&header("agent")));
    }
}
