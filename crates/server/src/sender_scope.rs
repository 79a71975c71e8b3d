//! What a sender may speak for. An agent speaks for its own host, a proxy for the web
//! requests it inspected; the server sets who sent what from the token, never from the
//! payload:
//!
//! - every event's `host.name` becomes the sender's name, and `agent.{id,name,type}` the
//!   sender's (what the payload claimed is overwritten);
//! - every detection's `host` becomes the sender's name (so do the hosts of `host` and
//!   `process` entities), and its origin `sender:<id>`, which ties the alert it opens to
//!   this sender: a resolve may close only an alert the same sender opened
//!   ([`watchpost_core::Alert::may_be_resolved_by`]);
//! - a detection from a detector the sender's kind does not run (an agent claiming a web
//!   finding, a proxy a host finding), or a proxy's detection about a host or process,
//!   is refused.
//!
//! Refused records are named by their place in the batch and counted; the rest is stored.

use serde::Serialize;
use watchpost_core::{Detection, Entity, Event};
use watchpost_ship::Record;
use watchpost_store::Sender;

/// Detectors an agent runs on its host.
pub const AGENT_DETECTORS: &[&str] = &["host", "fim", "network", "baseline"];
/// Detectors a proxy (or a tower layer shipping through one) runs on web requests.
pub const PROXY_DETECTORS: &[&str] = &["web", "web-behaviour", "web-honeypot"];

/// One record of a batch that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedRecord {
    /// 0-based position in the batch's records.
    pub index: usize,
    /// `foreign_detector`, `foreign_entity` or `resolves_foreign_alert`.
    pub reason: &'static str,
    pub message: String,
}

/// A batch bound to its sender: what may be stored, and what was refused.
#[derive(Debug, Default)]
pub struct Scoped {
    pub events: Vec<Event>,
    /// Each detection with its index in the batch.
    pub detections: Vec<(usize, Detection)>,
    pub refused: Vec<RefusedRecord>,
}

/// The origin a sender's detections carry.
pub fn origin(sender: &Sender) -> String {
    format!("sender:{}", sender.id)
}

/// Binds every record of a batch to `sender` (see the module doc).
pub fn scope(sender: &Sender, records: Vec<Record>) -> Scoped {
    let mut scoped = Scoped::default();
    for (index, record) in records.into_iter().enumerate() {
        match record {
            Record::Event(mut event) => {
                bind_event(sender, &mut event);
                scoped.events.push(*event);
            }
            Record::Detection(mut detection) => match bind_detection(sender, &mut detection) {
                Ok(()) => scoped.detections.push((index, *detection)),
                Err((reason, message)) => scoped.refused.push(RefusedRecord {
                    index,
                    reason,
                    message,
                }),
            },
        }
    }
    scoped
}

fn bind_event(sender: &Sender, event: &mut Event) {
    event.host.name = Some(sender.name.clone());
    let agent = serde_json::json!({"id": sender.id, "name": sender.name, "type": sender.kind});
    match &mut event.raw {
        serde_json::Value::Object(raw) => {
            raw.insert("agent".into(), agent);
        }
        raw => {
            let mut map = serde_json::Map::new();
            if !raw.is_null() {
                map.insert("raw".into(), raw.take());
            }
            map.insert("agent".into(), agent);
            *raw = serde_json::Value::Object(map);
        }
    }
}

fn bind_detection(
    sender: &Sender,
    detection: &mut Detection,
) -> Result<(), (&'static str, String)> {
    let detectors = if sender.kind == "proxy" {
        PROXY_DETECTORS
    } else {
        AGENT_DETECTORS
    };
    if !detectors.contains(&detection.detector.as_str()) {
        return Err((
            "foreign_detector",
            format!(
                "a {} ships detections of {} only, not `{}`",
                sender.kind,
                detectors.join(", "),
                detection.detector
            ),
        ));
    }
    match &mut detection.entity {
        Some(Entity::Host { name }) | Some(Entity::Process { host: name, .. })
            if sender.kind == "proxy" =>
        {
            return Err((
                "foreign_entity",
                format!("a proxy speaks for web requests, not for the host `{name}`"),
            ));
        }
        Some(Entity::Host { name }) | Some(Entity::Process { host: name, .. }) => {
            *name = sender.name.clone();
        }
        _ => {}
    }
    detection.host = Some(sender.name.clone());
    detection.origin = Some(origin(sender));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchpost_core::Severity;

    fn sender(kind: &str) -> Sender {
        Sender::enrolled("abc", "web-1", kind, String::new(), chrono::Utc::now())
    }

    fn detection(detector: &str, entity: Option<Entity>) -> Record {
        let mut d = Detection::new("r", "R", Severity::Critical, detector);
        d.entity = entity;
        d.host = Some("payroll-db".into());
        d.origin = Some("sender:someone-else".into());
        Record::Detection(Box::new(d))
    }

    #[test]
    fn an_agent_speaks_for_its_own_host_only() {
        let event = Event::from_json(serde_json::json!({
            "@timestamp": "2026-12-07T10:00:00Z", "host": {"name": "payroll-db"},
            "agent": {"id": "forged"}, "message": "x"}))
        .unwrap();
        let scoped = scope(
            &sender("agent"),
            vec![
                Record::Event(Box::new(event)),
                detection(
                    "host",
                    Some(Entity::Host {
                        name: "payroll-db".into(),
                    }),
                ),
                detection(
                    "web",
                    Some(Entity::Ip {
                        ip: "1.2.3.4".into(),
                    }),
                ),
            ],
        );
        assert_eq!(scoped.events[0].host.name.as_deref(), Some("web-1"));
        assert_eq!(scoped.events[0].raw["agent"]["id"], "abc");
        let (index, d) = &scoped.detections[0];
        assert_eq!(*index, 1);
        assert_eq!(d.host.as_deref(), Some("web-1"));
        assert_eq!(
            d.entity,
            Some(Entity::Host {
                name: "web-1".into()
            })
        );
        assert_eq!(d.origin.as_deref(), Some("sender:abc"));
        assert_eq!(scoped.refused.len(), 1);
        assert_eq!(scoped.refused[0].index, 2);
        assert_eq!(scoped.refused[0].reason, "foreign_detector");
    }

    #[test]
    fn a_proxy_speaks_for_web_requests_only() {
        let scoped = scope(
            &sender("proxy"),
            vec![
                detection(
                    "web",
                    Some(Entity::Ip {
                        ip: "1.2.3.4".into(),
                    }),
                ),
                detection(
                    "web",
                    Some(Entity::Process {
                        host: "db".into(),
                        pid: 1,
                        name: None,
                    }),
                ),
                detection("fim", None),
            ],
        );
        assert_eq!(scoped.detections.len(), 1);
        let reasons: Vec<_> = scoped.refused.iter().map(|r| r.reason).collect();
        assert_eq!(reasons, ["foreign_entity", "foreign_detector"]);
    }
}
