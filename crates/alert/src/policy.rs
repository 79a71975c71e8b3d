//! [`Policy`]: the `[alerting]` configuration compiled and cross-checked, ready to run.

use crate::config::{AlertingConfig, EscalationPolicyConfig};
use crate::inhibit::InhibitRule;
use crate::matcher::LabelSet;
use crate::route::Route;
use crate::time_interval::TimeInterval;
use std::collections::HashMap;
use std::time::Duration;
use watchpost_core::Alert;

/// Longest cooldown accepted.
const MAX_COOLDOWN_SECONDS: u64 = 7 * 86_400;

/// One escalation step, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    pub after: Duration,
    pub receiver: String,
}

/// A compiled escalation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationPolicy {
    pub name: String,
    pub steps: Vec<EscalationStep>,
    pub repeat: bool,
}

/// Everything the pipeline decides with.
#[derive(Debug, Clone)]
pub struct Policy {
    pub root: Route,
    pub channels: Vec<crate::config::ChannelConfig>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub intervals: HashMap<String, TimeInterval>,
    pub escalations: HashMap<String, EscalationPolicy>,
    pub cooldown: Duration,
    pub max_alerts_per_hour: u32,
    pub resolve_timeout: Option<Duration>,
    pub silence_reminder: Option<Duration>,
}

/// A problem in `[alerting]`: the dotted key and what is wrong.
pub type PolicyError = (String, String);

impl Policy {
    /// Compiles and cross-checks `config`, reporting every problem at once.
    pub fn compile(config: &AlertingConfig) -> Result<Policy, Vec<PolicyError>> {
        let mut errors = Vec::new();
        if config.alert_cooldown_seconds > MAX_COOLDOWN_SECONDS {
            errors.push((
                "alerting.alert_cooldown_seconds".into(),
                format!(
                    "{} is out of range: allowed 0 to {MAX_COOLDOWN_SECONDS} (one week)",
                    config.alert_cooldown_seconds
                ),
            ));
        }
        if config.max_alerts_per_hour == 0 {
            errors.push((
                "alerting.max_alerts_per_hour".into(),
                "0 would hold back every notification: allowed 1 or more".into(),
            ));
        }
        let root = Route::compile_root(&config.route).unwrap_or_else(|mut e| {
            errors.append(&mut e);
            Route::compile_root(&AlertingConfig::default().route)
                .unwrap_or_else(|_| unreachable!("the default route compiles"))
        });
        let mut inhibit_rules = Vec::new();
        for (i, rule) in config.inhibit_rules.iter().enumerate() {
            match InhibitRule::compile(i, rule) {
                Ok(r) => inhibit_rules.push(r),
                Err(e) => errors.push(e),
            }
        }
        let mut intervals = HashMap::new();
        for (i, c) in config.time_intervals.iter().enumerate() {
            match TimeInterval::compile(c) {
                Ok(t) => {
                    if intervals.insert(t.name.clone(), t).is_some() {
                        errors.push((
                            format!("alerting.time_intervals[{i}].name"),
                            format!("`{}` is defined twice", c.name),
                        ));
                    }
                }
                Err((key, message)) => {
                    errors.push((format!("alerting.time_intervals[{i}].{key}"), message))
                }
            }
        }
        let mut escalations = HashMap::new();
        for (i, c) in config.escalation_policies.iter().enumerate() {
            match compile_escalation(c) {
                Ok(p) => {
                    if escalations.insert(p.name.clone(), p).is_some() {
                        errors.push((
                            format!("alerting.escalation_policies[{i}].name"),
                            format!("`{}` is defined twice", c.name),
                        ));
                    }
                }
                Err((key, message)) => {
                    errors.push((format!("alerting.escalation_policies[{i}].{key}"), message))
                }
            }
        }
        for route in root.walk() {
            for name in route
                .mute_time_intervals
                .iter()
                .chain(&route.active_time_intervals)
            {
                if !intervals.contains_key(name) {
                    errors.push((
                        format!("alerting.route ({})", route.id),
                        format!("names time interval `{name}`, which no [[alerting.time_intervals]] defines"),
                    ));
                }
            }
            if let Some(name) = &route.escalation
                && !escalations.contains_key(name)
            {
                errors.push((
                    format!("alerting.route ({})", route.id),
                    format!("names escalation policy `{name}`, which no [[alerting.escalation_policies]] defines"),
                ));
            }
        }
        let mut channel_names = std::collections::HashSet::new();
        for (i, c) in config.channels.iter().enumerate() {
            for (key, message) in c.problems() {
                errors.push((format!("alerting.channels[{i}].{key}"), message));
            }
            if !channel_names.insert(c.name.as_str()) {
                errors.push((
                    format!("alerting.channels[{i}].name"),
                    format!("`{}` is defined twice", c.name),
                ));
            }
        }
        for (i, c) in config.channels.iter().enumerate() {
            if let Some(f) = &c.fallback
                && (!channel_names.contains(f.as_str()) || f == &c.name)
            {
                errors.push((
                    format!("alerting.channels[{i}].fallback"),
                    format!("`{f}` is not another channel's name"),
                ));
            }
        }
        // With no channel at all, notices are recorded (and visible in the API) but go
        // nowhere: the zero-config start. Once channels exist, every receiver must be one.
        if !config.channels.is_empty() {
            for route in root.walk() {
                if !channel_names.contains(route.receiver.as_str()) {
                    errors.push((
                        format!("alerting.route ({})", route.id),
                        format!(
                            "receiver `{}` is not a channel in [[alerting.channels]]",
                            route.receiver
                        ),
                    ));
                }
            }
            for p in escalations.values() {
                for s in &p.steps {
                    if !channel_names.contains(s.receiver.as_str()) {
                        errors.push((
                            format!("alerting.escalation_policies ({})", p.name),
                            format!(
                                "receiver `{}` is not a channel in [[alerting.channels]]",
                                s.receiver
                            ),
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            root,
            channels: config.channels.clone(),
            inhibit_rules,
            intervals,
            escalations,
            cooldown: Duration::from_secs(config.alert_cooldown_seconds),
            max_alerts_per_hour: config.max_alerts_per_hour,
            resolve_timeout: (config.resolve_timeout_seconds > 0)
                .then(|| Duration::from_secs(config.resolve_timeout_seconds)),
            silence_reminder: (config.silence_reminder_seconds > 0)
                .then(|| Duration::from_secs(config.silence_reminder_seconds)),
        })
    }
}

fn compile_escalation(c: &EscalationPolicyConfig) -> Result<EscalationPolicy, PolicyError> {
    if c.name.trim().is_empty() {
        return Err(("name".into(), "an escalation policy needs a name".into()));
    }
    if c.levels.is_empty() {
        return Err((
            "levels".into(),
            "an escalation policy needs at least one level".into(),
        ));
    }
    let mut steps = Vec::new();
    for (i, l) in c.levels.iter().enumerate() {
        if l.after_minutes == 0 || l.after_minutes > 7 * 24 * 60 {
            return Err((
                format!("levels[{i}].after_minutes"),
                format!(
                    "{} is out of range: allowed 1 to 10080 (one week)",
                    l.after_minutes
                ),
            ));
        }
        if l.receiver.trim().is_empty() {
            return Err((format!("levels[{i}].receiver"), "names no receiver".into()));
        }
        steps.push(EscalationStep {
            after: Duration::from_secs(l.after_minutes * 60),
            receiver: l.receiver.clone(),
        });
    }
    Ok(EscalationPolicy {
        name: c.name.clone(),
        steps,
        repeat: c.repeat,
    })
}

/// The labels routes, inhibition rules and silences see for an alert: its own labels, then
/// `severity`, `rule`, `title`, `detector`, `category`, `host`, `source_ip`, `tags`
/// (comma-separated) and `status`, which take precedence.
pub fn alert_labels(alert: &Alert) -> LabelSet {
    let mut labels = alert.labels.clone();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            labels.insert(k.to_string(), v.to_string());
        }
    };
    put("severity", alert.severity.as_str());
    put("rule", &alert.rule_id);
    put("title", &alert.title);
    put("detector", &alert.detector);
    put("category", alert.category.as_deref().unwrap_or(""));
    put("host", alert.host.as_deref().unwrap_or(""));
    put("source_ip", alert.source_ip.as_deref().unwrap_or(""));
    put("tags", &alert.tags.join(","));
    put("status", alert.status.as_str());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_compiles() {
        let p = Policy::compile(&AlertingConfig::default()).unwrap();
        assert_eq!(p.root.receiver, "default");
        assert_eq!(p.max_alerts_per_hour, 100);
    }

    #[test]
    fn unknown_names_and_bad_values_are_all_reported() {
        let config: AlertingConfig = toml::from_str(
            r#"
            max_alerts_per_hour = 0
            [route]
            receiver = "team"
            mute_time_intervals = ["nights"]
            escalation = "oncall"
            [[time_intervals]]
            name = "weekend"
            intervals = [{ weekdays = ["caturday"] }]
            "#,
        )
        .unwrap();
        let errors = Policy::compile(&config).unwrap_err();
        let text = format!("{errors:?}");
        assert!(text.contains("alerting.max_alerts_per_hour"), "{text}");
        assert!(text.contains("time interval `nights`"), "{text}");
        assert!(text.contains("escalation policy `oncall`"), "{text}");
        assert!(
            errors.iter().any(
                |(k, m)| k == "alerting.time_intervals[0].intervals[0].weekdays[0]"
                    && m.contains("caturday")
            ),
            "{text}"
        );
    }
}
