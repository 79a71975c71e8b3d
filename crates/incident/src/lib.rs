//! Watchpost incidents: the alerts of one attack, told as one story.
//!
//! The [`Correlator`] groups alerts as they arrive by the entities their detections share
//! (attacker address, account, process tree, web session, file, and the host a web attack
//! reached), within a window, across every detector. Each incident keeps its attack chain
//! (one step per alert, with its ATT&CK tactic, in time order), the entities that tie each
//! step to the rest, and a [risk] score whose every term is shown.
//!
//! ```
//! use watchpost_core::{Detection, Entity, Severity};
//! use watchpost_incident::{Correlator, Outcome, Settings, Signal};
//! let mut correlator = Correlator::new(Settings::default());
//! let mut probe = Detection::new("web.sqli", "SQL injection", Severity::High, "web");
//! probe.entity = Some(Entity::Ip { ip: "203.0.113.7".into() });
//! let now = chrono::Utc::now();
//! let Outcome::Opened(id) = correlator.observe(
//!     Signal { detection: &probe, alert_id: uuid::Uuid::now_v7(), alert_title: "SQL injection" },
//!     now,
//! ) else { panic!() };
//! let mut decoy = Detection::new("web.honeypot", "Decoy hit", Severity::Medium, "web-honeypot");
//! decoy.entity = probe.entity.clone();
//! let joined = correlator.observe(
//!     Signal { detection: &decoy, alert_id: uuid::Uuid::now_v7(), alert_title: "Decoy hit" },
//!     now,
//! );
//! assert_eq!(joined, Outcome::Joined { incident: id, by: "ip:203.0.113.7".into() });
//! ```

mod correlator;
pub mod edit;
pub mod keys;
pub mod risk;

pub use correlator::{Correlator, NOTICE_DETECTOR, Outcome, Settings, Signal};
