//! Watchpost's alert pipeline: what turns alerts into notifications, and why.
//!
//! Stages, in order, each leaving a [`TraceEntry`] on the alert: routing tree
//! ([`route`]), grouping with `group_wait`/`group_interval`/`repeat_interval`, inhibition
//! ([`inhibit`]), mute and active time intervals ([`time_interval`]), silences
//! ([`silence`]), cooldown and hourly rate limits (the excess summarised in a digest), then
//! notifications. Escalation, acknowledgement and resolve notices, and silence reminders
//! come out of the same [`Pipeline`].
//!
//! ```
//! use std::sync::Arc;
//! use watchpost_alert::{AlertingConfig, Pipeline, Policy};
//! use watchpost_core::{Alert, Detection, Severity};
//!
//! let config: AlertingConfig = AlertingConfig::default();
//! let mut pipeline = Pipeline::new(Arc::new(Policy::compile(&config).unwrap()));
//! let detection = Detection::new("lnx.reverse_shell", "Reverse shell", Severity::Critical, "sigma");
//! let alert = Alert::from_detection(&detection, Default::default());
//! let now = chrono::Utc::now();
//! pipeline.observe(&alert, now);
//! assert!(pipeline.tick(now).notifications.is_empty(), "group_wait (30 s) batches a burst");
//! let out = pipeline.tick(now + chrono::Duration::seconds(30));
//! assert_eq!(out.notifications[0].receiver, "default");
//! ```

pub mod channel_config;
pub mod config;
pub mod inhibit;
pub mod matcher;
pub mod pipeline;
pub mod policy;
pub mod replay;
pub mod route;
pub mod silence;
pub mod time_interval;
pub mod trace;

pub use config::AlertingConfig;
pub use matcher::{LabelSet, Matcher};
pub use pipeline::{Notification, NotificationKind, Output, Pipeline};
pub use policy::{Policy, alert_labels};
pub use silence::{ActiveSilence, Silence, SilenceState};
pub use trace::{Stage, TraceEntry, Verdict};
