//! The retention job: deletes aged-out data on a schedule read from the live configuration.

use crate::state::AppState;
use chrono::{Duration, Utc};
use std::time::Instant;

/// Runs retention now, then every `storage.retention_interval_seconds`, until aborted.
pub async fn run(state: AppState) {
    loop {
        let config = state.config.get();
        let now = Utc::now();
        let events_before = now - Duration::days(i64::from(config.storage.retention_days));
        let alerts_before = now - Duration::days(i64::from(config.storage.alert_retention_days));
        let started = Instant::now();
        match state.store.purge(events_before, alerts_before).await {
            Ok(report) => {
                state.metrics.observe_store("purge", started.elapsed());
                tracing::info!(?report, "retention run finished");
            }
            Err(e) => {
                tracing::error!(error = %e, "retention run failed; will retry at the next interval")
            }
        }
        let interval = config.storage.retention_interval_seconds;
        tokio::time::sleep(std::time::Duration::from_secs(interval)).await;
    }
}
