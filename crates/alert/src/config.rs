//! `[alerting]`: the shape operators write in the configuration file, and its checks.
//!
//! The types here are plain data (they round-trip through TOML and JSON and compare with
//! `==`, so a hot reload can tell whether anything changed); [`crate::Policy::compile`]
//! turns them into the matchers and trees the pipeline runs.

use serde::{Deserialize, Serialize};

/// `[alerting]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// Seconds during which an alert that was notified is not notified as firing again to
    /// the same receiver (a flapping alert pages once).
    pub alert_cooldown_seconds: u64,
    /// Alerts per hour a receiver is sent before the excess is summarised in a digest.
    /// A route can set a lower budget of its own.
    pub max_alerts_per_hour: u32,
    /// Seconds without a new detection after which a firing alert resolves by itself;
    /// 0 keeps alerts firing until someone resolves them.
    pub resolve_timeout_seconds: u64,
    /// Seconds before a silence ends at which a reminder is sent to the root receiver;
    /// 0 sends none.
    pub silence_reminder_seconds: u64,
    /// The routing tree. Its root matches every alert.
    pub route: RouteConfig,
    pub inhibit_rules: Vec<InhibitRuleConfig>,
    pub time_intervals: Vec<TimeIntervalConfig>,
    pub escalation_policies: Vec<EscalationPolicyConfig>,
    /// Where notices go: each route's receiver names one of these.
    pub channels: Vec<ChannelConfig>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            alert_cooldown_seconds: 300,
            max_alerts_per_hour: 100,
            resolve_timeout_seconds: 86_400,
            silence_reminder_seconds: 3_600,
            route: RouteConfig::root_default(),
            inhibit_rules: Vec::new(),
            time_intervals: Vec::new(),
            escalation_policies: Vec::new(),
            channels: Vec::new(),
        }
    }
}

/// One node of the routing tree. Unset timing and grouping keys inherit from the parent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// The receiver (a channel name) notified for alerts this route takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`, all of which must
    /// hold. Labels: severity, rule, title, detector, category, host, source_ip, tags
    /// (comma-separated), status, and the alert's own labels.
    pub matchers: Vec<String>,
    /// Keep trying the following sibling routes after this one matched.
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    /// Labels whose values make a group; `["..."]` makes one group per alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    /// Seconds to wait before the first notice of a new group, to batch a burst.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_wait_seconds: Option<u64>,
    /// Seconds between notices of a group whose alerts changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_interval_seconds: Option<u64>,
    /// Seconds after which an unchanged firing group is notified again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_interval_seconds: Option<u64>,
    /// Names of time intervals during which this route sends nothing.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which this route sends nothing.
    pub active_time_intervals: Vec<String>,
    /// A budget lower than `alerting.max_alerts_per_hour` for this route's alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_alerts_per_hour: Option<u32>,
    /// The escalation policy for alerts this route takes, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    pub routes: Vec<RouteConfig>,
}

impl RouteConfig {
    fn root_default() -> RouteConfig {
        RouteConfig {
            receiver: Some("default".into()),
            group_by: Some(vec!["rule".into(), "host".into()]),
            group_wait_seconds: Some(30),
            group_interval_seconds: Some(300),
            repeat_interval_seconds: Some(14_400),
            ..RouteConfig::default()
        }
    }
}

/// While an alert matching `source_matchers` fires, alerts matching `target_matchers` with
/// the same values of the `equal` labels are not notified.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source_matchers: Vec<String>,
    pub target_matchers: Vec<String>,
    pub equal: Vec<String>,
}

/// A named set of time ranges, used to mute routes or to keep them active.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    /// The interval holds when any of these holds.
    pub intervals: Vec<TimeRangeConfig>,
}

/// Each key left empty holds always; the keys set must all hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeRangeConfig {
    /// `monday`, `saturday:sunday`, `monday:friday`.
    pub weekdays: Vec<String>,
    /// `HH:MM` ranges, end excluded: `{ start = "18:00", end = "24:00" }`.
    pub times: Vec<TimeOfDayConfig>,
    /// Days of the month, `1`, `1:7`, `-1` (the last day).
    pub days_of_month: Vec<String>,
    /// `january`, `december:february`, or `1:3`.
    pub months: Vec<String>,
    /// An IANA time zone (`Europe/Berlin`); UTC when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// A time-of-day range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeOfDayConfig {
    pub start: String,
    pub end: String,
}

/// Who is told next when an alert stays unacknowledged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationPolicyConfig {
    pub name: String,
    pub levels: Vec<EscalationLevelConfig>,
    /// After the last level, start again from the first until the alert is acknowledged
    /// or resolved.
    pub repeat: bool,
}

/// One step: `after_minutes` after the previous step (or the first notice), notify
/// `receiver`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevelConfig {
    pub after_minutes: u64,
    pub receiver: String,
}

pub use crate::channel_config::{CHANNEL_TYPES, ChannelConfig, SYSLOG_FACILITIES};
