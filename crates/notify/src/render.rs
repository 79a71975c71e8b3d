//! The words of a notice, shared by the channels that show text to people.

use watchpost_alert::{Notification, NotificationKind};
use watchpost_core::{Alert, Severity};

/// The highest severity among a notice's alerts (`Info` when it lists none).
pub fn top_severity(n: &Notification) -> Severity {
    n.alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// One line that says what happened: `[FIRING] 3 alerts: Reverse shell (web-1)…`.
pub fn headline(n: &Notification) -> String {
    let first = n.alerts.first();
    let subject = first.map(subject).unwrap_or_default();
    let more = if n.alerts.len() > 1 {
        format!(" and {} more", n.alerts.len() - 1 + n.truncated as usize)
    } else {
        String::new()
    };
    match &n.kind {
        NotificationKind::Firing => format!(
            "[FIRING {}] {subject}{more}",
            top_severity(n).as_str().to_uppercase()
        ),
        NotificationKind::Resolved => format!("[RESOLVED] {subject}{more}"),
        NotificationKind::Acknowledged => format!("[ACKNOWLEDGED] {subject}"),
        NotificationKind::Escalation { level, .. } => {
            format!("[ESCALATION {level}] unacknowledged: {subject}")
        }
        NotificationKind::Digest { held_back } => {
            format!("[DIGEST] {held_back} alerts held back by the hourly limit")
        }
        NotificationKind::SilenceExpiring { .. } => match &n.silence {
            Some(s) => format!(
                "[SILENCE ENDING] {} by {} ends at {}",
                s.matchers.join(", "),
                s.created_by,
                s.ends_at.to_rfc3339()
            ),
            None => "[SILENCE ENDING]".into(),
        },
    }
}

/// What an alert is about, in a few words: `Reverse shell on web-1`.
pub fn subject(a: &Alert) -> String {
    match &a.host {
        Some(h) => format!("{} on {h}", a.title),
        None => a.title.clone(),
    }
}

/// One line per alert: severity, title, where, how many times, since when.
pub fn alert_line(a: &Alert) -> String {
    let mut line = format!("{} · {}", a.severity.as_str(), a.title);
    if let Some(h) = &a.host {
        line.push_str(&format!(" · host {h}"));
    }
    if let Some(ip) = &a.source_ip {
        line.push_str(&format!(" · from {ip}"));
    }
    line.push_str(&format!(
        " · {}× since {} ({})",
        a.count,
        a.first_seen.format("%Y-%m-%d %H:%M UTC"),
        a.status.as_str()
    ));
    line
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
