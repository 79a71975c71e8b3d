//! The Watchpost server: HTTP API, ingest pipeline, health and metrics, background jobs.
//!
//! [`serve`] runs it until the shutdown future completes, then stops accepting requests,
//! finishes the ones in flight, writes every queued event, and returns.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use watchpost_config::{Config, ConfigHandle};
//! let config = ConfigHandle::new(Config::default(), None);
//! watchpost_server::serve(config, watchpost_server::shutdown_signal()).await
//! # }
//! ```

pub(crate) mod accept;
mod account_hooks;
pub mod alerting;
pub mod auth;
mod connections;
mod dashboard;
pub mod detection;
pub mod error;
mod group_commit;
pub mod guard;
mod host_monitor;
pub mod incidents;
pub mod ingest;
mod local_agent;
pub mod metrics;
pub mod openapi;
mod params;
pub mod responder;
mod retention;
mod routes;
pub mod sender_registry;
pub mod sender_scope;
mod silent_agents;
pub mod state;
pub mod storage_watch;
pub mod stream;
pub mod suppressions;
mod tls;

pub use routes::router;

use anyhow::Context;
use state::AppState;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use watchpost_config::ConfigHandle;

/// Runs the server with `config` until `shutdown` completes.
pub async fn serve(
    config: Arc<ConfigHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let settings = config.get();
    let host: IpAddr = if settings.api.host == "localhost" {
        IpAddr::from([127, 0, 0, 1])
    } else {
        settings
            .api
            .host
            .parse()
            .with_context(|| format!("api.host `{}` is not an address", settings.api.host))?
    };
    if !host.is_loopback() && !settings.api.enable_authentication {
        // The configuration's own check refuses this too; a server never runs open.
        anyhow::bail!(
            "refusing to listen on {host} with api.enable_authentication = false: anyone who can reach \
             the address would have the run of the API"
        );
    }
    let data_dir = settings.data_dir();
    // The data directory holds the database and the secrets: its owner's only.
    watchpost_store::private_dir(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let url = config.get().database_url();
    let store = watchpost_store::open(&url)
        .await
        .with_context(|| format!("opening the store at {}", watchpost_config::mask_url(&url)))?;
    store.set_query_timeout(Duration::from_secs(settings.storage.query_timeout_seconds));
    let ring = auth::KeyRing::open(&data_dir).context("opening the API key secret")?;
    if settings.api.enable_authentication {
        auth::ensure_admin_key(store.as_ref(), &ring, &data_dir)
            .await
            .context("making the first admin API key")?;
    }
    let detection = detection::DetectionEngine::load(&settings.detection);
    let rules_watcher = detection.watch(config.clone());
    let hub = stream::Hub::default();
    let alerts = alerting::AlertDesk::start(store.clone(), &settings.alerting, hub.clone())
        .await
        .context("starting the alert pipeline")?;
    let metrics = Arc::new(metrics::Metrics::new());
    let web = Arc::new(web_shield(&settings.web));
    let responder = responder::Responder::new(
        store.clone(),
        config.clone(),
        hub.clone(),
        web.clone(),
        metrics.clone(),
        Arc::downgrade(&alerts),
    );
    let incident_desk = incidents::IncidentDesk::start(
        store.clone(),
        hub.clone(),
        incidents::settings(&settings.incidents),
        settings.incidents.notices,
        Some(responder.clone()),
    )
    .await;
    alerts.attach_incidents(incident_desk.clone());
    let suppressions = suppressions::Suppressions::start(store.clone()).await;
    alerts.attach_suppressions(suppressions.clone());
    let expiring = suppressions.clone();
    let incidents_expiry = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            incident_desk.expire(chrono::Utc::now()).await;
            if let Err(e) = expiring.expire(chrono::Utc::now()).await {
                tracing::warn!(error = %e, "suppressions past their time could not be ended");
            }
        }
    });
    let (ingest, writer) = ingest::start(
        store.clone(),
        metrics.clone(),
        hub.clone(),
        Some((detection.clone(), alerts.clone())),
    );
    let state = AppState {
        store: store.clone(),
        config: config.clone(),
        metrics,
        ingest,
        detection,
        alerts: alerts.clone(),
        gate: Arc::new(auth::middleware::Gate::new(ring)),
        hub,
        web,
        started: Instant::now(),
        decision_cursors: Arc::default(),
        responder: responder.clone(),
        suppressions,
        local_agent: Arc::new(local_agent::LocalAgent::new(watchpost_core::machine_id())),
    };

    // A store that cannot be read (damaged, say) must not keep the server down: every rule
    // then runs until the list can be read (the next change re-reads it).
    if let Err(e) = routes::load_disabled(&state).await {
        tracing::error!(error = %e.message, "the rules turned off could not be read: all rules run");
    }
    // Address bans in force survive a restart in the server's own web shield; a store that
    // cannot be read (damaged, say) must not keep the server down.
    match store
        .decisions_in_force(chrono::Utc::now(), None, false)
        .await
    {
        Ok(decisions) => {
            for decision in &decisions {
                routes::decisions::enforce_here(&state, decision);
            }
        }
        Err(e) => tracing::error!(error = %e, "the decisions in force could not be read"),
    }
    let watcher = config.watch().context("watching the configuration file")?;
    let retention = tokio::spawn(retention::run(state.clone()));
    let silent_agents = tokio::spawn(silent_agents::run(state.clone()));
    let host_monitor = tokio::spawn(host_monitor::run(state.clone()));
    let storage_watch = tokio::spawn(storage_watch::run(state.clone()));
    let exec_capture = host_monitor::start_exec_capture(&state);
    let (stop_alerting, alerting_stopped) = tokio::sync::watch::channel(false);
    let responder_task = tokio::spawn(responder.run(alerting_stopped.clone()));
    let alerting_tasks = alerts.run(config.clone(), alerting_stopped);

    let addr = SocketAddr::new(host, settings.api.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    let tls = match (&settings.api.tls_cert_file, &settings.api.tls_key_file) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, backend = state.store.backend().as_str(), "listening on {scheme}://{local}");

    let metrics = state.metrics.clone();
    let guard = Arc::new(guard::GuardState {
        config: config.clone(),
        listening: guard::Listening {
            scheme,
            addr: local,
        },
        metrics: state.metrics.clone(),
    });
    let app = router(state)
        .layer(cors(&settings.api)?)
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let limits = accept::Limits::from_config(&settings.api);
    let served = accept::serve(listener, tls, app, limits, metrics, shutdown).await;
    tracing::info!("shutting down: writing queued events");
    retention.abort();
    silent_agents.abort();
    host_monitor.abort();
    storage_watch.abort();
    incidents_expiry.abort();
    if let Some(task) = exec_capture {
        task.abort();
    }
    drop(watcher);
    drop(rules_watcher);
    writer.drain().await;
    // Detections from the last writes are folded; let the pipeline write its last step
    // (notices already in the outbox are sent after the next start if not now).
    let _ = stop_alerting.send(true);
    for task in alerting_tasks {
        let _ = task.await;
    }
    let _ = responder_task.await;
    store.close().await;
    tracing::info!("stopped");
    served.context("serving HTTP")
}

/// Cross-origin access for the origins `api.cors_origins` lists when `api.enable_cors`
/// is on (browsers on other sites get nothing otherwise); read at start.
fn cors(api: &watchpost_config::ApiConfig) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if !api.enable_cors {
        return Ok(CorsLayer::new());
    }
    let origins = api
        .cors_origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim_end_matches('/'))
                .with_context(|| format!("api.cors_origins: `{o}` is not a header value"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static("x-api-key"),
        ])
        .max_age(Duration::from_secs(600)))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("received SIGINT"),
        _ = terminate => tracing::info!("received SIGTERM"),
    }
}

/// The web shield `[web]` describes. Read at start: a change to `[web]` takes a restart.
fn web_shield(web: &watchpost_config::WebConfig) -> watchpost_web::Shield {
    use watchpost_web::{Action, Policy};
    let action = |name: &str| {
        if name == "block" {
            Action::Block
        } else {
            Action::Detect
        }
    };
    let engine = watchpost_web::Engine::new(watchpost_web::Config {
        paranoia: web.paranoia,
        threshold: web.threshold,
        ..watchpost_web::Config::default()
    });
    let policy = Policy {
        action: action(&web.action),
        routes: web
            .routes
            .iter()
            .map(|r| watchpost_web::shield::RoutePolicy {
                prefix: r.prefix.clone(),
                action: r.action.as_deref().map(action),
                exclusions: r
                    .exclusions
                    .iter()
                    .map(|e| watchpost_web::shield::Exclusion {
                        parameter: e.parameter.clone(),
                        categories: e.categories.clone(),
                    })
                    .collect(),
            })
            .collect(),
        block_status: web.block_status,
        block_body: web.block_body.clone(),
        decoys: web.decoys.clone(),
        auto_block_threshold: web.auto_block_threshold,
        block_ttl_seconds: web.block_ttl_seconds,
    };
    watchpost_web::Shield::new(
        engine,
        policy,
        Arc::new(watchpost_web::blocklist::Blocklist::default()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configured_decoys_default_to_the_honeypots_own() {
        let defaults = watchpost_config::WebConfig::default().decoys;
        assert_eq!(defaults, watchpost_web::honeypot::DEFAULT_DECOYS);
    }

    #[test]
    fn the_configured_paranoia_defaults_to_the_engines_own() {
        let configured = watchpost_config::WebConfig::default().paranoia;
        assert_eq!(configured, watchpost_web::DEFAULT_PARANOIA);
        assert_eq!(watchpost_web::Config::default().paranoia, configured);
    }
}
