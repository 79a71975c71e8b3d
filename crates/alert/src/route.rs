//! The routing tree: which receivers an alert goes to, grouped how, on which timers.
//!
//! Semantics follow Alertmanager's, which many operators know: the root takes every alert;
//! a node that matches tries its children in order, and the first child that matches takes
//! the alert unless it says `continue = true`, in which case the following siblings are
//! tried too; a node none of whose children match takes the alert itself.

use crate::config::RouteConfig;
use crate::matcher::{LabelSet, Matcher, all_match, parse_all};
use std::time::Duration;

/// Deepest routing tree accepted.
const MAX_DEPTH: usize = 16;
/// Most routes in one tree.
const MAX_ROUTES: usize = 1_000;

/// How a route groups the alerts it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// One group per distinct value of these labels.
    Labels(Vec<String>),
    /// One group per alert (`group_by = ["..."]`).
    Each,
}

/// A compiled route with every inherited setting resolved.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its place in the tree: `root`, `root.0`, `root.0.2`, for traces and group keys.
    pub id: String,
    pub receiver: String,
    pub matchers: Vec<Matcher>,
    pub continue_matching: bool,
    pub group_by: GroupBy,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub max_alerts_per_hour: Option<u32>,
    pub escalation: Option<String>,
    pub children: Vec<Route>,
}

impl Route {
    /// Compiles the root of a tree. Errors are `(key, message)` with dotted keys under
    /// `alerting.route`.
    pub fn compile_root(config: &RouteConfig) -> Result<Route, Vec<(String, String)>> {
        let mut errors = Vec::new();
        if !config.matchers.is_empty() {
            errors.push((
                "alerting.route.matchers".into(),
                "the root route takes every alert and may not have matchers".into(),
            ));
        }
        let defaults = Route {
            id: "root".into(),
            receiver: String::new(),
            matchers: Vec::new(),
            continue_matching: false,
            group_by: GroupBy::Labels(vec!["rule".into(), "host".into()]),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(14_400),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            max_alerts_per_hour: None,
            escalation: None,
            children: Vec::new(),
        };
        if config.receiver.as_deref().is_none_or(str::is_empty) {
            errors.push((
                "alerting.route.receiver".into(),
                "the root route needs a receiver: alerts no other route takes go there".into(),
            ));
        }
        let mut count = 0;
        let root = compile_node(
            config,
            &defaults,
            "root".into(),
            "alerting.route",
            0,
            &mut count,
            &mut errors,
        );
        if errors.is_empty() {
            Ok(root)
        } else {
            Err(errors)
        }
    }

    /// The routes that take an alert with these labels, in tree order.
    pub fn matching(&self, labels: &LabelSet) -> Vec<&Route> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    fn collect<'a>(&'a self, labels: &LabelSet, out: &mut Vec<&'a Route>) -> bool {
        if !all_match(&self.matchers, labels) {
            return false;
        }
        let before = out.len();
        for child in &self.children {
            if child.collect(labels, out) && !child.continue_matching {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// Every route in the tree, depth first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

fn compile_node(
    config: &RouteConfig,
    parent: &Route,
    id: String,
    key: &str,
    depth: usize,
    count: &mut usize,
    errors: &mut Vec<(String, String)>,
) -> Route {
    *count += 1;
    let matchers = parse_all(&format!("{key}.matchers"), &config.matchers).unwrap_or_else(|e| {
        errors.push(e);
        Vec::new()
    });
    let group_by = match &config.group_by {
        None => parent.group_by.clone(),
        Some(labels) if labels.iter().any(|l| l == "...") => {
            if labels.len() > 1 {
                errors.push((
                    format!("{key}.group_by"),
                    "`...` groups by every label and cannot be combined with names".into(),
                ));
            }
            GroupBy::Each
        }
        Some(labels) => GroupBy::Labels(labels.clone()),
    };
    let secs = |own: Option<u64>, inherited: Duration| own.map_or(inherited, Duration::from_secs);
    let group_interval = secs(config.group_interval_seconds, parent.group_interval);
    if group_interval.is_zero() {
        errors.push((
            format!("{key}.group_interval_seconds"),
            "0 would notify on every change without pause: allowed 1 or more".into(),
        ));
    }
    let mut repeat_interval = secs(config.repeat_interval_seconds, parent.repeat_interval);
    if repeat_interval < group_interval {
        errors.push((
            format!("{key}.repeat_interval_seconds"),
            format!(
                "{} is shorter than group_interval_seconds ({}): a group is looked at only every group interval",
                repeat_interval.as_secs(),
                group_interval.as_secs()
            ),
        ));
        repeat_interval = group_interval;
    }
    if config.max_alerts_per_hour == Some(0) {
        errors.push((
            format!("{key}.max_alerts_per_hour"),
            "0 would hold back every alert of this route: allowed 1 or more".into(),
        ));
    }
    let mut route = Route {
        id: id.clone(),
        receiver: config
            .receiver
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| parent.receiver.clone()),
        matchers,
        continue_matching: config.continue_matching,
        group_by,
        group_wait: secs(config.group_wait_seconds, parent.group_wait),
        group_interval,
        repeat_interval,
        mute_time_intervals: if config.mute_time_intervals.is_empty() {
            parent.mute_time_intervals.clone()
        } else {
            config.mute_time_intervals.clone()
        },
        active_time_intervals: if config.active_time_intervals.is_empty() {
            parent.active_time_intervals.clone()
        } else {
            config.active_time_intervals.clone()
        },
        max_alerts_per_hour: config.max_alerts_per_hour.or(parent.max_alerts_per_hour),
        escalation: config
            .escalation
            .clone()
            .or_else(|| parent.escalation.clone()),
        children: Vec::new(),
    };
    if depth >= MAX_DEPTH && !config.routes.is_empty() {
        errors.push((
            format!("{key}.routes"),
            format!("the routing tree is deeper than {MAX_DEPTH} levels"),
        ));
        return route;
    }
    for (i, child) in config.routes.iter().enumerate() {
        if *count >= MAX_ROUTES {
            errors.push((
                format!("{key}.routes[{i}]"),
                format!("the routing tree has more than {MAX_ROUTES} routes"),
            ));
            break;
        }
        let child_route = compile_node(
            child,
            &route,
            format!("{id}.{i}"),
            &format!("{key}.routes[{i}]"),
            depth + 1,
            count,
            errors,
        );
        route.children.push(child_route);
    }
    route
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::labels;

    fn tree() -> Route {
        let config: RouteConfig = toml::from_str(
            r#"
            receiver = "team"
            group_by = ["rule"]
            [[routes]]
            matchers = ['severity="critical"']
            receiver = "pager"
            continue = true
            group_wait_seconds = 0
            [[routes]]
            matchers = ['category=~"sqli|xss"']
            receiver = "web"
              [[routes.routes]]
              matchers = ['host="shop-1"']
              receiver = "shop"
            [[routes]]
            matchers = ['severity=~"critical|high"']
            receiver = "oncall"
            "#,
        )
        .unwrap();
        Route::compile_root(&config).unwrap()
    }

    fn receivers(route: &Route, l: &LabelSet) -> Vec<String> {
        route
            .matching(l)
            .iter()
            .map(|r| format!("{}:{}", r.id, r.receiver))
            .collect()
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let t = tree();
        assert_eq!(
            receivers(
                &t,
                &labels(&[("severity", "critical"), ("category", "sqli")])
            ),
            ["root.0:pager", "root.1:web"]
        );
        assert_eq!(
            receivers(
                &t,
                &labels(&[
                    ("severity", "high"),
                    ("category", "sqli"),
                    ("host", "shop-1")
                ])
            ),
            ["root.1.0:shop"]
        );
        assert_eq!(
            receivers(&t, &labels(&[("severity", "high")])),
            ["root.2:oncall"]
        );
        assert_eq!(
            receivers(&t, &labels(&[("severity", "low")])),
            ["root:team"]
        );
    }

    #[test]
    fn children_inherit_unset_settings() {
        let t = tree();
        let pager = &t.children[0];
        assert_eq!(pager.group_wait, Duration::ZERO);
        assert_eq!(pager.group_by, GroupBy::Labels(vec!["rule".into()]));
        assert_eq!(
            t.children[1].children[0].group_wait,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn errors_name_the_route() {
        let config: RouteConfig = toml::from_str(
            r#"
            receiver = "team"
            [[routes]]
            receiver = "x"
            [[routes.routes]]
            matchers = ['severity']
            repeat_interval_seconds = 10
            "#,
        )
        .unwrap();
        let errors = Route::compile_root(&config).unwrap_err();
        let keys: Vec<_> = errors.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "alerting.route.routes[0].routes[0].matchers[0]",
                "alerting.route.routes[0].routes[0].repeat_interval_seconds"
            ]
        );
    }
}
