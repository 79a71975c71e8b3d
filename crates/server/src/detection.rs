//! Live detection: the compiled Sigma rule set run on every event the server stores.
//!
//! The rule set is swapped atomically when the rule folders change on disk or the
//! `[detection]` configuration changes; a rule that fails to load is reported (in
//! `/api/v1/system/health`) and the others keep running.
//!
//! Correlation rules keep their windows in a [`CorrelationState`] that belongs to the
//! rule set it was made for: a reload starts empty windows. Writers run detection
//! concurrently, so the state sits behind a mutex, held only for the correlation step.

use arc_swap::ArcSwap;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;
use watchpost_config::{ConfigHandle, DetectionConfig};
use watchpost_core::{Detection, Entity, Event};
use watchpost_sigma::{CompiledRuleSet, CorrelationHit, CorrelationState, Placeholders, RuleSet};

/// Rule failures kept for the health report.
const MAX_REPORTED_FAILURES: usize = 50;

/// What the current rule set is made of.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RulesStatus {
    pub generation: u64,
    pub files: usize,
    pub loaded: usize,
    pub correlations: usize,
    pub failed: usize,
    /// The first failures, `path:line: field: reason`.
    pub failures: Vec<String>,
}

/// How often correlation windows are swept for ones that ended.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// An event a correlation counted: its id and host.
type EventRef = (Uuid, Option<String>);

/// A compiled rule set and the correlation windows made for it.
#[derive(Default)]
struct LiveRules {
    rules: CompiledRuleSet,
    correlation: Mutex<Correlating>,
}

struct Correlating {
    state: CorrelationState<EventRef>,
    last_sweep: Instant,
}

impl Default for Correlating {
    fn default() -> Self {
        Correlating {
            state: CorrelationState::new(&CompiledRuleSet::default()),
            last_sweep: Instant::now(),
        }
    }
}

/// A loaded rule as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub level: watchpost_core::Severity,
    pub status: Option<String>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub logsource: watchpost_sigma::LogSource,
    pub path: String,
    /// A correlation rule (counts matches of others) rather than a single-event one.
    pub correlation: bool,
    pub enabled: bool,
}

/// The live rule set.
pub struct DetectionEngine {
    live: ArcSwap<LiveRules>,
    /// Rules people turned off (by id): loaded, listed, but not run.
    disabled: ArcSwap<std::collections::HashSet<String>>,
    status: Mutex<RulesStatus>,
    loaded_from: Mutex<DetectionConfig>,
}

impl DetectionEngine {
    /// Compiles the rules `config` names.
    pub fn load(config: &DetectionConfig) -> Arc<DetectionEngine> {
        let engine = Arc::new(DetectionEngine {
            live: ArcSwap::from_pointee(LiveRules::default()),
            disabled: ArcSwap::from_pointee(Default::default()),
            status: Mutex::new(RulesStatus::default()),
            loaded_from: Mutex::new(config.clone()),
        });
        engine.reload(config);
        engine
    }

    /// Recompiles from `config` and swaps the new rule set in.
    pub fn reload(&self, config: &DetectionConfig) {
        let mut placeholders = Placeholders::default();
        for (name, values) in &config.placeholders {
            placeholders.insert(name, values.clone());
        }
        let mut set = RuleSet::with_placeholders(placeholders);
        if config.builtin_rules {
            set.add_builtin();
        }
        for dir in &config.rules_dirs {
            set.load_dir(dir);
        }
        let compiled = set.compile();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        *status = RulesStatus {
            generation: status.generation + 1,
            files: compiled.files(),
            loaded: compiled.loaded(),
            correlations: compiled.correlation_rules().count(),
            failed: compiled.errors().len(),
            failures: compiled
                .errors()
                .iter()
                .take(MAX_REPORTED_FAILURES)
                .map(ToString::to_string)
                .collect(),
        };
        for e in compiled.errors() {
            tracing::warn!(error = %e, "rule not loaded");
        }
        tracing::info!(
            loaded = status.loaded,
            failed = status.failed,
            "detection rules loaded"
        );
        let correlation = Mutex::new(Correlating {
            state: CorrelationState::new(&compiled),
            last_sweep: Instant::now(),
        });
        self.live.store(Arc::new(LiveRules {
            rules: compiled,
            correlation,
        }));
        *self.loaded_from.lock().unwrap_or_else(|p| p.into_inner()) = config.clone();
    }

    /// Replaces the set of rules turned off.
    pub fn set_disabled(&self, ids: impl IntoIterator<Item = String>) {
        self.disabled.store(Arc::new(ids.into_iter().collect()));
    }

    /// Every loaded rule, by id.
    pub fn rules(&self) -> Vec<RuleInfo> {
        let live = self.live.load();
        let disabled = self.disabled.load();
        let correlations: std::collections::HashSet<&str> = live
            .rules
            .correlation_rules()
            .map(|r| r.id.as_str())
            .collect();
        let mut out: Vec<RuleInfo> = live
            .rules
            .rules()
            .iter()
            .map(|r| RuleInfo {
                id: r.id.clone(),
                title: r.title.clone(),
                level: r.level,
                status: r.status.clone(),
                tactics: r.attack.tactics.clone(),
                techniques: r.attack.techniques.clone(),
                logsource: r.logsource.clone(),
                path: r.path.clone(),
                correlation: correlations.contains(r.id.as_str()),
                enabled: !disabled.contains(&r.id),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    pub fn status(&self) -> RulesStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every rule match on `events`, and every correlation they complete, as detections.
    pub fn detect(&self, events: &[Event]) -> Vec<Detection> {
        let live = self.live.load();
        let disabled = self.disabled.load();
        let rules = &live.rules;
        let mut out = Vec::new();
        let mut correlated = Vec::new();
        for event in events {
            let flat = watchpost_logs::flatten_event(event);
            let matches = rules.matches(&flat);
            for m in matches.iter().filter(|m| m.rule.standalone) {
                out.push(rule_detection(m.rule, event, &flat));
            }
            if let Some(input) =
                rules.correlation_input(&matches, &flat, event.timestamp.timestamp_millis())
            {
                correlated.push((input, (event.id(), event.host.name.clone())));
            }
        }
        let mut correlating = live.correlation.lock().unwrap_or_else(|p| p.into_inner());
        let mut hits = Vec::new();
        for (input, origin) in &correlated {
            hits.extend(correlating.state.observe(rules, input, origin.clone()));
        }
        if correlating.last_sweep.elapsed() >= SWEEP_INTERVAL {
            correlating.last_sweep = Instant::now();
            hits.extend(correlating.state.sweep(rules));
        }
        drop(correlating);
        out.extend(hits.iter().map(correlation_detection));
        // A rule turned off raises nothing (its matches still count for correlations).
        if !disabled.is_empty() {
            out.retain(|d| !disabled.contains(&d.rule_id));
        }
        out
    }

    /// Reloads when a rule file changes or the `[detection]` settings change, until the
    /// returned guard is dropped.
    pub fn watch(self: &Arc<Self>, config: Arc<ConfigHandle>) -> RulesWatcher {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = self.watch_dirs(&config.get().detection.rules_dirs, tx.clone());
        let engine = Arc::clone(self);
        let task = tokio::spawn(async move {
            // Held only to keep the file watch alive; replaced when the folders change.
            let mut _watcher = watcher;
            let mut seen_generation = config.generation();
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    Some(()) = rx.recv() => {
                        // Let editors finish writing, then take every queued change at once.
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        while rx.try_recv().is_ok() {}
                        let current = config.get().detection.clone();
                        engine.reload(&current);
                    }
                    _ = tick.tick() => {
                        if config.generation() == seen_generation {
                            continue;
                        }
                        seen_generation = config.generation();
                        let current = config.get().detection.clone();
                        let before = engine.loaded_from.lock().unwrap_or_else(|p| p.into_inner()).clone();
                        if current != before {
                            _watcher = engine.watch_dirs(&current.rules_dirs, tx.clone());
                            engine.reload(&current);
                        }
                    }
                }
            }
        });
        RulesWatcher { task }
    }

    fn watch_dirs(
        &self,
        dirs: &[PathBuf],
        tx: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::{EventKind, RecursiveMode, Watcher};
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res
                && !matches!(event.kind, EventKind::Access(_))
            {
                let _ = tx.send(());
            }
        })
        .map_err(|e| tracing::warn!(error = %e, "cannot watch rule folders; edits need a restart"))
        .ok()?;
        for dir in dirs {
            if let Err(e) = watcher.watch(dir, RecursiveMode::Recursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch rule folder");
            }
        }
        Some(watcher)
    }
}

/// Keeps rule reloading alive; dropping it stops it.
pub struct RulesWatcher {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RulesWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A detection for one rule match on `event`.
fn rule_detection(
    rule: &watchpost_sigma::Rule,
    event: &Event,
    flat: &watchpost_sigma::FlatEvent,
) -> Detection {
    let mut d = Detection::new(&rule.id, &rule.title, rule.level, "sigma");
    d.timestamp = event.timestamp;
    d.host = event.host.name.clone();
    d.category = event.primary_category().map(str::to_string);
    d.attack = rule.attack.clone();
    d.event_ids = vec![event.id()];
    d.entity = entity_of(event);
    d.summary = match &d.host {
        Some(host) => format!("{} on {host}", rule.title),
        None => rule.title.clone(),
    };
    let fields: serde_json::Map<String, serde_json::Value> = rule
        .referenced_fields()
        .iter()
        .filter_map(|f| {
            flat.get(f)
                .map(|(v, _)| (f.clone(), serde_json::Value::String(v.to_string())))
        })
        .collect();
    d.evidence = serde_json::json!({ "rule_path": rule.path, "fields": fields });
    let ancestry = ancestry(event);
    if !ancestry.is_empty() {
        d.evidence["ancestry"] = serde_json::Value::Array(ancestry);
    }
    d
}

/// The process and its ancestors, as the event carries them (the agent nests up to six
/// parents): who started what, for the analyst reading the detection.
fn ancestry(event: &Event) -> Vec<serde_json::Value> {
    let mut chain = Vec::new();
    let mut current = event.process.as_ref();
    while let Some(p) = current {
        if chain.len() >= 16 {
            break;
        }
        chain.push(serde_json::json!({
            "pid": p.pid,
            "executable": p.executable,
            "command_line": p.command_line,
            "user": p.real_user.as_ref().and_then(|u| u.name.clone().or(u.id.clone())),
        }));
        current = p.parent.as_deref();
    }
    if chain.len() < 2 {
        // Only the process itself: nothing to show beyond its fields.
        chain.clear();
    }
    chain
}

/// A detection for a correlation that held: its events are the most recent it counted.
fn correlation_detection(hit: &CorrelationHit<EventRef>) -> Detection {
    let rule = &hit.rule;
    let mut d = Detection::new(&rule.id, &rule.title, rule.level, "sigma-correlation");
    let time = |ms: i64| chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms);
    if let Some(last) = time(hit.last_ms) {
        d.timestamp = last;
    }
    d.host = hit.evidence.last().and_then(|(_, host)| host.clone());
    d.attack = rule.attack.clone();
    d.event_ids = hit.evidence.iter().map(|(id, _)| *id).collect();
    d.entity = d.host.clone().map(|name| Entity::Host { name });
    let group: serde_json::Map<String, serde_json::Value> = hit
        .group
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let group_text = hit
        .group
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    d.summary = if group_text.is_empty() {
        format!("{} ({} in the window)", rule.title, hit.count)
    } else {
        format!(
            "{} for {group_text} ({} in the window)",
            rule.title, hit.count
        )
    };
    d.evidence = serde_json::json!({
        "rule_path": rule.path,
        "correlation": {
            "group": group,
            "count": hit.count,
            "first": time(hit.first_ms),
            "last": time(hit.last_ms),
        }
    });
    d
}

/// The entity a detection concerns: the source address, else the process, else the host.
fn entity_of(event: &Event) -> Option<Entity> {
    if let Some(ip) = event.source.as_ref().and_then(|s| s.ip.clone()) {
        return Some(Entity::Ip { ip });
    }
    let host = event.host.name.clone();
    if let (Some(host), Some(process)) = (&host, &event.process)
        && let Some(pid) = process.pid
    {
        return Some(Entity::Process {
            host: host.clone(),
            pid,
            name: process.name.clone(),
        });
    }
    host.map(|name| Entity::Host { name })
}
