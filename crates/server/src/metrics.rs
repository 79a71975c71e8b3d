//! Prometheus metrics for the server itself, exposed at `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Why events were not stored.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: &'static str,
}

/// Which store operation a latency sample is for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The server's metrics and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub events_ingested: Counter,
    pub ingest_errors: Family<ErrorLabels, Counter>,
    pub store_latency: Family<OpLabels, Histogram>,
    pub ingest_queue_events: Gauge,
    pub detections: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("watchpost");
        let events_ingested = Counter::default();
        registry.register(
            "events_ingested",
            "Events stored through the ingest pipeline",
            events_ingested.clone(),
        );
        let ingest_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "ingest_errors",
            "Events refused or lost to an error, by reason (malformed, too_large, store)",
            ingest_errors.clone(),
        );
        let store_latency = Family::<OpLabels, Histogram>::new_with_constructor(|| {
            // 100 µs to ~3 s.
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        registry.register(
            "store_latency_seconds",
            "Store operation latency",
            store_latency.clone(),
        );
        let ingest_queue_events = Gauge::default();
        registry.register(
            "ingest_queue_events",
            "Events accepted and waiting to be written",
            ingest_queue_events.clone(),
        );
        let detections = Counter::default();
        registry.register(
            "detections",
            "Rule matches on ingested events",
            detections.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "Build information; the value is always 1",
            build_info,
        );
        Metrics {
            registry,
            events_ingested,
            ingest_errors,
            store_latency,
            ingest_queue_events,
            detections,
        }
    }

    /// Counts `n` events lost or refused for `reason`.
    pub fn ingest_error(&self, reason: &'static str, n: u64) {
        self.ingest_errors
            .get_or_create(&ErrorLabels { reason })
            .inc_by(n);
    }

    /// Records how long a store operation took.
    pub fn observe_store(&self, op: &'static str, elapsed: Duration) {
        self.store_latency
            .get_or_create(&OpLabels { op })
            .observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
