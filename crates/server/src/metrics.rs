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

/// A filesystem, by mount point.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MountLabels {
    pub mount: String,
}

/// A network interface.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InterfaceLabels {
    pub interface: String,
}

type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// The server's own host, sampled every `monitoring.monitor_interval`.
#[derive(Default)]
pub struct HostGauges {
    pub cpu_percent: FloatGauge,
    pub memory_percent: FloatGauge,
    pub swap_percent: FloatGauge,
    pub load1: FloatGauge,
    pub processes: FloatGauge,
    pub disk_used_percent: Family<MountLabels, FloatGauge>,
    pub network_received_bytes: Family<InterfaceLabels, FloatGauge>,
    pub network_sent_bytes: Family<InterfaceLabels, FloatGauge>,
}

impl HostGauges {
    fn register(&self, registry: &mut Registry) {
        let host = registry.sub_registry_with_prefix("host");
        host.register(
            "cpu_percent",
            "CPU busy, all cores",
            self.cpu_percent.clone(),
        );
        host.register(
            "memory_percent",
            "Memory in use",
            self.memory_percent.clone(),
        );
        host.register("swap_percent", "Swap in use", self.swap_percent.clone());
        host.register("load1", "Load average over one minute", self.load1.clone());
        host.register("processes", "Processes running", self.processes.clone());
        host.register(
            "disk_used_percent",
            "Filesystem space in use, by mount point",
            self.disk_used_percent.clone(),
        );
        host.register(
            "network_received_bytes",
            "Bytes received since boot, by interface",
            self.network_received_bytes.clone(),
        );
        host.register(
            "network_sent_bytes",
            "Bytes sent since boot, by interface",
            self.network_sent_bytes.clone(),
        );
    }

    /// Sets every gauge from a sample.
    pub fn set(&self, s: &watchpost_host::metrics::Snapshot) {
        self.cpu_percent.set(s.cpu_percent);
        self.memory_percent.set(s.memory_percent);
        self.swap_percent.set(s.swap_percent);
        self.load1.set(s.load[0]);
        self.processes.set(s.processes as f64);
        for d in &s.disks {
            self.disk_used_percent
                .get_or_create(&MountLabels {
                    mount: d.mount.clone(),
                })
                .set(d.used_percent);
        }
        for i in &s.interfaces {
            let labels = InterfaceLabels {
                interface: i.name.clone(),
            };
            self.network_received_bytes
                .get_or_create(&labels)
                .set(i.received_bytes as f64);
            self.network_sent_bytes
                .get_or_create(&labels)
                .set(i.sent_bytes as f64);
        }
    }
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
    /// This host's execs the server did not record because an agent on the same machine
    /// records them.
    pub own_execs_left_to_agent: Counter,
    /// Requests and records refused at the trust boundary, by reason.
    pub refusals: Family<ErrorLabels, Counter>,
    pub host: HostGauges,
    pub storage: StorageGauges,
    /// Notices waiting for delivery, per receiver (read from the outbox at each scrape).
    pub notification_backlog: Family<ReceiverLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    pub receiver: String,
}

/// The store's health as gauges (`storage_watch` sets them every few seconds).
#[derive(Default)]
pub struct StorageGauges {
    /// 1 while writes commit, 0 while they fail or ingest is refused for want of space.
    pub writable: Gauge,
    /// 1 once damage was found.
    pub damaged: Gauge,
    pub wal_bytes: Gauge,
    /// Free bytes on the data directory's filesystem.
    pub free_bytes: Gauge,
}

impl StorageGauges {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_writable",
            "1 while the store takes ingest, 0 while writes fail or free space is below storage.min_free_mb",
            self.writable.clone(),
        );
        registry.register(
            "store_damaged",
            "1 once an integrity check, the database or a record checksum found damage",
            self.damaged.clone(),
        );
        registry.register(
            "store_wal_bytes",
            "Size of SQLite's write-ahead log",
            self.wal_bytes.clone(),
        );
        registry.register(
            "storage_free_bytes",
            "Free space on the data directory's filesystem",
            self.free_bytes.clone(),
        );
    }
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
        let own_execs_left_to_agent = Counter::default();
        registry.register(
            "own_execs_left_to_agent",
            "This host's process execs not recorded by the server because an agent on the \
             same machine records them",
            own_execs_left_to_agent.clone(),
        );
        let refusals = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "security_refusals",
            "Requests and records refused at the trust boundary, by reason (sender_token, \
             sender_rate, foreign_detector, foreign_entity, resolves_foreign_alert, \
             login_failed, login_rate, cross_origin, host_not_served, connection_cap)",
            refusals.clone(),
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
        let host = HostGauges::default();
        host.register(&mut registry);
        let storage = StorageGauges::default();
        storage.register(&mut registry);
        let notification_backlog = Family::<ReceiverLabels, Gauge>::default();
        registry.register(
            "notification_backlog",
            "Notices waiting for delivery (first attempt or retry), per receiver",
            notification_backlog.clone(),
        );
        Metrics {
            registry,
            host,
            storage,
            notification_backlog,
            events_ingested,
            ingest_errors,
            store_latency,
            ingest_queue_events,
            detections,
            own_execs_left_to_agent,
            refusals,
        }
    }

    /// Counts `n` events lost or refused for `reason`.
    pub fn ingest_error(&self, reason: &'static str, n: u64) {
        self.ingest_errors
            .get_or_create(&ErrorLabels { reason })
            .inc_by(n);
    }

    /// Counts `n` requests or records refused at the trust boundary for `reason`.
    pub fn refusal(&self, reason: &'static str, n: u64) {
        self.refusals
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
