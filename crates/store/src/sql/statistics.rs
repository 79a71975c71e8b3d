//! Counts over a time range for the statistics and dashboard endpoints: detections by
//! severity, detector, host, source address and rule (with each rule's title and ATT&CK
//! tags from one of its detections), detections over time, alerts by status and
//! severity, events stored, and each host's latest CPU, memory and disk figures.

use super::SqlStore;
use crate::StoreError;
use crate::statistics::{Count, HostHealth, HostSummary, RuleCount, Statistics, TimeBucket};
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};
use watchpost_core::time::{from_millis, to_millis};
use watchpost_core::{Detection, Severity};

/// Rules whose title and tags are looked up (the most frequent first).
const MAX_RULES: i64 = 1000;
/// Hosts, addresses and detectors listed, the most frequent first.
const TOP: i64 = 10;
/// Sample detections read per query.
const SAMPLE_CHUNK: usize = 500;
/// Buckets of the detections-over-time series, at most.
const MAX_BUCKETS: i64 = 1000;

pub(super) async fn statistics(
    store: &SqlStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_seconds: i64,
) -> Result<Statistics, StoreError> {
    let (from_ms, to_ms) = (to_millis(from), to_millis(to));
    let range = "ts >= $1 AND ts < $2";
    let grouped = |column: &str, limit: i64| {
        format!(
            "SELECT {column} AS k, COUNT(*) AS n FROM detections WHERE {range} AND {column} IS NOT NULL \
             GROUP BY {column} ORDER BY n DESC, k LIMIT {limit}"
        )
    };
    let counts = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<Count>, StoreError> {
        rows.iter()
            .map(|r| {
                Ok(Count {
                    key: r.try_get("k")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    };
    let fetch = |sql: String| {
        sqlx::query(AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&store.pool)
    };

    let by_severity_rows = fetch(format!(
        "SELECT CAST(severity AS BIGINT) AS severity, COUNT(*) AS n FROM detections WHERE {range} GROUP BY severity"
    ))
    .await?;
    let mut by_severity = Vec::new();
    let mut total = 0;
    for row in &by_severity_rows {
        let n: i64 = row.try_get("n")?;
        let rank: i32 = row.try_get::<i64, _>("severity")? as i32;
        total += n;
        by_severity.push(Count {
            key: Severity::from_rank(rank)
                .map_or("unknown", Severity::as_str)
                .into(),
            count: n,
        });
    }
    by_severity.sort_by(|a, b| b.count.cmp(&a.count).then(a.key.cmp(&b.key)));
    let by_detector = counts(fetch(grouped("detector", TOP)).await?)?;
    let by_host = counts(fetch(grouped("host", TOP)).await?)?;
    let by_source_ip = counts(fetch(grouped("source_ip", TOP)).await?)?;

    // Rules, with one detection each for the title and tags.
    let rule_rows = fetch(format!(
        "SELECT rule_id AS k, COUNT(*) AS n, MAX(id) AS sample FROM detections WHERE {range} \
         GROUP BY rule_id ORDER BY n DESC, k LIMIT {MAX_RULES}"
    ))
    .await?;
    // One detection per rule, for its title and tags, read in a few queries.
    let samples: Vec<String> = rule_rows
        .iter()
        .map(|r| r.try_get("sample"))
        .collect::<Result<_, _>>()?;
    let mut docs: HashMap<String, Detection> = HashMap::new();
    for chunk in samples.chunks(SAMPLE_CHUNK) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, doc, crc FROM detections WHERE id IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(id.clone());
        }
        for row in query.fetch_all(&store.pool).await? {
            let doc: String = row.try_get("doc")?;
            if let Ok(d) = serde_json::from_str::<Detection>(&doc) {
                docs.insert(row.try_get("id")?, d);
            }
        }
    }
    let mut by_rule = Vec::with_capacity(rule_rows.len());
    for (row, sample) in rule_rows.iter().zip(&samples) {
        let detection = docs.remove(sample);
        let rule_id: String = row.try_get("k")?;
        by_rule.push(RuleCount {
            title: detection
                .as_ref()
                .map_or_else(|| rule_id.clone(), |d| d.rule_title.clone()),
            tactics: detection
                .as_ref()
                .map(|d| d.attack.tactics.clone())
                .unwrap_or_default(),
            techniques: detection
                .as_ref()
                .map(|d| d.attack.techniques.clone())
                .unwrap_or_default(),
            category: detection.and_then(|d| d.category),
            rule_id,
            count: row.try_get("n")?,
        });
    }

    let bucket_seconds = bucket_seconds
        .max(1)
        .max((to_ms - from_ms) / 1000 / MAX_BUCKETS + 1);
    let width = bucket_seconds * 1000;
    let series_rows = fetch(format!(
        "SELECT (ts - $1) / {width} AS b, CAST(severity AS BIGINT) AS severity, COUNT(*) AS n \
         FROM detections WHERE {range} GROUP BY b, severity"
    ))
    .await?;
    let mut series: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
    for row in &series_rows {
        let b: i64 = row.try_get("b")?;
        let rank = row.try_get::<i64, _>("severity")? as i32;
        let name = Severity::from_rank(rank).map_or("unknown", Severity::as_str);
        *series.entry(b).or_default().entry(name.into()).or_default() +=
            row.try_get::<i64, _>("n")?;
    }
    let over_time = series
        .into_iter()
        .map(|(b, by_severity)| TimeBucket {
            start: from_millis(from_ms + b * width),
            by_severity,
        })
        .collect();

    let alert_rows = sqlx::query(
        "SELECT status, CAST(severity AS BIGINT) AS severity, COUNT(*) AS n FROM alerts \
         GROUP BY status, severity",
    )
    .fetch_all(&store.pool)
    .await?;
    let mut alerts_by_status: BTreeMap<String, i64> = BTreeMap::new();
    let mut open_alerts_by_severity: BTreeMap<String, i64> = BTreeMap::new();
    for row in &alert_rows {
        let status: String = row.try_get("status")?;
        let n: i64 = row.try_get("n")?;
        *alerts_by_status.entry(status.clone()).or_default() += n;
        if status == "firing" || status == "acknowledged" {
            let rank = row.try_get::<i64, _>("severity")? as i32;
            let name = Severity::from_rank(rank).map_or("unknown", Severity::as_str);
            *open_alerts_by_severity.entry(name.into()).or_default() += n;
        }
    }

    let events: i64 = sqlx::query(AssertSqlSafe(format!(
        "SELECT COUNT(*) AS n FROM events WHERE {range}"
    )))
    .bind(from_ms)
    .bind(to_ms)
    .fetch_one(&store.pool)
    .await?
    .try_get("n")?;

    Ok(Statistics {
        from,
        to,
        events,
        detections: total,
        by_severity,
        by_detector,
        by_host,
        by_source_ip,
        by_rule,
        bucket_seconds,
        over_time,
        alerts_by_status,
        open_alerts_by_severity,
        host_health: host_health(store, to).await?,
    })
}

/// Each host's latest per-minute CPU, memory and root-disk figures, from the last ten
/// minutes of rollups.
async fn host_health(store: &SqlStore, now: DateTime<Utc>) -> Result<Vec<HostHealth>, StoreError> {
    let since = to_millis(now) - 10 * 60 * 1000;
    let rows = sqlx::query(
        "SELECT host, metric, bucket, total, samples FROM metric_rollups \
         WHERE step_seconds = 60 AND bucket >= $1 \
         AND metric IN ('cpu.percent', 'memory.percent', 'disk.used_percent:/') \
         ORDER BY host, metric, bucket",
    )
    .bind(since)
    .fetch_all(&store.pool)
    .await?;
    let mut hosts: BTreeMap<String, HostHealth> = BTreeMap::new();
    for row in &rows {
        let host: String = row.try_get("host")?;
        let metric: String = row.try_get("metric")?;
        let samples: i64 = row.try_get("samples")?;
        let total: f64 = row.try_get("total")?;
        let value = (samples > 0).then(|| total / samples as f64);
        let entry = hosts.entry(host.clone()).or_insert_with(|| HostHealth {
            host,
            ..HostHealth::default()
        });
        // Rows come oldest first: the last one read is the latest.
        entry.last_seen = Some(from_millis(row.try_get("bucket")?));
        match metric.as_str() {
            "cpu.percent" => entry.cpu_percent = value,
            "memory.percent" => entry.memory_percent = value,
            _ => entry.disk_percent = value,
        }
    }
    Ok(hosts.into_values().collect())
}

/// Hosts listed at most.
const MAX_HOSTS: i64 = 10_000;

pub(super) async fn hosts(
    store: &SqlStore,
    now: DateTime<Utc>,
) -> Result<Vec<HostSummary>, StoreError> {
    let since = to_millis(now) - 30 * 24 * 3600 * 1000;
    let mut hosts: BTreeMap<String, HostSummary> = BTreeMap::new();
    let seen = |host: String, at: i64, hosts: &mut BTreeMap<String, HostSummary>| {
        let entry = hosts.entry(host.clone()).or_insert_with(|| HostSummary {
            host,
            ..HostSummary::default()
        });
        let at = from_millis(at);
        if entry.last_seen.is_none_or(|t| t < at) {
            entry.last_seen = Some(at);
        }
    };
    let from_metrics = sqlx::query(AssertSqlSafe(format!(
        "SELECT host, MAX(bucket) AS last FROM metric_rollups WHERE bucket >= $1 \
         GROUP BY host ORDER BY host LIMIT {MAX_HOSTS}"
    )))
    .bind(since)
    .fetch_all(&store.pool)
    .await?;
    for row in &from_metrics {
        seen(row.try_get("host")?, row.try_get("last")?, &mut hosts);
    }
    let from_detections = sqlx::query(AssertSqlSafe(format!(
        "SELECT host, MAX(ts) AS last FROM detections WHERE ts >= $1 AND host IS NOT NULL \
         GROUP BY host ORDER BY host LIMIT {MAX_HOSTS}"
    )))
    .bind(since)
    .fetch_all(&store.pool)
    .await?;
    for row in &from_detections {
        seen(row.try_get("host")?, row.try_get("last")?, &mut hosts);
    }
    let open = sqlx::query(
        "SELECT host, COUNT(*) AS n FROM alerts WHERE status IN ('firing', 'acknowledged') \
         AND host IS NOT NULL GROUP BY host",
    )
    .fetch_all(&store.pool)
    .await?;
    for row in &open {
        let host: String = row.try_get("host")?;
        hosts
            .entry(host.clone())
            .or_insert_with(|| HostSummary {
                host,
                ..HostSummary::default()
            })
            .open_alerts = row.try_get("n")?;
    }
    for health in host_health(store, now).await? {
        if let Some(entry) = hosts.get_mut(&health.host) {
            entry.cpu_percent = health.cpu_percent;
            entry.memory_percent = health.memory_percent;
            entry.disk_percent = health.disk_percent;
        }
    }
    Ok(hosts.into_values().take(MAX_HOSTS as usize).collect())
}
