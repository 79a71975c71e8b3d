//! Watchpost response: what to do about an attacker, kept apart from detecting it.
//!
//! A [`Decision`](watchpost_core::Decision) bans an address or a network for a while. This
//! crate turns a request for one into a decision that is safe to enforce ([`decide`]:
//! the value normalised, the duration bounded, and [`Guards`] refusing loopback, the
//! server's own addresses, its senders' links, allowlisted and protected ranges, and
//! networks too wide to ban), and serves decisions to enforcers in the protocol CrowdSec
//! bouncers speak ([`crowdsec`]), so that any of them (firewall, nginx, HAProxy…) applies
//! Watchpost's decisions unchanged.
//!
//! ```
//! use watchpost_response::{DecisionRequest, Guards, decide};
//! let guards = Guards::default();
//! let request = DecisionRequest {
//!     value: "203.0.113.7".into(),
//!     duration: "4h".into(),
//!     reason: "SQL injection from this address".into(),
//!     ..DecisionRequest::default()
//! };
//! let decision = decide(&request, &guards, "cli", chrono::Utc::now()).unwrap();
//! assert_eq!(decision.value, "203.0.113.7");
//! assert!(decide(&DecisionRequest { value: "127.0.0.1".into(), ..request }, &guards, "cli", chrono::Utc::now()).is_err());
//! ```

pub mod crowdsec;
mod decide;
mod guard;
pub mod own_addresses;

pub use decide::{DecisionRequest, MAX_DURATION, Refusal, decide};
pub use guard::Guards;
/// Durations (`4h`, `1h30m`) in, Go's duration text out.
pub use watchpost_core::duration;
