//! What every request handler and background job shares.

use crate::ingest::IngestQueue;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;
use watchpost_config::ConfigHandle;
use watchpost_store::Store;

/// Shared server state, cloned into each handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ConfigHandle>,
    pub metrics: Arc<Metrics>,
    pub ingest: IngestQueue,
    pub detection: Arc<crate::detection::DetectionEngine>,
    /// Folds detections into alerts and runs the alert pipeline.
    pub alerts: Arc<crate::alerting::AlertDesk>,
    /// The live stream's publisher.
    pub hub: crate::stream::Hub,
    /// API keys and roles.
    pub gate: Arc<crate::auth::middleware::Gate>,
    /// Web inspection for `POST /api/v1/ids/analyze`.
    pub web: Arc<watchpost_web::Shield>,
    pub started: Instant,
    /// When each bouncer last polled the decision stream.
    pub decision_cursors: Arc<watchpost_response::crowdsec::Cursors>,
    /// Runs playbooks; carries out, queues and undoes their actions.
    pub responder: Arc<crate::responder::Responder>,
    /// False positives taught back to detection.
    pub suppressions: Arc<crate::suppressions::Suppressions>,
    /// Whether an agent on this machine reports (the server then leaves its execs to it).
    pub local_agent: Arc<crate::local_agent::LocalAgent>,
}
