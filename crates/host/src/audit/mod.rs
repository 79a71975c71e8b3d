//! The Linux audit log: its record format ([`record`]) and an exec source that follows
//! the log as auditd writes it ([`tail`]).

pub mod record;
pub mod tail;

pub use record::{Arguments, AuditLine, decode_hex, field, parse_fields, parse_line};
pub use tail::{AuditLogTail, DEFAULT_AUDIT_LOG, exec_rule_loaded};
