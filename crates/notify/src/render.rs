//! The words of a notice, shared by the channels that show text to people.

use watchpost_alert::{Notification, NotificationKind};
use watchpost_core::html::escape as escape_html;
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

/// The plain-text body of a notice: the headline, one line per alert, what grouped them.
pub fn text_body(n: &Notification) -> String {
    let mut out = headline(n);
    out.push_str("\n\n");
    for a in &n.alerts {
        out.push_str("- ");
        out.push_str(&alert_line(a));
        out.push('\n');
    }
    if n.truncated > 0 {
        out.push_str(&format!("- and {} more alerts\n", n.truncated));
    }
    if !n.group_labels.is_empty() {
        let labels: Vec<String> = n
            .group_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!("\nGrouped by {}\n", labels.join(", ")));
    }
    out.push_str(&format!(
        "Route {} · receiver {} · notice {}\n",
        n.route, n.receiver, n.id
    ));
    out
}

/// The HTML body of a notice: the same facts as [`text_body`], every value escaped.
pub fn html_body(n: &Notification) -> String {
    let mut rows = String::new();
    for a in &n.alerts {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(a.severity.as_str()),
            escape_html(&a.title),
            escape_html(a.host.as_deref().unwrap_or("")),
            escape_html(a.source_ip.as_deref().unwrap_or("")),
            a.count,
            escape_html(&a.first_seen.format("%Y-%m-%d %H:%M UTC").to_string()),
        ));
    }
    if n.truncated > 0 {
        rows.push_str(&format!(
            "<tr><td colspan=\"6\">and {} more alerts</td></tr>\n",
            n.truncated
        ));
    }
    format!(
        "<!doctype html>\n<html><body style=\"font-family:sans-serif\">\n<h2>{}</h2>\n\
         <table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n\
         <tr><th>Severity</th><th>Alert</th><th>Host</th><th>Source</th><th>Count</th><th>First seen</th></tr>\n\
         {rows}</table>\n<p style=\"color:#666\">Route {} · receiver {} · notice {}</p>\n</body></html>\n",
        escape_html(&headline(n)),
        escape_html(&n.route),
        escape_html(&n.receiver),
        n.id
    )
}

/// A short text for a phone: the headline and the first alert's line.
pub fn short_text(n: &Notification) -> String {
    match n.alerts.first() {
        Some(a) if !matches!(n.kind, NotificationKind::Digest { .. }) => {
            format!("{}\n{}", headline(n), alert_line(a))
        }
        _ => headline(n),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::Utc;
    use watchpost_core::Detection;

    pub(crate) fn sample_notification() -> Notification {
        let mut d = Detection::new(
            "lnx.reverse_shell",
            "Reverse shell",
            Severity::Critical,
            "sigma",
        );
        d.host = Some("web-1".into());
        Notification {
            id: uuid::Uuid::now_v7(),
            kind: NotificationKind::Firing,
            receiver: "ops".into(),
            route: "root".into(),
            group_key: "root{}".into(),
            group_labels: Default::default(),
            alerts: vec![Alert::from_detection(&d, Default::default())],
            truncated: 0,
            silence: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_html_body_escapes_what_detections_wrote() {
        let mut n = sample_notification();
        n.alerts[0].title = "<img src=x onerror=alert(1)>".into();
        let html = html_body(&n);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
