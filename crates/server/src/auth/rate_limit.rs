//! Request rate limits per API key and per client address (`api.enable_rate_limiting`).
//!
//! Each caller has a token bucket: it holds up to ten seconds' worth of requests and
//! refills at the configured rate per minute, so short bursts pass and a steady excess
//! is refused with 429 and the seconds until the next request would pass
//! (`Retry-After`). Buckets live in bounded memory: idle ones are dropped first when the
//! table is full.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Callers tracked at once; past this, the longest-idle half is forgotten.
const MAX_BUCKETS: usize = 50_000;
/// A bucket holds this many seconds of the per-minute rate.
const BURST_SECONDS: f64 = 10.0;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by caller (`key:<id>`, `ip:<address>`).
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one request from `caller`'s bucket at `per_minute`; `Err` with how long to
    /// wait when it is empty.
    pub fn take(&self, caller: &str, per_minute: u32) -> Result<(), Duration> {
        self.take_at(caller, per_minute, BURST_SECONDS, Instant::now())
    }

    /// Like [`RateLimiter::take`] with a bucket of `burst_seconds` of the rate (a person
    /// retyping a password needs a minute's worth at once, not ten seconds').
    pub fn take_with_burst(
        &self,
        caller: &str,
        per_minute: u32,
        burst_seconds: f64,
    ) -> Result<(), Duration> {
        self.take_at(caller, per_minute, burst_seconds, Instant::now())
    }

    fn take_at(
        &self,
        caller: &str,
        per_minute: u32,
        burst_seconds: f64,
        now: Instant,
    ) -> Result<(), Duration> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let capacity = (rate * burst_seconds).max(1.0);
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(caller) {
            forget_idle(&mut buckets);
        }
        let bucket = buckets.entry(caller.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Drops the longest-idle half of the buckets.
fn forget_idle(buckets: &mut HashMap<String, Bucket>) {
    let mut ages: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
    ages.sort_unstable();
    let cutoff = ages[ages.len() / 2];
    buckets.retain(|_, b| b.updated > cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_callers_are_apart() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        // 60 a minute: a burst of 10, then one a second.
        for i in 0..10 {
            assert!(
                limiter.take_at("key:a", 60, BURST_SECONDS, start).is_ok(),
                "request {i}"
            );
        }
        let wait = limiter
            .take_at("key:a", 60, BURST_SECONDS, start)
            .unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            limiter.take_at("key:b", 60, BURST_SECONDS, start).is_ok(),
            "another caller"
        );
        let later = start + Duration::from_secs(1);
        assert!(limiter.take_at("key:a", 60, BURST_SECONDS, later).is_ok());
        assert!(limiter.take_at("key:a", 60, BURST_SECONDS, later).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = RateLimiter::default();
        let start = Instant::now();
        for i in 0..(MAX_BUCKETS + 10) {
            let at = start + Duration::from_millis(i as u64);
            limiter
                .take_at(&format!("ip:{i}"), 60, BURST_SECONDS, at)
                .unwrap();
        }
        assert!(limiter.buckets.lock().unwrap().len() <= MAX_BUCKETS);
    }
}
