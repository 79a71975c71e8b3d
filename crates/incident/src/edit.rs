//! What people do to incidents by hand: link an alert the correlator did not group, unlink
//! one it grouped wrongly, merge two incidents that are one attack. Each is a line in the
//! timeline naming who did it; merging the correlator's way (two incidents sharing a key)
//! goes through [`absorb`] too.

use crate::Settings;
use chrono::{DateTime, Utc};
use watchpost_core::{Alert, AttackTags, ChainStep, Incident, IncidentStatus, TimelineEntry};

/// Why a change by hand cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("alert {0} is already part of incident {1}")]
    AlreadyLinked(uuid::Uuid, uuid::Uuid),
    #[error("alert {0} is not part of incident {1}")]
    NotLinked(uuid::Uuid, uuid::Uuid),
    #[error("an incident cannot be merged into itself")]
    SameIncident,
    #[error("incident {0} is {1}: reopen it first")]
    Finished(uuid::Uuid, &'static str),
    #[error("incident {0} holds {1} alerts already (the most an incident keeps)")]
    Full(uuid::Uuid, usize),
}

/// Adds `alert` to `incident` as a step of its chain, by a person.
pub fn link(
    incident: &mut Incident,
    alert: &Alert,
    settings: &Settings,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), EditError> {
    if incident.alert_ids.contains(&alert.id) {
        return Err(EditError::AlreadyLinked(alert.id, incident.id));
    }
    if incident.alert_ids.len() >= settings.max_alerts {
        return Err(EditError::Full(incident.id, settings.max_alerts));
    }
    let attack = AttackTags::from_sigma_tags(alert.tags.iter().map(String::as_str));
    if incident.chain.len() < settings.max_steps {
        incident.chain.push(ChainStep {
            first_seen: alert.first_seen,
            last_seen: alert.last_seen,
            alert_id: alert.id,
            rule_id: alert.rule_id.clone(),
            title: alert.title.clone(),
            severity: alert.severity,
            detector: alert.detector.clone(),
            tactic: crate::correlator::furthest_tactic(&attack.tactics),
            techniques: attack.techniques.clone(),
            entities: Vec::new(),
            joined_by: Some(format!("{by} (by hand)")),
            count: alert.count,
        });
        incident.chain.sort_by_key(|s| s.first_seen);
    }
    incident.alert_ids.push(alert.id);
    if incident.severity < alert.severity {
        incident.severity = alert.severity;
    }
    note(
        incident,
        settings,
        by,
        at,
        format!("alert {} ({}) linked", alert.id, alert.rule_id),
    );
    Ok(())
}

/// Takes `alert_id` out of `incident`: its step goes, and the entities only it brought.
pub fn unlink(
    incident: &mut Incident,
    alert_id: uuid::Uuid,
    settings: &Settings,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), EditError> {
    if !incident.alert_ids.contains(&alert_id) {
        return Err(EditError::NotLinked(alert_id, incident.id));
    }
    incident.alert_ids.retain(|a| *a != alert_id);
    let gone: Vec<ChainStep> = incident
        .chain
        .iter()
        .filter(|s| s.alert_id == alert_id)
        .cloned()
        .collect();
    incident.chain.retain(|s| s.alert_id != alert_id);
    // An entity stays while another step still names it.
    for step in &gone {
        for entity in &step.entities {
            if !incident.chain.iter().any(|s| s.entities.contains(entity)) {
                incident.entities.retain(|e| e != entity);
            }
        }
    }
    incident.severity = incident
        .chain
        .iter()
        .map(|s| s.severity)
        .max()
        .unwrap_or(incident.severity);
    note(
        incident,
        settings,
        by,
        at,
        format!("alert {alert_id} unlinked"),
    );
    Ok(())
}

/// Moves `absorbed` into `target` (steps, alerts, entities, sites, subjects) and closes
/// it, with a line in each timeline saying why.
pub fn absorb(
    target: &mut Incident,
    absorbed: &mut Incident,
    settings: &Settings,
    by: &str,
    why: &str,
    at: DateTime<Utc>,
) {
    for step in absorbed.chain.drain(..) {
        if target.chain.len() < settings.max_steps
            && !target.chain.iter().any(|s| s.alert_id == step.alert_id)
        {
            target.chain.push(step);
        }
    }
    target.chain.sort_by_key(|s| s.first_seen);
    for alert in &absorbed.alert_ids {
        if !target.alert_ids.contains(alert) && target.alert_ids.len() < settings.max_alerts {
            target.alert_ids.push(*alert);
        }
    }
    for (into, from) in [
        (&mut target.entities, &absorbed.entities),
        (&mut target.sites, &absorbed.sites),
        (&mut target.subjects, &absorbed.subjects),
    ] {
        for e in from {
            if !into.contains(e) && into.len() < settings.max_entities {
                into.push(e.clone());
            }
        }
    }
    if target.severity < absorbed.severity {
        target.severity = absorbed.severity;
    }
    target.created_at = target.created_at.min(absorbed.created_at);
    target.last_activity = target.last_activity.max(absorbed.last_activity);
    note(
        target,
        settings,
        by,
        at,
        format!(
            "merged incident {} (\"{}\"){why}",
            absorbed.id, absorbed.title
        ),
    );
    absorbed.status = IncidentStatus::Closed;
    absorbed.updated_at = Utc::now();
    let into = target.id;
    note(
        absorbed,
        settings,
        by,
        at,
        format!("merged into incident {into}{why}"),
    );
}

/// Checks that `target` and `other` can be merged by hand.
pub fn may_merge(target: &Incident, other: &Incident) -> Result<(), EditError> {
    if target.id == other.id {
        return Err(EditError::SameIncident);
    }
    for i in [target, other] {
        if matches!(i.status, IncidentStatus::Closed | IncidentStatus::Resolved) {
            return Err(EditError::Finished(i.id, i.status.as_str()));
        }
    }
    Ok(())
}

fn note(incident: &mut Incident, settings: &Settings, by: &str, at: DateTime<Utc>, what: String) {
    if incident.timeline.len() < settings.max_timeline {
        incident.timeline.push(TimelineEntry {
            at,
            by: by.to_string(),
            what,
        });
    }
    incident.updated_at = Utc::now();
}
