//! Turning an EVTX record's JSON (`{"Event": {"System": …, "EventData": …}}`) into the flat
//! field list Sigma rules test: EventData/UserData values by name, plus the System fields
//! rules use (`EventID`, `Channel`, `Computer`, `Provider_Name`, `Security_UserID`, …).

use serde_json::Value;
use watchpost_sigma::FlatEvent;

/// The record's System block values and flattened data, or `None` if it is not an event.
pub(crate) fn flatten_evtx_json(
    root: &Value,
) -> Option<(FlatEvent, Option<String>, Option<String>)> {
    let event = root.get("Event")?;
    let system = event.get("System")?;
    let event_id = system
        .get("EventID")
        .and_then(|v| scalar(v.get("#text").unwrap_or(v)))?;
    let event_id: u32 = event_id.parse().ok()?;
    let channel = system.get("Channel").and_then(scalar).unwrap_or_default();
    let mut flat = FlatEvent::windows(&channel, event_id);
    let computer = system.get("Computer").and_then(scalar);
    if let Some(c) = &computer {
        flat.push("Computer", c);
    }
    if let Some(p) = system
        .pointer("/Provider/#attributes/Name")
        .and_then(scalar)
    {
        flat.push("Provider_Name", &p);
    }
    if let Some(u) = system
        .pointer("/Security/#attributes/UserID")
        .and_then(scalar)
    {
        flat.push("Security_UserID", &u);
    }
    for key in [
        "Level",
        "Task",
        "Opcode",
        "Keywords",
        "Version",
        "EventRecordID",
    ] {
        if let Some(v) = system.get(key).and_then(scalar) {
            flat.push(key, &v);
        }
    }
    let time = system
        .pointer("/TimeCreated/#attributes/SystemTime")
        .and_then(scalar);
    for section in ["EventData", "UserData"] {
        if let Some(data) = event.get(section) {
            push_leaves(&mut flat, "Data", data, 0);
        }
    }
    Some((flat, computer, time))
}

/// Leaf values under their own names; arrays under the parent's name; attributes skipped.
fn push_leaves(flat: &mut FlatEvent, name: &str, value: &Value, depth: usize) {
    if depth > 8 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "#attributes" {
                    continue;
                }
                let child = if k == "#text" { name } else { k.as_str() };
                push_leaves(flat, child, v, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                push_leaves(flat, name, item, depth + 1);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                flat.push(name, &s);
            }
        }
    }
}

pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
