//! The entities a detection concerns, as keys the correlator indexes: `ip:203.0.113.7`,
//! `user:www-data`, `host:web-1`, `process:web-1/4242`, `session:…`, `hash:…`.
//!
//! A key is **strong** when sharing it means sharing an actor: the attacker's address, the
//! account, the process (or one of its ancestors), the web session, the file. The host a
//! web detection names is **weak**: it is the victim every attacker of that site shares,
//! so two web alerts never join on it; a host detection on that host may join an incident
//! that reached it through the web (the shell the exploited web server spawned).

use serde_json::Value;
use std::net::IpAddr;
use watchpost_core::{Detection, Entity};

/// Detectors that watch web requests: the host they name is the site, not the actor.
const WEB_DETECTORS: &[&str] = &["web", "web-behaviour", "web-honeypot", "honeypot"];
/// Keys kept per detection at most.
const MAX_KEYS: usize = 32;

/// A detection's keys, strong and weak.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    pub strong: Vec<String>,
    pub weak: Vec<String>,
    /// From a web detector (joins only on strong keys).
    pub web: bool,
}

impl Keys {
    pub fn of(d: &Detection) -> Keys {
        let web = WEB_DETECTORS.contains(&d.detector.as_str());
        let mut keys = Keys {
            web,
            ..Keys::default()
        };
        match &d.entity {
            Some(Entity::Ip { ip }) => keys.ip(ip),
            Some(Entity::User { name }) => keys.strong(format!("user:{name}")),
            Some(Entity::Process { host, pid, .. }) => keys.strong(format!("process:{host}/{pid}")),
            Some(Entity::Host { .. } | Entity::Incident { .. }) | None => {}
        }
        if let Some(host) = &d.host {
            if web {
                keys.weak(format!("host:{host}"));
            } else {
                keys.strong(format!("host:{host}"));
            }
        }
        keys.add_evidence(&d.evidence, d.host.as_deref());
        keys
    }

    fn strong(&mut self, key: String) {
        if self.strong.len() < MAX_KEYS && !self.strong.contains(&key) {
            self.strong.push(key);
        }
    }

    fn weak(&mut self, key: String) {
        if self.weak.len() < MAX_KEYS && !self.weak.contains(&key) {
            self.weak.push(key);
        }
    }

    /// An address that names an actor: not loopback, unspecified or multicast.
    fn ip(&mut self, text: &str) {
        if let Ok(ip) = text.trim().parse::<IpAddr>()
            && !ip.is_loopback()
            && !ip.is_unspecified()
            && !ip.is_multicast()
        {
            self.strong(format!("ip:{ip}"));
        }
    }

    /// Addresses, users, sessions and hashes among the fields a rule matched, and the
    /// process ancestry of a host detection.
    fn add_evidence(&mut self, evidence: &Value, host: Option<&str>) {
        if let Some(fields) = evidence.get("fields").and_then(Value::as_object) {
            for (name, value) in fields {
                let Some(value) = value.as_str() else {
                    continue;
                };
                if name.ends_with(".ip") || name.ends_with("address") {
                    self.ip(value);
                } else if name == "user.name" || name.ends_with("user.name") {
                    if !value.is_empty() {
                        self.strong(format!("user:{value}"));
                    }
                } else if name.contains("session") {
                    self.strong(format!("session:{value}"));
                } else if name.contains("hash") || name.ends_with("sha256") || name.ends_with("md5")
                {
                    self.strong(format!("hash:{}", value.to_ascii_lowercase()));
                }
            }
        }
        for key in ["session_id", "session"] {
            if let Some(session) = evidence.get(key).and_then(Value::as_str) {
                self.strong(format!("session:{session}"));
            }
        }
        if let (Some(host), Some(ancestry)) =
            (host, evidence.get("ancestry").and_then(Value::as_array))
        {
            for step in ancestry {
                if let Some(pid) = step.get("pid").and_then(Value::as_i64) {
                    self.strong(format!("process:{host}/{pid}"));
                }
                if let Some(user) = step.get("user").and_then(Value::as_str) {
                    self.strong(format!("user:{user}"));
                }
            }
        }
    }
}

/// What a detection acted on or from, that a response can act on in turn (see
/// `Incident::subjects`): the attacker's address, the application account a web detection
/// names, the process a host detection names (not its ancestors: the web server that
/// spawned a shell is the victim), the account that process ran as, files it changed, and
/// the host of a host detection.
pub fn subjects(d: &Detection) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if out.len() < MAX_KEYS && !out.contains(&s) {
            out.push(s);
        }
    };
    let web = WEB_DETECTORS.contains(&d.detector.as_str());
    match &d.entity {
        // Loopback too: a ban on it is refused by the response's guards, and the refusal
        // is recorded, rather than never considered.
        Some(Entity::Ip { ip }) => {
            if let Ok(ip) = ip.trim().parse::<IpAddr>() {
                add(format!("ip:{ip}"));
            }
        }
        Some(Entity::Process { host, pid, .. }) if *pid > 1 => add(format!("process:{host}/{pid}")),
        Some(Entity::User { name }) => {
            if let Some(host) = &d.host {
                add(format!("user:{host}/{name}"));
            }
        }
        _ => {}
    }
    if web {
        // The application account a web detection names (a login that succeeded for the
        // attacker): the account to suspend.
        if let Some(user) = d.evidence.get("user").and_then(Value::as_str)
            && !user.is_empty()
        {
            add(format!("account:{user}"));
        }
        return out;
    }
    let Some(host) = d.host.as_deref() else {
        return out;
    };
    let fields = d.evidence.get("fields").and_then(Value::as_object);
    let field = |name: &str| fields.and_then(|f| f.get(name)).and_then(Value::as_str);
    if let Some(user) = field("user.name").filter(|u| !u.is_empty()) {
        add(format!("user:{host}/{user}"));
    }
    let paths = [
        d.evidence.get("path").and_then(Value::as_str),
        field("file.path"),
        field("TargetFilename"),
    ];
    for path in paths.into_iter().flatten().filter(|p| p.starts_with('/')) {
        add(format!("file:{host}:{path}"));
    }
    add(format!("host:{host}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use watchpost_core::Severity;

    #[test]
    fn web_detections_name_the_attacker_strongly_and_the_site_weakly() {
        let mut d = Detection::new("web.sqli", "SQL injection", Severity::High, "web");
        d.entity = Some(Entity::Ip {
            ip: "203.0.113.7".into(),
        });
        d.host = Some("shop".into());
        let keys = Keys::of(&d);
        assert_eq!(keys.strong, ["ip:203.0.113.7"]);
        assert_eq!(keys.weak, ["host:shop"]);
        assert!(keys.web);
    }

    #[test]
    fn host_detections_name_host_process_tree_and_users() {
        let mut d = Detection::new(
            "sigma.shell",
            "Shell from web server",
            Severity::High,
            "sigma",
        );
        d.host = Some("shop".into());
        d.entity = Some(Entity::Process {
            host: "shop".into(),
            pid: 42,
            name: None,
        });
        d.evidence = json!({"fields": {"destination.ip": "198.51.100.9", "user.name": "www-data",
                                       "source.ip": "127.0.0.1"},
                            "ancestry": [{"pid": 42, "user": "www-data"}, {"pid": 7, "user": "www-data"}]});
        let keys = Keys::of(&d);
        assert!(!keys.web && keys.weak.is_empty());
        for key in [
            "process:shop/42",
            "host:shop",
            "ip:198.51.100.9",
            "user:www-data",
            "process:shop/7",
        ] {
            assert!(keys.strong.contains(&key.to_string()), "{key}: {keys:?}");
        }
        assert!(
            !keys.strong.iter().any(|k| k.contains("127.0.0.1")),
            "loopback names no actor"
        );
        assert_eq!(
            subjects(&d),
            ["process:shop/42", "user:shop/www-data", "host:shop"],
            "the process itself, not the web server above it"
        );
    }

    #[test]
    fn subjects_name_the_attacker_of_a_web_detection_and_the_file_of_a_change() {
        let mut web = Detection::new("web.sqli", "SQL injection", Severity::High, "web");
        web.entity = Some(Entity::Ip {
            ip: "203.0.113.7".into(),
        });
        web.host = Some("shop".into());
        assert_eq!(subjects(&web), ["ip:203.0.113.7"], "the site is no subject");
        web.evidence = json!({"user": "alice"});
        assert_eq!(subjects(&web), ["ip:203.0.113.7", "account:alice"]);
        let mut fim = Detection::new(
            "watchpost.fim.modified",
            "Cron changed",
            Severity::High,
            "fim",
        );
        fim.host = Some("shop".into());
        fim.entity = Some(Entity::Host {
            name: "shop".into(),
        });
        fim.evidence = json!({"path": "/var/spool/cron/crontabs/www-data"});
        assert_eq!(
            subjects(&fim),
            ["file:shop:/var/spool/cron/crontabs/www-data", "host:shop"]
        );
    }
}
