//! Liveness, readiness, status and component health.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the store answers and can take writes (they commit, it is not damaged,
/// free space is above the reserve), so events sent here will be stored.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "reason": reason })),
        )
    };
    if let Err(e) = state.store.ping().await {
        return not_ready(format!("store unreachable: {e}"));
    }
    match crate::storage_watch::not_ready_reason(&state) {
        Some(reason) => not_ready(reason),
        None => (StatusCode::OK, Json(json!({ "status": "ready" }))),
    }
}

/// `GET /api/v1/status`: version, uptime, store backend and row counts.
pub async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let stats = state.store.stats().await.map_err(ApiError::store)?;
    let counts: serde_json::Map<String, Value> = stats
        .tables
        .iter()
        .map(|t| (t.table.clone(), json!(t.rows)))
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "store": { "backend": stats.backend, "schema_version": stats.schema_version, "size_bytes": stats.total_bytes },
        "counts": counts,
    })))
}

/// `GET /api/v1/system/health`: each component's state; 503 when any is failing.
pub async fn system_health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let config = state.config.get();
    let started = Instant::now();
    let condition = state.store.condition();
    let not_ready = crate::storage_watch::not_ready_reason(&state);
    let store = match state.store.ping().await {
        Ok(()) => json!({
            "status": if not_ready.is_some() { "failing" } else { "ok" },
            "backend": state.store.backend(),
            "latency_ms": started.elapsed().as_secs_f64() * 1000.0,
            "error": not_ready,
            "write_failure": condition.write_failure,
            "damage": condition.damage,
            "last_integrity_check": condition.last_integrity_check,
            "wal_bytes": state.store.wal_bytes(),
            "text_index_lag": state.store.text_index_lag(),
        }),
        Err(e) => {
            json!({ "status": "failing", "backend": state.store.backend(), "error": e.to_string() })
        }
    };
    let pipeline = json!({ "status": "ok", "ingest_queue_events": state.ingest.queued_events() });
    let notifications = match state.store.notification_backlog().await {
        Ok(backlog) => {
            // A notice waiting over ten minutes means its receiver is failing.
            let stale = chrono::Utc::now() - chrono::Duration::minutes(10);
            json!({
                "status": if backlog.iter().any(|b| b.oldest < stale) { "degraded" } else { "ok" },
                "backlog": backlog,
            })
        }
        Err(e) => json!({ "status": "failing", "error": e.to_string() }),
    };
    let disk = disk_health(
        &config.data_dir(),
        config.monitoring.disk_threshold,
        config.storage.min_free_mb,
    );
    let config_state = json!({
        "status": if state.config.last_error().is_some() { "degraded" } else { "ok" },
        "path": state.config.path().map(|p| p.display().to_string()),
        "generation": state.config.generation(),
        "last_error": state.config.last_error(),
    });
    let rules = state.detection.status();
    let detection = json!({
        "status": if rules.failed > 0 { "degraded" } else { "ok" },
        "rules": rules,
    });
    let components = [
        ("store", &store),
        ("pipeline", &pipeline),
        ("notifications", &notifications),
        ("disk", &disk),
        ("config", &config_state),
        ("detection", &detection),
    ];
    let worst = components
        .iter()
        .map(|(_, c)| c["status"].as_str().unwrap_or("failing"))
        .max_by_key(|s| match *s {
            "ok" => 0,
            "degraded" => 1,
            _ => 2,
        })
        .unwrap_or("ok");
    let code = if worst == "failing" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": worst,
        "components": components.iter().map(|(n, c)| (n.to_string(), (*c).clone())).collect::<serde_json::Map<_, _>>(),
    });
    (code, Json(body))
}

/// Free space on the filesystem holding the data directory; degraded above the disk
/// threshold, failing below the ingest reserve or when it cannot be read.
fn disk_health(data_dir: &Path, threshold_percent: f64, reserve_mb: u64) -> Value {
    match rustix::fs::statvfs(data_dir) {
        Ok(s) => {
            let total = s.f_blocks.saturating_mul(s.f_frsize);
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let used_percent = if total == 0 {
                0.0
            } else {
                100.0 * (total - free) as f64 / total as f64
            };
            let status = if free < reserve_mb.saturating_mul(1024 * 1024) {
                "failing"
            } else if used_percent > threshold_percent {
                "degraded"
            } else {
                "ok"
            };
            json!({
                "status": status,
                "reserve_bytes": reserve_mb.saturating_mul(1024 * 1024),
                "path": data_dir.display().to_string(),
                "total_bytes": total,
                "free_bytes": free,
                "used_percent": (used_percent * 10.0).round() / 10.0,
            })
        }
        Err(e) => {
            json!({ "status": "failing", "path": data_dir.display().to_string(), "error": e.to_string() })
        }
    }
}
