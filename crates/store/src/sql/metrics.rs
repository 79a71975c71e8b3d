//! Metric rollups: upserted per bucket, read back and re-bucketed to the step asked for.

use super::SqlStore;
use crate::StoreError;
use crate::metrics::{MAX_SERIES_POINTS, MetricPoint, MetricSample, ROLLUP_STEPS, source_step};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;
use watchpost_core::time::{from_millis, to_millis};

/// Longest host or metric name stored.
const MAX_NAME: usize = 200;

/// Samples summarised: how many, their sum, the lowest and the highest.
#[derive(Clone, Copy)]
struct Summary {
    samples: i64,
    total: f64,
    low: f64,
    high: f64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            samples: 0,
            total: 0.0,
            low: f64::INFINITY,
            high: f64::NEG_INFINITY,
        }
    }
}

impl Summary {
    fn merge(&mut self, other: Summary) {
        self.samples += other.samples;
        self.total += other.total;
        self.low = self.low.min(other.low);
        self.high = self.high.max(other.high);
    }

    fn of(value: f64) -> Summary {
        Summary {
            samples: 1,
            total: value,
            low: value,
            high: value,
        }
    }
}

/// A rollup row's key: step, host, metric, bucket start (ms).
type RollupKey = (i64, String, String, i64);

pub(super) async fn record_metric_samples(
    store: &SqlStore,
    samples: &[MetricSample],
) -> Result<(), StoreError> {
    // One row per (rollup, host, metric, bucket) however many samples fall in it.
    let mut rows: BTreeMap<RollupKey, Summary> = BTreeMap::new();
    for s in samples {
        if !s.value.is_finite() || s.host.len() > MAX_NAME || s.metric.len() > MAX_NAME {
            continue;
        }
        let ms = to_millis(s.at);
        for step in ROLLUP_STEPS {
            let bucket = ms.div_euclid(step * 1000) * step * 1000;
            rows.entry((step, s.host.clone(), s.metric.clone(), bucket))
                .or_default()
                .merge(Summary::of(s.value));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let _permit = store.write_permit().await;
    let mut tx = store.pool.begin().await?;
    for ((step, host, metric, bucket), sum) in rows {
        sqlx::query(
            "INSERT INTO metric_rollups (host, metric, step_seconds, bucket, samples, total, low, high) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (host, metric, step_seconds, bucket) DO UPDATE SET \
             samples = metric_rollups.samples + excluded.samples, \
             total = metric_rollups.total + excluded.total, \
             low = CASE WHEN excluded.low < metric_rollups.low THEN excluded.low ELSE metric_rollups.low END, \
             high = CASE WHEN excluded.high > metric_rollups.high THEN excluded.high ELSE metric_rollups.high END",
        )
        .bind(host)
        .bind(metric)
        .bind(step)
        .bind(bucket)
        .bind(sum.samples)
        .bind(sum.total)
        .bind(sum.low)
        .bind(sum.high)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    store.after_commit();
    Ok(())
}

pub(super) async fn metric_series(
    store: &SqlStore,
    host: &str,
    metric: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step_seconds: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    let step_ms = step_seconds.max(60) * 1000;
    // Points start on whole steps (12:05, 12:10…), whatever instant `from` is.
    let (from_ms, to_ms) = (to_millis(from).div_euclid(step_ms) * step_ms, to_millis(to));
    let points = (to_ms - from_ms).max(0) / step_ms;
    if points as usize > MAX_SERIES_POINTS {
        return Err(StoreError::TooLarge(format!(
            "{points} points of {step_seconds} s asked for; at most {MAX_SERIES_POINTS}: \
             widen the step or narrow the range"
        )));
    }
    let rows = sqlx::query(
        "SELECT bucket, samples, total, low, high FROM metric_rollups \
         WHERE host = $1 AND metric = $2 AND step_seconds = $3 AND bucket >= $4 AND bucket < $5 \
         ORDER BY bucket",
    )
    .bind(host)
    .bind(metric)
    .bind(source_step(step_seconds))
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&store.pool)
    .await?;
    let mut out: BTreeMap<i64, Summary> = BTreeMap::new();
    for row in &rows {
        let bucket: i64 = row.try_get("bucket")?;
        let at = from_ms + (bucket - from_ms).div_euclid(step_ms) * step_ms;
        out.entry(at).or_default().merge(Summary {
            samples: row.try_get("samples")?,
            total: row.try_get("total")?,
            low: row.try_get("low")?,
            high: row.try_get("high")?,
        });
    }
    Ok(out
        .into_iter()
        .map(|(at, s)| MetricPoint {
            at: from_millis(at),
            avg: s.total / s.samples.max(1) as f64,
            min: s.low,
            max: s.high,
            samples: s.samples,
        })
        .collect())
}

pub(super) async fn purge_metric_rollups(
    store: &SqlStore,
    minutes_before: DateTime<Utc>,
    hours_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut deleted = 0;
    for (step, before) in [(60_i64, minutes_before), (3600, hours_before)] {
        let _permit = store.write_permit().await;
        deleted +=
            sqlx::query("DELETE FROM metric_rollups WHERE step_seconds = $1 AND bucket < $2")
                .bind(step)
                .bind(to_millis(before))
                .execute(&store.pool)
                .await?
                .rows_affected();
    }
    Ok(deleted)
}
