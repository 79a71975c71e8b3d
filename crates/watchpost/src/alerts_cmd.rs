//! `watchpost alerts list` and `watchpost alerts explain ID`: read from the store the server
//! writes to (the same `--config`), so they work while the server runs or after it stopped.

use crate::db::open;
use std::path::PathBuf;
use std::process::ExitCode;
use uuid::Uuid;
use watchpost_store::AlertQuery;

/// Which alerts `alerts list` shows.
pub struct ListFilter {
    pub status: Option<String>,
    pub min_severity: Option<String>,
    pub host: Option<String>,
    pub rule: Option<String>,
}

/// Prints the most recently active alerts that pass `filter`.
pub async fn list(
    path: &Option<PathBuf>,
    filter: ListFilter,
    limit: u32,
) -> anyhow::Result<ExitCode> {
    let status = filter
        .status
        .map(|s| s.parse().map_err(|e| anyhow::anyhow!("--status: {e}")))
        .transpose()?;
    let min_severity = filter
        .min_severity
        .map(|s| {
            s.parse()
                .map_err(|e| anyhow::anyhow!("--min-severity: {e}"))
        })
        .transpose()?;
    let store = open(path).await?;
    let page = store
        .query_alerts(&AlertQuery {
            status,
            min_severity,
            host: filter.host,
            rule_id: filter.rule,
            limit: Some(limit),
            ..AlertQuery::default()
        })
        .await?;
    println!(
        "{:<36} {:<12} {:<8} {:>6} {:<20} title",
        "id", "status", "severity", "count", "last seen"
    );
    for a in page.items {
        println!(
            "{:<36} {:<12} {:<8} {:>6} {:<20} {}{}",
            a.id,
            a.status.as_str(),
            a.severity.as_str(),
            a.count,
            a.last_seen.format("%Y-%m-%d %H:%M:%S"),
            a.title,
            a.host.map(|h| format!(" ({h})")).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Why did (or didn't) this alert page anyone: its status history, each pipeline stage's
/// verdict, and each notice with its delivery attempts.
pub async fn explain(path: &Option<PathBuf>, id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let id =
        Uuid::parse_str(id).map_err(|_| anyhow::anyhow!("`{id}` is not an alert id (a UUID)"))?;
    let store = open(path).await?;
    let Some(alert) = store.get_alert(id).await? else {
        eprintln!("no alert {id}");
        return Ok(ExitCode::FAILURE);
    };
    let trace = store.alert_trace(id).await?;
    let notifications = store.alert_notifications(id).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"alert": alert, "trace": trace, "notifications": notifications})
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} · {} · {} · {}× from {} to {}",
        alert.title,
        alert.severity.as_str(),
        alert.status.as_str(),
        alert.count,
        alert.first_seen.to_rfc3339(),
        alert.last_seen.to_rfc3339()
    );
    for change in &alert.history {
        println!(
            "  {} {} → {} by {}{}",
            change.at.to_rfc3339(),
            change.from.as_str(),
            change.to.as_str(),
            change.by,
            change
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    println!("\npipeline:");
    if trace.is_empty() {
        println!("  (no verdicts recorded)");
    }
    for e in &trace {
        println!(
            "  {} {:<10} {:<10} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            serde_json::to_value(e.stage)?.as_str().unwrap_or(""),
            serde_json::to_value(e.verdict)?.as_str().unwrap_or(""),
            e.detail
        );
    }
    println!("\nnotifications:");
    if notifications.is_empty() {
        println!("  (none)");
    }
    for h in &notifications {
        let n = &h.entry.notification;
        println!(
            "  {} {} to `{}`: {} after {} attempt(s)",
            n.id,
            n.kind.name(),
            n.receiver,
            h.entry.status,
            h.entry.attempts
        );
        for a in &h.attempts_made {
            println!(
                "    {} {:<8} {} {}",
                a.at.format("%Y-%m-%d %H:%M:%S"),
                a.outcome,
                a.channel,
                a.detail
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
