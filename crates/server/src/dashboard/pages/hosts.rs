//! Hosts and agents: every host with its latest figures and open alerts, every agent and
//! proxy with when it was last heard from, and one host's metric charts.

use super::{Query, answer};
use crate::auth::middleware::Principal;
use crate::dashboard::html::{
    Layout, error_box, esc, field, host_link, percent, span_tabs, table, url_part, when,
};
use crate::dashboard::svg::{self, Point};
use crate::routes::{hosts, metric_series, senders};
use crate::state::AppState;
use axum::extract::{Extension, Path, Query as Q, State};
use axum::response::Response;
use chrono::{Duration, Utc};
use std::collections::HashMap;

/// The ranges a host's charts offer, with the step of each.
const RANGES: &[(&str, i64, &str)] = &[("1h", 1, "1m"), ("24h", 24, "15m"), ("7d", 24 * 7, "2h")];
/// The series charted, with their titles and the top of their scale (percentages).
const CHARTS: &[(&str, &str, Option<f64>)] = &[
    ("cpu.percent", "CPU %", Some(100.0)),
    ("memory.percent", "Memory %", Some(100.0)),
    ("disk.used_percent:/", "Disk used % (/)", Some(100.0)),
    ("load.1", "Load (1 min)", None),
];

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let mut body = String::from("<div data-live id=\"hosts\">");
    match answer(hosts::list(State(state.clone())).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    let name = field(h, "host");
                    vec![
                        host_link(&name),
                        percent(&h["cpu_percent"]),
                        percent(&h["memory_percent"]),
                        percent(&h["disk_percent"]),
                        format!(
                            "<a href=\"/alerts?host={}\">{}</a>",
                            url_part(&name),
                            esc(&field(h, "open_alerts"))
                        ),
                        when(&field(h, "last_seen")),
                    ]
                })
                .collect();
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Hosts</h2>{}</section>",
                table(
                    &["Host", "CPU", "Memory", "Disk", "Open alerts", "Last seen"],
                    &rows,
                    "No host seen in the last 30 days.",
                )
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    match answer(senders::list(State(state)).await) {
        Ok(list) => {
            let rows: Vec<Vec<String>> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        esc(&field(s, "name")),
                        esc(&field(s, "kind")),
                        esc(&field(s, "version")),
                        esc(&field(s, "address")),
                        when(&field(s, "last_seen")),
                    ]
                })
                .collect();
            body.push_str(&format!(
                "<section class=\"card wide\"><h2>Agents and proxies</h2>{}</section>",
                table(
                    &["Name", "Kind", "Version", "Address", "Last heard from"],
                    &rows,
                    "No agent is registered (watchpost agent-token create).",
                )
            ));
        }
        Err(e) => body.push_str(&error_box(&e)),
    }
    body.push_str("</div>");
    Layout {
        title: "Hosts and agents",
        section: "/hosts",
        principal: &principal,
        live_topics: "agents",
    }
    .render(&body)
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    Q(raw): Query,
) -> Response {
    let (range, hours, step) = RANGES
        .iter()
        .find(|(r, _, _)| raw.get("range").is_some_and(|asked| asked == r))
        .copied()
        .unwrap_or(RANGES[1]);
    let to = Utc::now();
    let from = to - Duration::hours(hours);
    let spans: Vec<&str> = RANGES.iter().map(|(r, _, _)| *r).collect();
    let mut body = span_tabs(&spans, range, |r| {
        format!("/hosts/{}?range={r}", url_part(&name))
    });
    body.push_str(&format!(
        "<p><a href=\"/alerts?host={0}\">Alerts of this host</a> · <a href=\"/events?host={0}\">Its events</a></p>",
        url_part(&name)
    ));
    body.push_str("<div class=\"grid charts\" data-live id=\"host-charts\">");
    for (metric, title, ceiling) in CHARTS {
        let query = HashMap::from([
            ("host".to_string(), name.clone()),
            ("metric".to_string(), metric.to_string()),
            ("from".to_string(), from.to_rfc3339()),
            ("to".to_string(), to.to_rfc3339()),
            ("step".to_string(), step.to_string()),
        ]);
        let chart = match answer(metric_series::series(State(state.clone()), Q(query)).await) {
            Ok(series) => {
                let points: Vec<Point> = series["points"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| Point {
                        label: field(p, "at")
                            .replacen('T', " ", 1)
                            .chars()
                            .take(16)
                            .collect(),
                        avg: p["avg"].as_f64().unwrap_or(0.0),
                        min: p["min"].as_f64().unwrap_or(0.0),
                        max: p["max"].as_f64().unwrap_or(0.0),
                    })
                    .collect();
                svg::line(&points, title, *ceiling)
            }
            Err(e) => error_box(&e),
        };
        body.push_str(&format!(
            "<section class=\"card\"><h2>{}</h2>{chart}</section>",
            esc(title)
        ));
    }
    body.push_str("</div>");
    Layout {
        title: &name,
        section: "/hosts",
        principal: &principal,
        live_topics: "metrics",
    }
    .render(&body)
}
