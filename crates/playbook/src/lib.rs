//! Watchpost playbooks: response written as data.
//!
//! A playbook says on which incidents (a least risk, a least severity, label matchers on
//! their alerts) to take which actions (ban the attacker's address, kill the process tree,
//! quarantine the file, lock the account, isolate the host, notify), and in which mode:
//! `auto` (done at once), `approve` (waits for an analyst) or `simulate` (written down as
//! "would have done", nothing changed). [`Playbook::compile`] checks a configured playbook
//! the way the rest of the configuration is checked, [`Playbook::plan`] lists the actions
//! an incident calls for, and [`Budget`] bounds how many automatic actions of each kind
//! run per minute, tripping a breaker that sends the playbook's further actions to an
//! analyst instead.
//!
//! Carrying actions out is not this crate's job: the server records them, makes decisions
//! for bans and queues host actions for the agents.
//!
//! ```
//! use watchpost_playbook::{ActionConfig, PlaybookConfig, Playbook};
//! let config = PlaybookConfig {
//!     name: "contain".into(),
//!     mode: "simulate".into(),
//!     min_risk: 40,
//!     actions: vec![ActionConfig { kind: "block_address".into(), ttl: Some("4h".into()) }],
//!     ..PlaybookConfig::default()
//! };
//! let playbook = Playbook::compile(&config).unwrap();
//! assert_eq!(playbook.actions[0].ttl_seconds, 4 * 3600);
//! ```

mod budget;
mod config;
mod plan;

pub use budget::{Admission, Budget, default_budget};
pub use config::{ActionConfig, Mode, PlaybookConfig};
pub use plan::{Planned, Playbook, PlaybookAction, compile_all};
