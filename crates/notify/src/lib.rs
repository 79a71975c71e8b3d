//! Watchpost's notification channels (webhook, Slack, PagerDuty, email, Twilio and SMS
//! gateways, syslog, desktop) and the worker that delivers from the outbox.
//!
//! The alert pipeline ([`watchpost_alert`]) decides what to say and to whom; the server
//! writes each notice to the store's outbox; the [`Deliverer`] sends them through the
//! [`Channel`]s named in `[[alerting.channels]]` and records every attempt.

pub mod channel;
pub mod delivery;
pub mod desktop;
pub mod email;
pub mod http;
mod outage;
pub mod pagerduty;
pub mod render;
pub mod slack;
pub mod sms;
pub mod syslog;
pub mod template;
pub mod tls;
pub mod webhook;

pub use channel::{Channel, SendError};
pub use delivery::{Channels, Deliverer};
