//! Decisions in the protocol of CrowdSec's Local API, which every CrowdSec bouncer
//! (firewall, nginx, HAProxy, Traefik, Cloudflare…) already speaks:
//!
//! - `GET /v1/decisions/stream?startup=true|false` answers `{"new": [...], "deleted": [...]}`:
//!   at start-up every decision in force, then on each poll what was made and what ended
//!   since the bouncer's previous poll. Filters: `scopes`, `origins`,
//!   `scenarios_containing`, `scenarios_not_containing` (comma-separated).
//! - `GET /v1/decisions?ip=…` (or `range=`, `scope=&value=`, `type=`) answers the decisions
//!   in force that cover it, or `null` when there are none.
//!
//! A decision reads `{id, origin, type, scope, value, duration, until, scenario,
//! simulated}`, `duration` in Go's text (`3h59m55s`), which bouncers parse to time out their
//! own copies. Simulated decisions are never served.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use watchpost_core::net::Cidr;
use watchpost_core::{Decision, DecisionScope};
use watchpost_store::{Store, StoreError};

/// The origin bouncers see on every Watchpost decision (their `origins` filter names it).
pub const ORIGIN: &str = "watchpost";

/// How far a poll looks back past the previous one: a decision whose row was committed
/// just after that poll read is still handed over (bouncers apply a repeat harmlessly).
const OVERLAP: Duration = Duration::seconds(10);
/// How far back a start-up answer lists ended decisions, for bouncers that keep their
/// sets across restarts.
const STARTUP_ENDED: Duration = Duration::hours(24);
/// Bouncers remembered at most; the oldest poll is forgotten first (it gets a full list).
const MAX_BOUNCERS: usize = 10_000;

/// One decision on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireDecision {
    pub id: i64,
    pub origin: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub scope: &'static str,
    pub value: String,
    pub duration: String,
    pub until: String,
    pub scenario: String,
    pub simulated: bool,
}

impl WireDecision {
    pub fn new(d: &Decision, now: DateTime<Utc>) -> WireDecision {
        let end = d.ended_at(now).unwrap_or(d.until);
        WireDecision {
            id: d.id,
            origin: ORIGIN,
            kind: d.kind.clone(),
            scope: d.scope.crowdsec_name(),
            value: d.value.clone(),
            duration: crate::duration::go(end - now),
            until: end.to_rfc3339_opts(SecondsFormat::Secs, true),
            scenario: d.reason.clone(),
            simulated: d.simulated,
        }
    }
}

/// The stream's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamAnswer {
    pub new: Vec<WireDecision>,
    pub deleted: Vec<WireDecision>,
}

/// What a bouncer asks for: its query string.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamQuery {
    pub startup: bool,
    scopes: Option<Vec<String>>,
    origins: Option<Vec<String>>,
    containing: Option<Vec<String>>,
    not_containing: Option<Vec<String>>,
}

fn list(value: Option<&String>) -> Option<Vec<String>> {
    value.map(|v| {
        v.split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .take(64)
            .collect()
    })
}

impl StreamQuery {
    /// Reads the query string's pairs; an unreadable `startup` is an error.
    pub fn from_pairs(pairs: &HashMap<String, String>) -> Result<StreamQuery, String> {
        let startup = match pairs.get("startup").map(String::as_str) {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(format!("startup: `{other}` is not true or false")),
        };
        Ok(StreamQuery {
            startup,
            scopes: list(pairs.get("scopes")),
            origins: list(pairs.get("origins")),
            containing: list(pairs.get("scenarios_containing")),
            not_containing: list(pairs.get("scenarios_not_containing")),
        })
    }

    fn admits(&self, d: &Decision) -> bool {
        let scenario = d.reason.to_ascii_lowercase();
        // Account suspensions only go to enforcers that ask for them: a firewall bouncer
        // asking for everything must never read a user name as an address.
        self.scopes
            .as_ref()
            .map_or(d.scope != watchpost_core::DecisionScope::Username, |s| {
                s.iter().any(|s| s == d.scope.as_str())
            })
            && self
                .origins
                .as_ref()
                .is_none_or(|o| o.iter().any(|o| o == ORIGIN))
            && self
                .containing
                .as_ref()
                .is_none_or(|w| w.iter().any(|w| scenario.contains(w.as_str())))
            && self
                .not_containing
                .as_ref()
                .is_none_or(|w| !w.iter().any(|w| scenario.contains(w.as_str())))
    }
}

/// When each bouncer last polled, so that a poll answers what changed since. Kept in
/// memory: after a restart a bouncer's next poll gets the full list, as at its start-up.
#[derive(Debug, Default)]
pub struct Cursors(Mutex<HashMap<String, DateTime<Utc>>>);

impl Cursors {
    fn swap(&self, bouncer: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_BOUNCERS && !map.contains_key(bouncer) {
            let oldest = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                map.remove(&oldest);
            }
        }
        map.insert(bouncer.to_string(), now)
    }
}

/// Answers one poll of `bouncer` at `now`.
pub async fn stream(
    store: &dyn Store,
    cursors: &Cursors,
    bouncer: &str,
    query: &StreamQuery,
    now: DateTime<Utc>,
) -> Result<StreamAnswer, StoreError> {
    let previous = cursors.swap(bouncer, now);
    let since = if query.startup { None } else { previous };
    let (made_after, ended_from) = match since {
        Some(t) => (Some(t - OVERLAP), t - OVERLAP),
        None => (None, now - STARTUP_ENDED),
    };
    let new = store.decisions_in_force(now, made_after, false).await?;
    let deleted = store.decisions_ended_between(ended_from, now).await?;
    let wire = |ds: Vec<Decision>| {
        ds.iter()
            .filter(|d| query.admits(d))
            .map(|d| WireDecision::new(d, now))
            .collect()
    };
    Ok(StreamAnswer {
        new: wire(new),
        deleted: wire(deleted),
    })
}

/// What `GET /v1/decisions` asks about.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    target: Cidr,
    kind: Option<String>,
}

impl Lookup {
    /// Reads `ip=`, `range=`, or `scope=` with `value=`, and `type=`.
    pub fn from_pairs(pairs: &HashMap<String, String>) -> Result<Lookup, String> {
        let value = match (pairs.get("ip"), pairs.get("range"), pairs.get("value")) {
            (Some(ip), _, _) => ip
                .parse::<IpAddr>()
                .map(Cidr::from)
                .map_err(|_| format!("ip: `{ip}` is not an address"))?,
            (None, Some(range), _) => range.parse::<Cidr>().map_err(|e| format!("range: {e}"))?,
            (None, None, Some(value)) => {
                value.parse::<Cidr>().map_err(|e| format!("value: {e}"))?
            }
            (None, None, None) => return Err("give ip, range, or scope and value".into()),
        };
        if let Some(scope) = pairs.get("scope") {
            scope
                .parse::<DecisionScope>()
                .map_err(|e| format!("scope: {e}"))?;
        }
        Ok(Lookup {
            target: value,
            kind: pairs.get("type").cloned(),
        })
    }
}

/// The decisions in force at `now` that cover the looked-up address or network.
pub async fn lookup(
    store: &dyn Store,
    lookup: &Lookup,
    now: DateTime<Utc>,
) -> Result<Vec<WireDecision>, StoreError> {
    let in_force = store
        .decisions_in_force_for(now, &lookup.target.network().to_string())
        .await?;
    Ok(in_force
        .iter()
        .filter(|d| lookup.kind.as_ref().is_none_or(|k| *k == d.kind))
        .filter(|d| {
            d.value
                .parse::<Cidr>()
                .is_ok_and(|net| net.contains(lookup.target.network()))
        })
        .map(|d| WireDecision::new(d, now))
        .collect())
}
