//! Sigma correlation rules: conditions over several events in a time window (`event_count`,
//! `value_count`, `temporal`, `temporal_ordered`), grouped by field values.
//!
//! The compiled rule set holds what each correlation counts; the moving part is a
//! [`CorrelationState`], fed the matches of each event in time order. Its memory is bounded:
//! windows older than their timespan are dropped as time moves on, each window keeps at
//! most what its condition needs, and each correlation keeps at most [`MAX_GROUPS`] groups
//! (the least recently active are dropped first).

use crate::rule::Rule;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use yaml_serde::Value as Yaml;

/// Groups (distinct group-by values) kept per correlation.
pub const MAX_GROUPS: usize = 100_000;
/// Events or values a single window keeps.
const MAX_WINDOW_ENTRIES: u64 = 100_000;
/// Events named as evidence in a hit (the most recent ones).
const MAX_EVIDENCE: usize = 10;
/// Observations between sweeps for expired windows.
const SWEEP_EVERY: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

/// A parsed `correlation` section.
#[derive(Debug, Clone)]
pub(crate) struct CorrelationSpec {
    pub kind: Kind,
    /// Ids or names of the rules (or correlations) correlated.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    timespan_ms: i64,
    condition: Vec<(Op, u64)>,
    /// The field whose distinct values `value_count` counts.
    value_field: Option<String>,
    /// Alias → (rule reference → the field holding the alias in that rule's events).
    aliases: Vec<(String, Vec<(String, String)>)>,
    /// Whether the correlated rules also report their own matches.
    pub generate: bool,
}

type SpecError = (String, String);

fn err(field: &str, message: impl Into<String>) -> SpecError {
    (field.to_string(), message.into())
}

impl CorrelationSpec {
    /// Parses the `correlation` section; errors name the field below it.
    pub(crate) fn parse(section: &Yaml) -> Result<CorrelationSpec, SpecError> {
        let kind = match section.get("type").and_then(Yaml::as_str) {
            Some("event_count") => Kind::EventCount,
            Some("value_count") => Kind::ValueCount,
            Some("temporal") => Kind::Temporal,
            Some("temporal_ordered") => Kind::TemporalOrdered,
            Some(other) => {
                return Err(err(
                    "type",
                    format!(
                        "unknown correlation type `{other}` (event_count, value_count, \
                         temporal, temporal_ordered)"
                    ),
                ));
            }
            None => return Err(err("type", "missing")),
        };
        let rules = string_list(section.get("rules")).map_err(|m| err("rules", m))?;
        if rules.is_empty() {
            return Err(err("rules", "missing: name the rules to correlate"));
        }
        let group_by = string_list(section.get("group-by")).map_err(|m| err("group-by", m))?;
        let timespan_ms = match section.get("timespan") {
            Some(Yaml::String(text)) => parse_timespan(text).map_err(|m| err("timespan", m))?,
            Some(_) => return Err(err("timespan", "must be text such as `5m`")),
            None => return Err(err("timespan", "missing")),
        };
        let mut condition = Vec::new();
        let mut value_field = None;
        if let Some(c) = section.get("condition") {
            let map = c
                .as_mapping()
                .ok_or_else(|| err("condition", "must be a mapping such as `gte: 10`"))?;
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                if key == "field" {
                    value_field = Some(
                        value
                            .as_str()
                            .ok_or_else(|| err("condition.field", "must be a field name"))?
                            .to_string(),
                    );
                    continue;
                }
                let op = match key {
                    "gt" => Op::Gt,
                    "gte" => Op::Gte,
                    "lt" => Op::Lt,
                    "lte" => Op::Lte,
                    "eq" => Op::Eq,
                    other => {
                        return Err(err(
                            "condition",
                            format!("unknown criterion `{other}` (gt, gte, lt, lte, eq, field)"),
                        ));
                    }
                };
                let n = value
                    .as_u64()
                    .filter(|n| *n <= MAX_WINDOW_ENTRIES)
                    .ok_or_else(|| {
                        err(
                            &format!("condition.{key}"),
                            format!("must be a whole number up to {MAX_WINDOW_ENTRIES}"),
                        )
                    })?;
                condition.push((op, n));
            }
        }
        match kind {
            Kind::EventCount | Kind::ValueCount if condition.is_empty() => {
                return Err(err("condition", "missing: say how many, such as `gte: 10`"));
            }
            Kind::ValueCount if value_field.is_none() => {
                return Err(err(
                    "condition.field",
                    "missing: value_count counts the distinct values of this field",
                ));
            }
            _ => {}
        }
        let mut aliases = Vec::new();
        if let Some(a) = section.get("aliases") {
            let map = a
                .as_mapping()
                .ok_or_else(|| err("aliases", "must map alias names to {rule: field}"))?;
            for (alias, per_rule) in map {
                let alias = alias.as_str().unwrap_or_default().to_string();
                let per_rule = per_rule.as_mapping().ok_or_else(|| {
                    err(&format!("aliases.{alias}"), "must map rule names to fields")
                })?;
                let fields = per_rule
                    .iter()
                    .map(|(r, f)| match (r.as_str(), f.as_str()) {
                        (Some(r), Some(f)) => Ok((r.to_string(), f.to_string())),
                        _ => Err(err(
                            &format!("aliases.{alias}"),
                            "must map rule names to fields",
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                aliases.push((alias, fields));
            }
        }
        let generate = match section.get("generate") {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| err("generate", "must be true or false"))?,
        };
        Ok(CorrelationSpec {
            kind,
            rules,
            group_by,
            timespan_ms,
            condition,
            value_field,
            aliases,
            generate,
        })
    }
}

fn string_list(value: Option<&Yaml>) -> Result<Vec<String>, String> {
    match value {
        None => Ok(Vec::new()),
        Some(Yaml::String(one)) => Ok(vec![one.clone()]),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "must be a list of names".to_string())
            })
            .collect(),
        Some(_) => Err("must be a list of names".into()),
    }
}

/// `30s`, `5m`, `1h`, `7d` in milliseconds.
fn parse_timespan(text: &str) -> Result<i64, String> {
    watchpost_core::time::parse_span(text).map(|span| span.num_milliseconds())
}

/// What a correlation step counts: the matches of a rule, or the hits of a correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    Rule(usize),
    Correlation(usize),
}

/// A correlation ready to run.
#[derive(Debug)]
pub(crate) struct Correlation {
    pub rule: Arc<Rule>,
    kind: Kind,
    pub steps: Vec<Source>,
    /// Per step, the field each group-by entry is read from (aliases resolved).
    pub group_fields: Vec<Vec<String>>,
    group_names: Vec<String>,
    /// Per step, the field `value_count` counts.
    pub value_fields: Vec<Option<String>>,
    timespan_ms: i64,
    condition: Vec<(Op, u64)>,
    /// Fires as soon as the condition holds (it has only lower bounds); otherwise the
    /// condition is judged when a fixed window closes.
    sliding: bool,
    /// In sliding mode, the count at which the condition first holds.
    threshold: u64,
}

impl Correlation {
    /// Builds the correlation from its spec, with its references already resolved to
    /// `steps` (in the order of `spec.rules`).
    pub(crate) fn new(rule: Arc<Rule>, spec: &CorrelationSpec, steps: Vec<Source>) -> Correlation {
        let field_for = |name: &str, reference: &str| {
            spec.aliases
                .iter()
                .find(|(alias, _)| alias == name)
                .and_then(|(_, per_rule)| per_rule.iter().find(|(r, _)| r == reference))
                .map_or_else(|| name.to_string(), |(_, f)| f.clone())
        };
        let group_fields = spec
            .rules
            .iter()
            .map(|reference| {
                spec.group_by
                    .iter()
                    .map(|g| field_for(g, reference))
                    .collect()
            })
            .collect();
        let value_fields = spec
            .rules
            .iter()
            .map(|reference| spec.value_field.as_deref().map(|f| field_for(f, reference)))
            .collect();
        let upper = spec
            .condition
            .iter()
            .any(|(op, _)| matches!(op, Op::Lt | Op::Lte | Op::Eq));
        let threshold = spec
            .condition
            .iter()
            .map(|(op, n)| if *op == Op::Gt { n + 1 } else { *n })
            .max()
            .unwrap_or(steps.len() as u64)
            .clamp(1, MAX_WINDOW_ENTRIES);
        Correlation {
            rule,
            kind: spec.kind,
            steps,
            group_fields,
            group_names: spec.group_by.clone(),
            value_fields,
            timespan_ms: spec.timespan_ms,
            condition: spec.condition.clone(),
            sliding: !upper || matches!(spec.kind, Kind::Temporal | Kind::TemporalOrdered),
            threshold,
        }
    }

    fn holds(&self, n: u64) -> bool {
        if self.condition.is_empty() {
            return n >= self.steps.len() as u64;
        }
        self.condition.iter().all(|(op, x)| match op {
            Op::Gt => n > *x,
            Op::Gte => n >= *x,
            Op::Lt => n < *x,
            Op::Lte => n <= *x,
            Op::Eq => n == *x,
        })
    }
}

/// What the correlations need from one event: when it happened, which correlated rules it
/// matched, and the values of the fields they group or count by. Small, so that a parallel
/// hunt can collect inputs from many threads and correlate them afterwards in time order.
#[derive(Debug, Clone)]
pub struct CorrelationInput {
    pub time_ms: i64,
    pub(crate) rules: Vec<usize>,
    pub(crate) fields: Vec<(String, String)>,
}

fn lookup<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .or_else(|| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
        .map(|(_, v)| v.as_str())
}

/// A correlation whose condition held.
#[derive(Debug, Clone)]
pub struct CorrelationHit<T> {
    /// The correlation rule (its id, title, level and tags).
    pub rule: Arc<Rule>,
    /// The group-by fields and the values they had.
    pub group: Vec<(String, String)>,
    /// Events counted (`event_count`, `temporal*`) or distinct values (`value_count`).
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// The most recent contributing events, oldest first.
    pub evidence: Vec<T>,
}

/// One group's window.
#[derive(Debug)]
struct Window<T> {
    start_ms: i64,
    last_ms: i64,
    /// Event times (event_count, sliding).
    times: VecDeque<i64>,
    /// Events in a fixed window.
    count: u64,
    /// `(time, value)` in arrival order (value_count, sliding).
    values: VecDeque<(i64, String)>,
    /// Distinct values and how often each is in the window.
    distinct: HashMap<String, u32>,
    /// temporal: when each step was last seen; temporal_ordered: the start of the most
    /// recent chain that has reached each step.
    steps: Vec<Option<i64>>,
    evidence: VecDeque<T>,
}

impl<T> Window<T> {
    fn new(start_ms: i64, steps: usize) -> Window<T> {
        Window {
            start_ms,
            last_ms: start_ms,
            times: VecDeque::new(),
            count: 0,
            values: VecDeque::new(),
            distinct: HashMap::new(),
            steps: vec![None; steps],
            evidence: VecDeque::new(),
        }
    }
}

/// The moving state of every correlation of one rule set: feed it each event's input in
/// time order. Made for one [`crate::CompiledRuleSet`]; start a new one when the rules
/// change. `T` identifies an event to the caller (a file and record, a stored event id).
pub struct CorrelationState<T> {
    windows: Vec<HashMap<Vec<String>, Window<T>>>,
    watermark_ms: i64,
    since_sweep: u32,
    dropped_groups: u64,
}

impl<T: Clone> CorrelationState<T> {
    pub fn new(set: &crate::CompiledRuleSet) -> CorrelationState<T> {
        CorrelationState {
            windows: (0..set.correlations.len())
                .map(|_| HashMap::new())
                .collect(),
            watermark_ms: i64::MIN,
            since_sweep: 0,
            dropped_groups: 0,
        }
    }

    /// Groups currently held, over every correlation.
    pub fn groups(&self) -> usize {
        self.windows.iter().map(HashMap::len).sum()
    }

    /// Groups dropped early because a correlation held [`MAX_GROUPS`].
    pub fn dropped_groups(&self) -> u64 {
        self.dropped_groups
    }

    /// Feeds one event; returns the correlations it completed (chained ones included).
    pub fn observe(
        &mut self,
        set: &crate::CompiledRuleSet,
        input: &CorrelationInput,
        origin: T,
    ) -> Vec<CorrelationHit<T>> {
        let mut hits = Vec::new();
        self.watermark_ms = self.watermark_ms.max(input.time_ms);
        for &rule in &input.rules {
            self.feed(
                set,
                Source::Rule(rule),
                input.time_ms,
                &input.fields,
                &origin,
                &mut hits,
            );
        }
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            let watermark = self.watermark_ms;
            self.expire_into(set, watermark, &mut hits);
        }
        hits
    }

    /// Closes the windows that ended before `now_ms`: fixed windows are judged, the rest
    /// dropped.
    pub fn expire(&mut self, set: &crate::CompiledRuleSet, now_ms: i64) -> Vec<CorrelationHit<T>> {
        let mut hits = Vec::new();
        self.expire_into(set, now_ms, &mut hits);
        hits
    }

    /// Closes the windows that ended before the latest event time seen. A server calls
    /// this now and then, so that a window with an upper bound (`lt: 3`) is judged even
    /// when no further event of its group arrives; event time, not the clock, decides, so
    /// that logs sent late or replayed correlate as they happened.
    pub fn sweep(&mut self, set: &crate::CompiledRuleSet) -> Vec<CorrelationHit<T>> {
        let watermark = self.watermark_ms;
        self.expire(set, watermark)
    }

    /// Closes every window (the end of a hunt): fixed windows are judged.
    pub fn finish(&mut self, set: &crate::CompiledRuleSet) -> Vec<CorrelationHit<T>> {
        self.expire(set, i64::MAX)
    }

    fn expire_into(
        &mut self,
        set: &crate::CompiledRuleSet,
        now_ms: i64,
        hits: &mut Vec<CorrelationHit<T>>,
    ) {
        for c in 0..self.windows.len() {
            let corr = &set.correlations[c];
            let span = corr.timespan_ms;
            let mut closed = Vec::new();
            self.windows[c].retain(|key, w| {
                let ended = if corr.sliding {
                    w.last_ms.saturating_add(span) < now_ms
                } else {
                    w.start_ms.saturating_add(span) < now_ms
                };
                if ended && !corr.sliding {
                    closed.push((key.clone(), std::mem::replace(w, Window::new(0, 0))));
                }
                !ended
            });
            for (key, w) in closed {
                if let Some(hit) = judge_fixed(corr, &key, &w) {
                    self.cascade(set, c, hit, hits);
                }
            }
        }
    }

    fn feed(
        &mut self,
        set: &crate::CompiledRuleSet,
        source: Source,
        time_ms: i64,
        fields: &[(String, String)],
        origin: &T,
        hits: &mut Vec<CorrelationHit<T>>,
    ) {
        let Some(targets) = set.correlation_feeds.get(&source) else {
            return;
        };
        for &(c, step) in targets {
            let corr = &set.correlations[c];
            let Some(key) = corr.group_fields[step]
                .iter()
                .map(|f| lookup(fields, f).map(str::to_string))
                .collect::<Option<Vec<String>>>()
            else {
                continue; // an event without a group-by field belongs to no group
            };
            let value = match &corr.value_fields[step] {
                Some(f) => match lookup(fields, f) {
                    Some(v) if !v.is_empty() => Some(v.to_string()),
                    _ => continue, // value_count counts values; no value, nothing to count
                },
                None => None,
            };
            if let Some(hit) = self.step(corr, c, key, step, time_ms, value, origin) {
                self.cascade(set, c, hit, hits);
            }
        }
    }

    /// Reports `hit` and feeds it to the correlations that refer to correlation `c`.
    fn cascade(
        &mut self,
        set: &crate::CompiledRuleSet,
        c: usize,
        hit: CorrelationHit<T>,
        hits: &mut Vec<CorrelationHit<T>>,
    ) {
        if set.correlation_feeds.contains_key(&Source::Correlation(c))
            && let Some(origin) = hit.evidence.last().cloned()
        {
            let fields = hit.group.clone();
            self.feed(
                set,
                Source::Correlation(c),
                hit.last_ms,
                &fields,
                &origin,
                hits,
            );
        }
        if hit.rule.standalone {
            hits.push(hit);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        corr: &Correlation,
        c: usize,
        key: Vec<String>,
        step: usize,
        t: i64,
        value: Option<String>,
        origin: &T,
    ) -> Option<CorrelationHit<T>> {
        let span = corr.timespan_ms;
        if !self.windows[c].contains_key(&key) && self.windows[c].len() >= MAX_GROUPS {
            self.make_room(c, span);
        }
        let groups = &mut self.windows[c];
        // A fixed window that has ended is judged before this event opens the next one.
        let mut closed_hit = None;
        if !corr.sliding
            && let Some(w) = groups.get(&key)
            && t > w.start_ms.saturating_add(span)
        {
            let w = groups.remove(&key).expect("present");
            closed_hit = judge_fixed(corr, &key, &w);
        }
        let w = groups
            .entry(key.clone())
            .or_insert_with(|| Window::new(t, corr.steps.len()));
        w.last_ms = w.last_ms.max(t);
        w.evidence.push_back(origin.clone());
        if w.evidence.len() > MAX_EVIDENCE {
            w.evidence.pop_front();
        }
        let window_start = t.saturating_sub(span);
        let count = match (corr.kind, corr.sliding) {
            (Kind::EventCount, true) => {
                w.times.push_back(t);
                while w.times.front().is_some_and(|&f| f < window_start)
                    || w.times.len() as u64 > corr.threshold
                {
                    w.times.pop_front();
                }
                w.start_ms = w.times.front().copied().unwrap_or(t);
                w.times.len() as u64
            }
            (Kind::EventCount, false) => {
                w.count += 1;
                w.count
            }
            (Kind::ValueCount, true) => {
                let value = value.unwrap_or_default();
                *w.distinct.entry(value.clone()).or_default() += 1;
                w.values.push_back((t, value));
                while w.values.front().is_some_and(|(f, _)| *f < window_start)
                    || w.values.len() as u64 > MAX_WINDOW_ENTRIES
                {
                    let (_, old) = w.values.pop_front().expect("non-empty");
                    if let Some(n) = w.distinct.get_mut(&old) {
                        *n -= 1;
                        if *n == 0 {
                            w.distinct.remove(&old);
                        }
                    }
                }
                w.start_ms = w.values.front().map_or(t, |(f, _)| *f);
                w.distinct.len() as u64
            }
            (Kind::ValueCount, false) => {
                // Past the largest bound the condition cannot change; stop growing.
                if (w.distinct.len() as u64) <= corr.threshold.max(1) {
                    w.distinct.entry(value.unwrap_or_default()).or_insert(1);
                }
                w.distinct.len() as u64
            }
            (Kind::Temporal, _) => {
                w.steps[step] = Some(t);
                for s in w.steps.iter_mut() {
                    if s.is_some_and(|s| s < window_start) {
                        *s = None;
                    }
                }
                w.start_ms = w.steps.iter().flatten().copied().min().unwrap_or(t);
                w.steps.iter().flatten().count() as u64
            }
            (Kind::TemporalOrdered, _) => {
                // Every position this source holds in the order, latest first, so that
                // one event cannot advance a chain by two steps.
                for k in (0..corr.steps.len()).rev() {
                    if corr.steps[k] != corr.steps[step] {
                        continue;
                    }
                    let start = if k == 0 {
                        Some(t)
                    } else {
                        w.steps[k - 1].filter(|&s| s >= window_start)
                    };
                    if let Some(start) = start {
                        w.steps[k] = Some(w.steps[k].map_or(start, |old| old.max(start)));
                    }
                }
                let last = corr.steps.len() - 1;
                if let Some(start) = w.steps[last] {
                    w.start_ms = start;
                    corr.steps.len() as u64
                } else {
                    0
                }
            }
        };
        let fired = corr.sliding
            && match corr.kind {
                Kind::TemporalOrdered => count == corr.steps.len() as u64,
                _ => corr.holds(count),
            };
        if fired {
            let w = groups.remove(&key).expect("present");
            return Some(hit(corr, &key, count, &w));
        }
        closed_hit
    }

    /// Drops expired groups of correlation `c`, then, if it is still full, the least
    /// recently active tenth.
    fn make_room(&mut self, c: usize, span: i64) {
        let watermark = self.watermark_ms;
        let groups = &mut self.windows[c];
        groups.retain(|_, w| w.last_ms.saturating_add(span) >= watermark);
        if groups.len() < MAX_GROUPS {
            return;
        }
        let mut by_age: Vec<(i64, Vec<String>)> = groups
            .iter()
            .map(|(key, w)| (w.last_ms, key.clone()))
            .collect();
        let cut = (by_age.len() / 10).max(1);
        by_age.select_nth_unstable_by_key(cut - 1, |(t, _)| *t);
        let before = groups.len();
        for (_, key) in &by_age[..cut] {
            groups.remove(key);
        }
        self.dropped_groups += (before - groups.len()) as u64;
    }
}

fn judge_fixed<T: Clone>(
    corr: &Correlation,
    key: &[String],
    w: &Window<T>,
) -> Option<CorrelationHit<T>> {
    let count = match corr.kind {
        Kind::ValueCount => w.distinct.len() as u64,
        _ => w.count,
    };
    corr.holds(count).then(|| hit(corr, key, count, w))
}

fn hit<T: Clone>(
    corr: &Correlation,
    key: &[String],
    count: u64,
    w: &Window<T>,
) -> CorrelationHit<T> {
    CorrelationHit {
        rule: Arc::clone(&corr.rule),
        group: corr
            .group_names
            .iter()
            .cloned()
            .zip(key.iter().cloned())
            .collect(),
        count,
        first_ms: w.start_ms,
        last_ms: w.last_ms,
        evidence: w.evidence.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_and_bad_specs() {
        assert_eq!(parse_timespan("30s"), Ok(30_000));
        assert_eq!(parse_timespan("5m"), Ok(300_000));
        assert_eq!(parse_timespan("2h"), Ok(7_200_000));
        assert_eq!(parse_timespan("1d"), Ok(86_400_000));
        assert!(parse_timespan("5").is_err());
        assert!(parse_timespan("m").is_err());
        assert!(parse_timespan("-1m").is_err());
        let spec = |text: &str| {
            CorrelationSpec::parse(&yaml_serde::from_str::<Yaml>(text).unwrap()).map(|_| ())
        };
        assert!(spec("{type: event_count, rules: [a], timespan: 5m, condition: {gte: 3}}").is_ok());
        assert_eq!(
            spec("{type: event_count, rules: [a], timespan: 5m}")
                .unwrap_err()
                .0,
            "condition"
        );
        assert_eq!(
            spec("{type: value_count, rules: [a], timespan: 5m, condition: {gte: 3}}")
                .unwrap_err()
                .0,
            "condition.field"
        );
        assert_eq!(
            spec("{type: sequence, rules: [a], timespan: 5m}")
                .unwrap_err()
                .0,
            "type"
        );
        assert_eq!(
            spec("{type: temporal, rules: [a, b], timespan: soon}")
                .unwrap_err()
                .0,
            "timespan"
        );
        assert_eq!(
            spec("{type: event_count, rules: [a], timespan: 5m, condition: {most: 3}}")
                .unwrap_err()
                .0,
            "condition"
        );
    }
}
