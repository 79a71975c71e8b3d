//! Web-application inspection for Watchpost's WAF: a request is decoded into the values it
//! carries ([`targets`]), every value goes through the detectors ([`detect`]), and the hits
//! add up to an anomaly score that is compared with a threshold, as the OWASP Core Rule
//! Set does, so that one weak sign does not block while several together do.
//!
//! ```
//! use watchpost_web::{Engine, Request};
//! let engine = Engine::default();
//! let request = Request {
//!     method: "GET".into(),
//!     path: "/search".into(),
//!     query: "q=1%27%20or%20%271%27%3D%271".into(),
//!     ..Request::default()
//! };
//! let verdict = engine.inspect(&request);
//! assert!(verdict.is_attack());
//! assert_eq!(verdict.hits[0].hit.category.as_str(), "sqli");
//! ```

pub mod accounts;
pub mod behaviour;
pub mod blocklist;
pub mod decode;
pub mod detect;
pub mod honeypot;
pub mod layer;
mod memo;
pub mod proxy;
mod request;
pub mod shield;
pub mod targets;
pub mod xml;

pub use detect::{Category, Hit};
pub use request::Request;
pub use shield::{Action, Decision, Outcome, Policy, Shield};
pub use targets::{Limits, Location};

use memo::CleanValues;
use serde::Serialize;
use std::sync::Arc;

/// The paranoia level when none is configured: 2, whole injections and the SQL fragments
/// probes send one at a time (`and 7639=(`, `order by`, `in (1,2)`). Measured on the labelled
/// corpus, the fragment rules flag no more benign requests than level 1 does; an
/// application whose forms take formulas or code lowers it to 1 or excludes those
/// parameters (docs/web-detection.md).
pub const DEFAULT_PARANOIA: u8 = 2;

/// How strict the engine is.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// 1 to 4 ([`DEFAULT_PARANOIA`] by default): higher levels run rules that catch more
    /// and misfire more.
    pub paranoia: u8,
    /// The anomaly score at which a request counts as an attack (5: one critical hit).
    pub threshold: u32,
    pub limits: Limits,
    /// How many clean header values to remember, so that a repeated User-Agent or Referer
    /// is inspected once (0 inspects every value every time).
    pub clean_header_memory: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            paranoia: DEFAULT_PARANOIA,
            threshold: 5,
            limits: Limits::default(),
            clean_header_memory: 4096,
        }
    }
}

/// A hit with where it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub hit: Hit,
    pub location: Location,
    /// The parameter, JSON path, cookie or header.
    pub name: String,
}

/// What the engine concluded about one request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub score: u32,
    pub threshold: u32,
    pub hits: Vec<Finding>,
    /// Limits the request went past (body size, parameter count...).
    pub exceeded: Vec<&'static str>,
}

impl Verdict {
    /// Whether the score reached the threshold.
    pub fn is_attack(&self) -> bool {
        self.score >= self.threshold
    }
}

/// The inspection engine, shared by every request. Its only state is the memory of clean
/// header values, which changes how fast it answers, never what.
#[derive(Debug, Clone)]
pub struct Engine {
    config: Config,
    clean_headers: Arc<CleanValues>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Config::default())
    }
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        let clean_headers = Arc::new(CleanValues::new(config.clean_header_memory));
        Engine {
            config,
            clean_headers,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Inspects one request.
    pub fn inspect(&self, request: &Request) -> Verdict {
        let targets = targets::Targets::of(request, &self.config.limits);
        let mut verdict = Verdict {
            threshold: self.config.threshold,
            exceeded: targets.exceeded.clone(),
            ..Verdict::default()
        };
        for target in &targets.items {
            if self.clean_headers.contains(target) {
                continue;
            }
            let mut sink = detect::Sink::at(self.config.paranoia);
            detect::inspect(target, &mut sink);
            if sink.hits.is_empty() {
                self.clean_headers.remember(target);
            }
            self.add(&mut verdict, sink, target.location, &target.name);
        }
        let mut protocol = Vec::new();
        detect::protocol::check(request, &mut protocol);
        for finding in protocol {
            let mut sink = detect::Sink::at(self.config.paranoia);
            sink.hit(finding.hit);
            self.add(&mut verdict, sink, finding.location, &finding.name);
        }
        let mut sink = detect::Sink::at(self.config.paranoia);
        if let Some(ua) = request.header("user-agent") {
            detect::scanner(ua, &mut sink);
        }
        self.add(&mut verdict, sink, Location::Header, "User-Agent");
        if !verdict.exceeded.is_empty() {
            let mut sink = detect::Sink::at(self.config.paranoia);
            sink.hit(Hit::new(
                Category::Protocol,
                "protocol.limits_exceeded",
                2,
                1,
                &verdict.exceeded.join(", "),
            ));
            self.add(&mut verdict, sink, Location::Body, "");
        }
        verdict
    }

    fn add(&self, verdict: &mut Verdict, sink: detect::Sink, location: Location, name: &str) {
        for hit in sink.hits {
            if hit.paranoia > self.config.paranoia {
                continue;
            }
            // The same rule firing on several values of one request counts once.
            if !verdict.hits.iter().any(|f| f.hit.rule == hit.rule) {
                verdict.score += u32::from(hit.score);
            }
            verdict.hits.push(Finding {
                hit,
                location,
                name: name.to_string(),
            });
        }
    }
}
