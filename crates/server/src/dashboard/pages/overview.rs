//! The overview: what is happening now. Event and detection rates, open alerts by
//! severity, detections over time by severity, the newest firing alerts, top rules,
//! addresses and hosts, the ATT&CK heat map and host health; re-rendered live.

use super::{Query, answer};
use crate::auth::middleware::Principal;
use crate::dashboard::html::{
    Layout, error_box, esc, field, host_link, percent, severity, span_tabs, table, url_part, when,
};
use crate::dashboard::svg::{self, Stack};
use crate::routes::{alerts, statistics};
use crate::state::AppState;
use axum::extract::{Extension, Query as Q, State};
use axum::response::Response;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

/// The span the rates are measured over.
const RATE_WINDOW: &str = "5m";
/// The windows offered.
const WINDOWS: &[&str] = &["1h", "24h", "7d"];

pub async fn page(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Q(raw): Query,
) -> Response {
    let window = raw
        .get("window")
        .filter(|w| WINDOWS.contains(&w.as_str()))
        .cloned()
        .unwrap_or_else(|| "24h".into());
    let summary = answer(
        statistics::dashboard(
            State(state.clone()),
            Q(HashMap::from([("window".to_string(), window.clone())])),
        )
        .await,
    );
    // The rates as they are now: the last five minutes.
    let recent = answer(
        statistics::dashboard(
            State(state.clone()),
            Q(HashMap::from([(
                "window".to_string(),
                RATE_WINDOW.to_string(),
            )])),
        )
        .await,
    );
    let firing = answer(
        alerts::list(
            State(state.clone()),
            Q(HashMap::from([
                ("status".to_string(), "firing".to_string()),
                ("limit".to_string(), "10".to_string()),
            ])),
        )
        .await,
    );
    let mut body = span_tabs(WINDOWS, &window, |w| format!("/?window={w}"));
    body.push_str("<div data-live id=\"overview\">");
    match (summary, recent, firing) {
        (Ok(summary), Ok(recent), Ok(firing)) => {
            body.push_str(&figures(&summary, &recent, &window));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Detections over time</h2>{}</section>",
                over_time(&summary)
            ));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Firing alerts</h2>{}<p><a href=\"/alerts?status=firing\">All firing alerts →</a></p></section>",
                recent_alerts(&firing)
            ));
            body.push_str("<div class=\"grid\">");
            body.push_str(&top_list(
                "Top rules",
                &summary["top_rules"],
                "rule_id",
                "title",
                "/alerts?rule_id=",
            ));
            body.push_str(&top_list(
                "Top source addresses",
                &summary["top_source_ips"],
                "key",
                "key",
                "/alerts?source_ip=",
            ));
            body.push_str(&top_list(
                "Top hosts",
                &summary["top_hosts"],
                "key",
                "key",
                "/hosts/",
            ));
            body.push_str("</div>");
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>ATT&amp;CK tactics × techniques</h2>{}</section>",
                heat_map(&summary["attack_heatmap"])
            ));
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Host health</h2>{}</section>",
                host_health(&summary["host_health"])
            ));
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    Layout {
        title: "Overview",
        section: "/",
        principal: &principal,
        live_topics: "alerts,detections,agents",
    }
    .render(&body)
}

fn figures(summary: &Value, recent: &Value, window: &str) -> String {
    let rate = |key: &str| recent[key].as_f64().unwrap_or(0.0);
    let mut open = String::new();
    for (name, _) in svg::SEVERITIES.iter().rev() {
        let n = summary["open_alerts_by_severity"][*name]
            .as_i64()
            .unwrap_or(0);
        open.push_str(&format!(
            "<a class=\"open-count\" href=\"/alerts?status=firing&amp;min_severity={name}\">{} <b data-open=\"{name}\">{n}</b></a>",
            severity(name)
        ));
    }
    format!(
        "<div class=\"figures\">\
         <div class=\"figure\"><span>Events / min, last {RATE_WINDOW}</span><b id=\"events-rate\">{:.1}</b><small>{} in the last {window}</small></div>\
         <div class=\"figure\"><span>Detections / min, last {RATE_WINDOW}</span><b id=\"detections-rate\">{:.2}</b><small>{} in the last {window}</small></div>\
         <div class=\"figure\"><span>Open alerts</span><div class=\"open\">{open}</div></div>\
         <div class=\"figure\"><span>Agents</span><b>{}</b><small>{} silent</small></div></div>",
        rate("events_per_minute"),
        summary["events"].as_i64().unwrap_or(0),
        rate("detections_per_minute"),
        summary["detections"].as_i64().unwrap_or(0),
        summary["agents"]["total"].as_i64().unwrap_or(0),
        summary["agents"]["silent"].as_i64().unwrap_or(0),
    )
}

fn over_time(summary: &Value) -> String {
    let epoch = |key: &str, v: &Value| {
        v[key]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let step = summary["bucket_seconds"].as_i64().unwrap_or(3600).max(1) * 1000;
    let (Some(from), Some(to)) = (epoch("from", summary), epoch("to", summary)) else {
        return "<p class=\"empty\">No detections in this window.</p>".into();
    };
    // Every bucket of the window (the store counts from `from`), those without
    // detections too, so that time reads left to right at an even pace.
    let counted: HashMap<i64, &Value> = summary["over_time"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| epoch("start", b).map(|at| (at, &b["by_severity"])))
        .collect();
    let mut bars = Vec::new();
    let mut at = from;
    while at < to && bars.len() < 500 {
        let label = chrono::DateTime::from_timestamp_millis(at)
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default();
        let counts = counted
            .get(&at)
            .and_then(|c| c.as_object())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
            .collect();
        bars.push(Stack { label, counts });
        at += step;
    }
    let mut legend = String::from("<p class=\"legend\">");
    for (name, colour) in svg::SEVERITIES {
        legend.push_str(&format!(
            "<span><i style=\"background:{colour}\"></i>{name}</span>"
        ));
    }
    legend.push_str("</p>");
    format!(
        "{}{legend}",
        svg::stacked_bars(&bars, "detections over time by severity")
    )
}

fn recent_alerts(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                severity(&field(a, "severity")),
                format!(
                    "<a href=\"/alerts/{}\">{}</a>",
                    esc(&field(a, "id")),
                    esc(&field(a, "title"))
                ),
                esc(&field(a, "host")),
                esc(&field(a, "source_ip")),
                esc(&field(a, "count")),
                when(&field(a, "last_seen")),
            ]
        })
        .collect();
    table(
        &["Severity", "Alert", "Host", "Source", "Count", "Last seen"],
        &rows,
        "No alert is firing.",
    )
}

fn top_list(title: &str, items: &Value, key: &str, label: &str, link: &str) -> String {
    let items = items.as_array().cloned().unwrap_or_default();
    let max = items
        .iter()
        .map(|i| i["count"].as_i64().unwrap_or(0))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = format!("<section class=\"card\"><h2>{title}</h2>");
    if items.is_empty() {
        out.push_str("<p class=\"empty\">None in this window.</p>");
    }
    out.push_str("<ol class=\"bars\">");
    for item in items.iter().take(10) {
        let n = item["count"].as_i64().unwrap_or(0);
        out.push_str(&format!(
            "<li><a href=\"{link}{}\">{}</a><span class=\"bar\" style=\"width:{}%\"></span><b>{n}</b></li>",
            url_part(&field(item, key)),
            esc(&field(item, label)),
            n * 100 / max
        ));
    }
    out.push_str("</ol></section>");
    out
}

fn heat_map(cells: &Value) -> String {
    let cells = cells.as_array().cloned().unwrap_or_default();
    let tactics: Vec<String> = cells
        .iter()
        .map(|c| field(c, "tactic"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let techniques: Vec<String> = cells
        .iter()
        .map(|c| field(c, "technique"))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(30)
        .collect();
    let count = |r: usize, c: usize| {
        cells
            .iter()
            .find(|cell| {
                field(cell, "tactic") == tactics[r] && field(cell, "technique") == techniques[c]
            })
            .and_then(|cell| cell["count"].as_i64())
            .unwrap_or(0)
    };
    svg::heat_map(&tactics, &techniques, count)
}

fn host_health(hosts: &Value) -> String {
    let rows: Vec<Vec<String>> = hosts
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            vec![
                host_link(&field(h, "host")),
                percent(&h["cpu_percent"]),
                percent(&h["memory_percent"]),
                percent(&h["disk_percent"]),
                when(&field(h, "last_seen")),
            ]
        })
        .collect();
    table(
        &["Host", "CPU", "Memory", "Disk", "Last sample"],
        &rows,
        "No host has sent metrics yet.",
    )
}
