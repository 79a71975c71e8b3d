//! Application accounts suspended by Watchpost: the tower layer refuses every request of a
//! suspended user (found in the request by the application's own function: a session
//! lookup, a verified token's subject), for as long as the suspension lasts.
//!
//! Suspensions come from the server's decisions of scope `username`: an application
//! follows `GET /v1/decisions/stream?scopes=username` with a bouncer key and hands each
//! answer to [`Suspensions::apply_stream`], as a CrowdSec bouncer does with addresses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Finds the user a request is made as, if any.
pub type UserOf = Arc<dyn Fn(&http::request::Parts) -> Option<String> + Send + Sync>;

/// Accounts suspended at most; past it the suspension that ends first makes room.
const MAX_SUSPENDED: usize = 100_000;

/// The suspended accounts, each until a time, with why.
#[derive(Debug, Default)]
pub struct Suspensions {
    accounts: Mutex<HashMap<String, (Instant, String)>>,
}

impl Suspensions {
    /// Suspends `user` for `ttl`; false when the table is full of longer suspensions.
    pub fn suspend(&self, user: &str, ttl: Duration, reason: &str) -> bool {
        let now = Instant::now();
        let until = now + ttl;
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.retain(|_, (end, _)| *end > now);
        if accounts.len() >= MAX_SUSPENDED && !accounts.contains_key(user) {
            let soonest = accounts
                .iter()
                .min_by_key(|(_, (end, _))| *end)
                .map(|(k, (end, _))| (k.clone(), *end));
            match soonest {
                Some((k, end)) if end < until => {
                    accounts.remove(&k);
                }
                _ => return false,
            }
        }
        accounts.insert(user.to_string(), (until, reason.to_string()));
        true
    }

    /// Lifts a suspension; whether there was one.
    pub fn reinstate(&self, user: &str) -> bool {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(user)
            .is_some()
    }

    /// Why `user` is suspended, while it is.
    pub fn suspended(&self, user: &str) -> Option<String> {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts
            .get(user)
            .filter(|(end, _)| *end > Instant::now())
            .map(|(_, why)| why.clone())
    }

    /// Applies one answer of the decision stream: `new` suspensions (scope `Username`,
    /// type `ban`) for their remaining `duration`, `deleted` ones lifted. Other scopes are
    /// left alone. Returns (suspended, lifted).
    pub fn apply_stream(&self, answer: &serde_json::Value) -> (usize, usize) {
        let of_accounts = |key: &str| {
            answer
                .get(key)
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter(|d| {
                    d.get("scope")
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(|s| s.eq_ignore_ascii_case("username"))
                })
                .filter_map(|d| Some((d, d.get("value")?.as_str()?)))
                .collect::<Vec<_>>()
        };
        let lifted = of_accounts("deleted")
            .into_iter()
            .filter(|(_, user)| self.reinstate(user))
            .count();
        let mut suspended = 0;
        for (d, user) in of_accounts("new") {
            let kind = d.get("type").and_then(serde_json::Value::as_str);
            let ttl = d
                .get("duration")
                .and_then(serde_json::Value::as_str)
                .and_then(watchpost_core::duration::parse_go)
                .filter(|t| !t.is_zero());
            let reason = d
                .get("scenario")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("suspended by Watchpost");
            if let (Some("ban"), Some(ttl)) = (kind, ttl)
                && self.suspend(user, ttl, reason)
            {
                suspended += 1;
            }
        }
        (suspended, lifted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stream_suspends_and_lifts_accounts_only() {
        let s = Suspensions::default();
        let answer = json!({
            "new": [
                {"type": "ban", "scope": "Username", "value": "alice", "duration": "23h59m50s", "scenario": "playbook contain"},
                {"type": "ban", "scope": "Ip", "value": "203.0.113.7", "duration": "4h0m0s", "scenario": "x"},
                {"type": "ban", "scope": "Username", "value": "bob", "duration": "-3s", "scenario": "x"}
            ],
            "deleted": null
        });
        assert_eq!(s.apply_stream(&answer), (1, 0));
        assert_eq!(s.suspended("alice").as_deref(), Some("playbook contain"));
        assert_eq!(
            s.suspended("bob"),
            None,
            "an ended suspension is not applied"
        );
        assert_eq!(s.suspended("203.0.113.7"), None);
        let lifted = json!({"new": [], "deleted": [{"type": "ban", "scope": "Username", "value": "alice", "duration": "0s"}]});
        assert_eq!(s.apply_stream(&lifted), (0, 1));
        assert_eq!(s.suspended("alice"), None);
    }

    #[test]
    fn a_suspension_ends_by_itself() {
        let s = Suspensions::default();
        assert!(s.suspend("carol", Duration::from_millis(30), "test"));
        assert!(s.suspended("carol").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.suspended("carol").is_none());
    }
}
