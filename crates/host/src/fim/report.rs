//! A change as an event and a detection.

use super::places::classify;
use super::state::{FileChange, FileState};
use std::path::Path;
use watchpost_core::event::{File, Hashes};
use watchpost_core::{AttackTags, Detection, Entity, Event};

fn file_fields(path: &Path, state: Option<&FileState>) -> File {
    File {
        path: Some(path.display().to_string()),
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        size: state.map(|s| s.size),
        owner: state.map(|s| s.uid.to_string()),
        mode: state.map(|s| format!("{:o}", s.mode & 0o7777)),
        hash: state.and_then(|s| s.sha256.clone()).map(|sha256| Hashes {
            sha256: Some(sha256),
            ..Hashes::default()
        }),
    }
}

/// The event of a change: `file.*` is the file after it (or before, when deleted); the
/// state before is in `labels` (`fim.before.*`).
pub fn change_event(change: &FileChange, host: Option<String>) -> Event {
    let mut event = Event::new(chrono::Utc::now(), "agent");
    event.event.category = vec!["file".into()];
    event.event.action = Some(change.action().into());
    event.event.dataset = Some("file.integrity".into());
    event.host.name = host;
    event.file = Some(file_fields(
        &change.path,
        change.after.as_ref().or(change.before.as_ref()),
    ));
    if let Some(link) = change.after.as_ref().and_then(|a| a.link.as_ref()) {
        event.labels.insert("fim.link".into(), link.clone());
    }
    if let Some(before) = &change.before {
        let labels = &mut event.labels;
        labels.insert("fim.before.size".into(), before.size.to_string());
        labels.insert(
            "fim.before.owner".into(),
            format!("{}:{}", before.uid, before.gid),
        );
        labels.insert(
            "fim.before.mode".into(),
            format!("{:o}", before.mode & 0o7777),
        );
        if let Some(hash) = &before.sha256 {
            labels.insert("fim.before.sha256".into(), hash.clone());
        }
        if let Some(link) = &before.link {
            labels.insert("fim.before.link".into(), link.clone());
        }
    }
    event
}

/// The detection of a change, with both states as evidence.
pub fn change_detection(change: &FileChange, event: &Event) -> Detection {
    let (title, severity, tags) = classify(&change.path);
    let mut d = Detection::new(
        &format!("watchpost.fim.{}", change.action()),
        title,
        severity,
        "fim",
    );
    d.category = Some("file".into());
    d.host = event.host.name.clone();
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.event_ids = vec![event.id()];
    if let Some(host) = &d.host {
        d.entity = Some(Entity::Host { name: host.clone() });
    }
    d.summary = format!("{}: {} ({})", title, change.path.display(), change.action());
    let state = |s: &Option<FileState>| {
        s.as_ref().map(|s| {
            serde_json::json!({
                "sha256": s.sha256, "size": s.size, "owner": format!("{}:{}", s.uid, s.gid),
                "mode": format!("{:o}", s.mode & 0o7777), "link": s.link,
            })
        })
    };
    d.evidence = serde_json::json!({
        "path": change.path.display().to_string(),
        "action": change.action(),
        "before": state(&change.before),
        "after": state(&change.after),
    });
    d
}
