//! Inhibition: while a source alert fires, matching target alerts with equal values of the
//! listed labels are not notified (a host-down alert mutes that host's service alerts).

use crate::config::InhibitRuleConfig;
use crate::matcher::{LabelSet, Matcher, all_match, parse_all};

/// A compiled inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// Its name, or `inhibit_rules[N]`.
    pub name: String,
    source: Vec<Matcher>,
    target: Vec<Matcher>,
    equal: Vec<String>,
}

impl InhibitRule {
    pub fn compile(index: usize, c: &InhibitRuleConfig) -> Result<InhibitRule, (String, String)> {
        let key = format!("alerting.inhibit_rules[{index}]");
        if c.source_matchers.is_empty() || c.target_matchers.is_empty() {
            return Err((
                key,
                "needs both source_matchers and target_matchers: an empty side would match every alert".into(),
            ));
        }
        let source = parse_all(&format!("{key}.source_matchers"), &c.source_matchers)?;
        let target = parse_all(&format!("{key}.target_matchers"), &c.target_matchers)?;
        Ok(InhibitRule {
            name: c.name.clone().unwrap_or(format!("inhibit_rules[{index}]")),
            source,
            target,
            equal: c.equal.clone(),
        })
    }

    /// The first firing alert (given as `(id, labels)`) that inhibits `target`, if any. An
    /// alert never inhibits itself, and an alert matching both sides does not inhibit
    /// others that match both (so two such alerts cannot mute each other).
    pub fn source_for<'a, K: PartialEq + 'a>(
        &self,
        target_id: &K,
        target: &LabelSet,
        firing: impl IntoIterator<Item = (&'a K, &'a LabelSet)>,
    ) -> Option<&'a K> {
        if !all_match(&self.target, target) {
            return None;
        }
        let target_is_source = all_match(&self.source, target);
        firing.into_iter().find_map(|(id, labels)| {
            let eligible = id != target_id
                && all_match(&self.source, labels)
                && !(target_is_source && all_match(&self.target, labels))
                && self.equal.iter().all(|l| labels.get(l) == target.get(l));
            eligible.then_some(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::labels;

    #[test]
    fn a_critical_alert_mutes_lesser_ones_on_the_same_host() {
        let rule = InhibitRule::compile(
            0,
            &InhibitRuleConfig {
                name: None,
                source_matchers: vec!["severity=critical".into()],
                target_matchers: vec!["severity=~\"low|medium\"".into()],
                equal: vec!["host".into()],
            },
        )
        .unwrap();
        let crit = labels(&[("severity", "critical"), ("host", "a")]);
        let low_a = labels(&[("severity", "low"), ("host", "a")]);
        let low_b = labels(&[("severity", "low"), ("host", "b")]);
        let firing = [(1, &crit), (2, &low_a), (3, &low_b)];
        assert_eq!(
            rule.source_for(&2, &low_a, firing.iter().map(|(i, l)| (i, *l))),
            Some(&1)
        );
        assert_eq!(
            rule.source_for(&3, &low_b, firing.iter().map(|(i, l)| (i, *l))),
            None
        );
        assert_eq!(
            rule.source_for(&1, &crit, firing.iter().map(|(i, l)| (i, *l))),
            None
        );
    }

    #[test]
    fn alerts_matching_both_sides_do_not_mute_each_other() {
        let rule = InhibitRule::compile(
            0,
            &InhibitRuleConfig {
                name: Some("noisy".into()),
                source_matchers: vec!["rule=scan".into()],
                target_matchers: vec!["rule=scan".into()],
                equal: vec![],
            },
        )
        .unwrap();
        let a = labels(&[("rule", "scan"), ("host", "a")]);
        let b = labels(&[("rule", "scan"), ("host", "b")]);
        let firing = [(1, &a), (2, &b)];
        assert_eq!(
            rule.source_for(&1, &a, firing.iter().map(|(i, l)| (i, *l))),
            None
        );
    }

    #[test]
    fn an_empty_side_is_refused() {
        let (key, _) = InhibitRule::compile(3, &InhibitRuleConfig::default()).unwrap_err();
        assert_eq!(key, "alerting.inhibit_rules[3]");
    }
}
