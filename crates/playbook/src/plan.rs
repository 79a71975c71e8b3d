//! A playbook checked and compiled, and the actions it calls for on an incident.

use crate::config::{Mode, PlaybookConfig};
use watchpost_alert::{LabelSet, Matcher};
use watchpost_core::{ActionKind, ActionTarget, Incident, IncidentStatus, Severity};

/// Playbooks configured at most.
const MAX_PLAYBOOKS: usize = 100;
/// Actions per playbook at most.
const MAX_ACTIONS: usize = 20;
/// Matchers per playbook at most.
const MAX_MATCHERS: usize = 20;
/// The longest time to live an action may have: a ban or an isolation that outlives
/// everyone's memory of it is a mistake waiting to happen.
const MAX_TTL_SECONDS: u64 = 30 * 24 * 3600;

/// A checked playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub name: String,
    pub mode: Mode,
    pub min_risk: u32,
    pub min_severity: Option<Severity>,
    matchers: Vec<Matcher>,
    pub actions: Vec<PlaybookAction>,
}

/// One checked action of a playbook.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybookAction {
    pub kind: ActionKind,
    pub ttl_seconds: u64,
}

/// An action a playbook calls for on an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub kind: ActionKind,
    pub target: ActionTarget,
    pub ttl_seconds: u64,
}

/// The time to live of an action of `kind` when the playbook names none.
fn default_ttl(kind: ActionKind) -> u64 {
    match kind {
        ActionKind::BlockAddress => 4 * 3600,
        ActionKind::LockAccount | ActionKind::SuspendAccount => 24 * 3600,
        ActionKind::IsolateHost => 3600,
        ActionKind::KillProcess | ActionKind::QuarantineFile | ActionKind::Notify => 0,
    }
}

/// Checks every playbook; errors are `(key, what is wrong)` with keys such as
/// `response.playbooks[1].actions[0].kind`.
pub fn compile_all(configs: &[PlaybookConfig]) -> Result<Vec<Playbook>, Vec<(String, String)>> {
    let mut errors = Vec::new();
    if configs.len() > MAX_PLAYBOOKS {
        errors.push((
            "response.playbooks".to_string(),
            format!("{} playbooks: at most {MAX_PLAYBOOKS}", configs.len()),
        ));
    }
    let mut out = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let key = format!("response.playbooks[{i}]");
        if configs[..i].iter().any(|c| c.name == config.name) {
            errors.push((
                format!("{key}.name"),
                format!("`{}` is the name of an earlier playbook", config.name),
            ));
        }
        match Playbook::compile(config) {
            Ok(p) => out.push(p),
            Err(list) => errors.extend(list.into_iter().map(|(k, e)| (format!("{key}.{k}"), e))),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

impl Playbook {
    /// Checks one playbook; errors name the field (`actions[2].ttl`) and what is wrong.
    pub fn compile(config: &PlaybookConfig) -> Result<Playbook, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let name = config.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            errors.push((
                "name".to_string(),
                format!(
                    "`{}` is not a playbook name: 1 to 64 letters, digits, `-`, `_` or `.`",
                    config.name
                ),
            ));
        }
        let mode = config.mode.parse::<Mode>().unwrap_or_else(|e| {
            errors.push(("mode".to_string(), e));
            Mode::Approve
        });
        if config.min_risk > 100 {
            errors.push((
                "min_risk".to_string(),
                format!("{} is out of range: allowed 0 to 100", config.min_risk),
            ));
        }
        let min_severity = config.min_severity.as_ref().and_then(|s| {
            s.parse::<Severity>()
                .map_err(|_| {
                    errors.push((
                        "min_severity".to_string(),
                        format!(
                            "`{s}` is not a severity: expected info, low, medium, high or critical"
                        ),
                    ))
                })
                .ok()
        });
        if config.matchers.len() > MAX_MATCHERS {
            errors.push((
                "matchers".to_string(),
                format!("{} matchers: at most {MAX_MATCHERS}", config.matchers.len()),
            ));
        }
        let matchers = watchpost_alert::matcher::parse_all("matchers", &config.matchers)
            .unwrap_or_else(|e| {
                errors.push(e);
                Vec::new()
            });
        if config.actions.is_empty() || config.actions.len() > MAX_ACTIONS {
            errors.push((
                "actions".to_string(),
                format!(
                    "{} actions: a playbook takes 1 to {MAX_ACTIONS}",
                    config.actions.len()
                ),
            ));
        }
        let mut actions = Vec::new();
        for (i, action) in config.actions.iter().enumerate() {
            let kind = match action.kind.parse::<ActionKind>() {
                Ok(kind) => kind,
                Err(e) => {
                    errors.push((format!("actions[{i}].kind"), e));
                    continue;
                }
            };
            let ttl_seconds = match &action.ttl {
                None => default_ttl(kind),
                Some(text) => match watchpost_core::duration::parse(text) {
                    Ok(d) if d.num_seconds() > 0 && d.num_seconds() as u64 <= MAX_TTL_SECONDS => {
                        d.num_seconds() as u64
                    }
                    Ok(_) => {
                        errors.push((
                            format!("actions[{i}].ttl"),
                            format!("`{text}` is out of range: allowed 1s to 30d"),
                        ));
                        continue;
                    }
                    Err(e) => {
                        errors.push((format!("actions[{i}].ttl"), e));
                        continue;
                    }
                },
            };
            actions.push(PlaybookAction { kind, ttl_seconds });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Playbook {
            name: name.to_string(),
            mode,
            min_risk: config.min_risk,
            min_severity,
            matchers,
            actions,
        })
    }

    /// Whether the incident calls for this playbook: still being worked on, risky and
    /// severe enough, and each matcher holding for one of its alerts.
    pub fn matches(&self, incident: &Incident) -> bool {
        if matches!(
            incident.status,
            IncidentStatus::Resolved | IncidentStatus::Closed
        ) || incident.risk.score < self.min_risk
            || self.min_severity.is_some_and(|s| incident.severity < s)
        {
            return false;
        }
        let steps: Vec<LabelSet> = incident
            .chain
            .iter()
            .map(|step| {
                LabelSet::from([
                    ("rule".to_string(), step.rule_id.clone()),
                    ("detector".to_string(), step.detector.clone()),
                    (
                        "tactic".to_string(),
                        step.tactic.clone().unwrap_or_default(),
                    ),
                    ("severity".to_string(), step.severity.as_str().to_string()),
                    ("title".to_string(), step.title.clone()),
                ])
            })
            .collect();
        self.matchers
            .iter()
            .all(|m| steps.iter().any(|labels| m.matches(labels)))
    }

    /// The actions this playbook calls for on `incident` (which must match): each action
    /// once per subject of its kind (every attacker address, every process a host alert
    /// named, every file changed, every account, every host), in the playbook's order.
    pub fn plan(&self, incident: &Incident) -> Vec<Planned> {
        let mut out = Vec::new();
        for action in &self.actions {
            let targets: Vec<ActionTarget> = match action.kind {
                ActionKind::Notify => vec![ActionTarget::Incident { id: incident.id }],
                kind => incident
                    .subjects
                    .iter()
                    .filter_map(|s| target(kind, s))
                    .collect(),
            };
            out.extend(targets.into_iter().map(|target| Planned {
                kind: action.kind,
                target,
                ttl_seconds: action.ttl_seconds,
            }));
        }
        out
    }
}

/// The target a subject of an incident (`ip:…`, `process:host/pid`, `file:host:/path`,
/// `user:host/name`, `host:name`, `account:name`) gives an action of `kind`, if any.
fn target(kind: ActionKind, subject: &str) -> Option<ActionTarget> {
    let (prefix, rest) = subject.split_once(':')?;
    match (kind, prefix) {
        (ActionKind::BlockAddress, "ip") => Some(ActionTarget::Address {
            ip: rest.to_string(),
        }),
        (ActionKind::KillProcess, "process") => {
            let (host, pid) = rest.rsplit_once('/')?;
            Some(ActionTarget::Process {
                host: host.to_string(),
                pid: pid.parse().ok()?,
            })
        }
        (ActionKind::QuarantineFile, "file") => {
            let (host, path) = rest.split_once(':')?;
            Some(ActionTarget::File {
                host: host.to_string(),
                path: path.to_string(),
            })
        }
        (ActionKind::LockAccount, "user") => {
            let (host, user) = rest.split_once('/')?;
            Some(ActionTarget::Account {
                host: host.to_string(),
                user: user.to_string(),
            })
        }
        (ActionKind::IsolateHost, "host") => Some(ActionTarget::Host {
            host: rest.to_string(),
        }),
        (ActionKind::SuspendAccount, "account") => Some(ActionTarget::AppAccount {
            user: rest.to_string(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ActionConfig;
    use watchpost_core::{ChainStep, Risk};

    fn config(actions: &[(&str, Option<&str>)]) -> PlaybookConfig {
        PlaybookConfig {
            name: "contain".into(),
            mode: "auto".into(),
            actions: actions
                .iter()
                .map(|(k, t)| ActionConfig {
                    kind: k.to_string(),
                    ttl: t.map(str::to_string),
                })
                .collect(),
            ..PlaybookConfig::default()
        }
    }

    fn incident() -> Incident {
        let mut i = Incident::new("web attack", Severity::High);
        i.risk = Risk {
            score: 55,
            terms: Vec::new(),
        };
        i.subjects = [
            "ip:203.0.113.7",
            "process:shop/4242",
            "user:shop/www-data",
            "file:shop:/var/spool/cron/crontabs/www-data",
            "host:shop",
            "account:alice",
        ]
        .map(String::from)
        .to_vec();
        let now = chrono::Utc::now();
        i.chain.push(ChainStep {
            first_seen: now,
            last_seen: now,
            alert_id: uuid::Uuid::nil(),
            rule_id: "web.sqli.union".into(),
            title: "SQL injection".into(),
            severity: Severity::High,
            detector: "web".into(),
            tactic: Some("TA0001".into()),
            techniques: Vec::new(),
            entities: Vec::new(),
            joined_by: None,
            count: 1,
        });
        i
    }

    #[test]
    fn every_error_names_its_field() {
        let mut c = config(&[("block_address", Some("forever")), ("format_disk", None)]);
        c.name = "bad name!".into();
        c.mode = "yolo".into();
        c.min_risk = 101;
        c.min_severity = Some("dire".into());
        c.matchers = vec!["rule=~\"(\"".into()];
        let errors = compile_all(&[c.clone(), c]).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
        for key in [
            "response.playbooks[0].name",
            "response.playbooks[0].mode",
            "response.playbooks[0].min_risk",
            "response.playbooks[0].min_severity",
            "response.playbooks[0].matchers[0]",
            "response.playbooks[0].actions[0].ttl",
            "response.playbooks[0].actions[1].kind",
            "response.playbooks[1].name",
        ] {
            assert!(keys.contains(&key), "{key} missing from {errors:?}");
        }
        assert!(compile_all(&[config(&[])]).is_err(), "no actions");
        assert!(
            compile_all(&[config(&[("block_address", Some("90d"))])]).is_err(),
            "past 30 days"
        );
    }

    #[test]
    fn plans_one_action_per_subject_of_its_kind() {
        let p = Playbook::compile(&config(&[
            ("block_address", None),
            ("kill_process", None),
            ("quarantine_file", None),
            ("lock_account", Some("2h")),
            ("isolate_host", None),
            ("suspend_account", None),
            ("notify", None),
        ]))
        .unwrap();
        let i = incident();
        assert!(p.matches(&i));
        let plan = p.plan(&i);
        let targets: Vec<String> = plan.iter().map(|p| p.target.to_string()).collect();
        assert_eq!(
            targets,
            [
                "ip:203.0.113.7",
                "process:shop/4242",
                "file:shop:/var/spool/cron/crontabs/www-data",
                "user:shop/www-data",
                "host:shop",
                "account:alice",
                &format!("incident:{}", i.id),
            ]
        );
        assert_eq!(plan[0].ttl_seconds, 4 * 3600, "default ban");
        assert_eq!(plan[3].ttl_seconds, 2 * 3600, "configured");
    }

    #[test]
    fn matches_on_risk_severity_status_and_alert_labels() {
        let mut c = config(&[("block_address", None)]);
        c.min_risk = 50;
        c.min_severity = Some("high".into());
        c.matchers = vec!["detector=\"web\"".into(), "tactic=\"TA0001\"".into()];
        let p = Playbook::compile(&c).unwrap();
        let mut i = incident();
        assert!(p.matches(&i));
        i.risk.score = 49;
        assert!(!p.matches(&i), "below the least risk");
        i.risk.score = 80;
        i.status = IncidentStatus::Resolved;
        assert!(!p.matches(&i), "resolved incidents call for nothing");
        i.status = IncidentStatus::Investigating;
        i.chain[0].detector = "sigma".into();
        assert!(!p.matches(&i), "no alert from the web detector");
    }
}
