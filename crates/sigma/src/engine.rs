//! The rule set: load rules, compile each for every place it applies, index them by
//! Windows channel and event id, and match events against only the rules that can apply.

use crate::condition::Expr;
use crate::correlation::{Correlation, CorrelationInput, CorrelationSpec, Source};
use crate::detection::{Detection, FieldTest, Selection};
use crate::event::FlatEvent;
use crate::filter::FilterSpec;
use crate::logsource::{self, Route};
use crate::rule::{self, Document, Rule, RuleError};
use crate::value::{Placeholders, ValueTest};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Rules as loaded, before compilation; collects every failure with its reason.
#[derive(Default)]
pub struct RuleSet {
    rules: Vec<(Rule, Detection)>,
    correlations: Vec<(Rule, CorrelationSpec)>,
    filters: Vec<FilterSpec>,
    placeholders: Placeholders,
    errors: Vec<RuleError>,
    files: usize,
}

impl RuleSet {
    /// A rule set whose `expand` modifiers take their values from `placeholders`.
    pub fn with_placeholders(placeholders: Placeholders) -> RuleSet {
        RuleSet {
            placeholders,
            ..RuleSet::default()
        }
    }

    /// Adds the rules, correlations and filters of one file's YAML text; `path` names it in
    /// errors. A broken document is reported (the first such error is returned) and the
    /// file's other documents still load.
    pub fn add_yaml(&mut self, text: &str, path: &str) -> Result<(), RuleError> {
        self.files += 1;
        let mut first_error = None;
        for document in rule::parse_documents(text, path, &self.placeholders) {
            match document {
                Ok(Document::Detection(rule, detection)) => self.rules.push((rule, detection)),
                Ok(Document::Correlation(rule, spec)) => self.correlations.push((rule, spec)),
                Ok(Document::Filter(filter)) => self.filters.push(filter),
                Err(e) => {
                    self.errors.push(e.clone());
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Loads every `.yml`/`.yaml` file under `dir`, recursively, in path order. Unreadable
    /// files and folders are recorded as errors; loading goes on with the rest.
    pub fn load_dir(&mut self, dir: &Path) {
        let mut files = Vec::new();
        collect_rule_files(dir, &mut files, &mut self.errors);
        files.sort();
        for file in files {
            let path = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let _ = self.add_yaml(&text, &path);
                }
                Err(e) => {
                    self.files += 1;
                    self.errors
                        .push(RuleError::new(&path, None, format!("cannot read: {e}")));
                }
            }
        }
    }

    /// Compiles every loaded rule; rules that cannot compile are reported, the rest load.
    pub fn compile(mut self) -> CompiledRuleSet {
        self.mark_correlation_only();
        let mut set = CompiledRuleSet {
            files: self.files,
            errors: self.errors,
            ..Default::default()
        };
        let filters = valid_filters(self.filters, &mut set.errors);
        let mut filtered: HashSet<usize> = HashSet::new();
        for (rule, detection) in self.rules {
            let rule = Arc::new(rule);
            let applicable: Vec<(usize, &ValidFilter)> = filters
                .iter()
                .enumerate()
                .filter(|(_, f)| f.spec.applies_to(&rule))
                .collect();
            filtered.extend(applicable.iter().map(|(i, _)| *i));
            let applicable: Vec<&ValidFilter> = applicable.into_iter().map(|(_, f)| f).collect();
            match compile_rule(&rule, detection, &applicable) {
                Ok(variants) => {
                    let index = set.rules.len();
                    set.rules.push(rule);
                    for (route, variant) in variants {
                        set.add_variant(index, route, variant);
                    }
                }
                Err((field, message)) => {
                    set.errors.push(RuleError::new(&rule.path, field, message))
                }
            }
        }
        for (i, f) in filters.iter().enumerate() {
            if !filtered.contains(&i) {
                set.errors.push(RuleError::new(
                    &f.spec.path,
                    Some("filter.rules".into()),
                    "tunes no loaded rule: check the rule ids or names and the logsource",
                ));
            }
        }
        set.filters = filters.len();
        set.add_correlations(self.correlations);
        set.prefilter = crate::prefilter::Prefilter::build(&std::mem::take(&mut set.triggers));
        set
    }

    /// Marks the rules and correlations that only feed correlations (Sigma's
    /// `generate: false`, the default), so that their own matches are not reported.
    fn mark_correlation_only(&mut self) {
        let mut feeding: HashSet<&str> = HashSet::new();
        let mut generating: HashSet<&str> = HashSet::new();
        for (_, spec) in &self.correlations {
            let names = if spec.generate {
                &mut generating
            } else {
                &mut feeding
            };
            names.extend(spec.rules.iter().map(String::as_str));
        }
        let only_feeds = |rule: &Rule| {
            let named = |set: &HashSet<&str>| {
                set.contains(rule.id.as_str())
                    || rule.name.as_deref().is_some_and(|n| set.contains(n))
            };
            named(&feeding) && !named(&generating)
        };
        let marks: Vec<bool> = self.rules.iter().map(|(r, _)| only_feeds(r)).collect();
        let corr_marks: Vec<bool> = self
            .correlations
            .iter()
            .map(|(r, _)| only_feeds(r))
            .collect();
        for ((rule, _), only) in self.rules.iter_mut().zip(marks) {
            rule.standalone = !only;
        }
        for ((rule, _), only) in self.correlations.iter_mut().zip(corr_marks) {
            rule.standalone = !only;
        }
    }
}

/// A filter whose condition resolved against its own selections.
struct ValidFilter {
    spec: FilterSpec,
    condition: Cond,
}

fn valid_filters(filters: Vec<FilterSpec>, errors: &mut Vec<RuleError>) -> Vec<ValidFilter> {
    let mut out = Vec::new();
    for spec in filters {
        let names: Vec<&str> = spec
            .detection
            .selections
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        match resolve(&spec.detection.condition, &names) {
            Ok(condition) => out.push(ValidFilter { spec, condition }),
            Err(e) => errors.push(RuleError::new(
                &spec.path,
                Some("filter.condition".into()),
                e,
            )),
        }
    }
    out
}

fn collect_rule_files(dir: &Path, out: &mut Vec<std::path::PathBuf>, errors: &mut Vec<RuleError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(RuleError::new(
                &dir.display().to_string(),
                None,
                format!("cannot read folder: {e}"),
            ));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rule_files(&path, out, errors);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(path);
        }
    }
}

/// A condition with selection names resolved to indices.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Sel(usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// The same condition over selections numbered `offset` higher.
    fn shifted(&self, offset: usize) -> Cond {
        match self {
            Cond::Sel(i) => Cond::Sel(i + offset),
            Cond::And(items) => Cond::And(items.iter().map(|c| c.shifted(offset)).collect()),
            Cond::Or(items) => Cond::Or(items.iter().map(|c| c.shifted(offset)).collect()),
            Cond::Not(inner) => Cond::Not(Box::new(inner.shifted(offset))),
        }
    }
}

/// A rule compiled for one route (field names already renamed for that source).
#[derive(Debug)]
struct Variant {
    rule: usize,
    route: Route,
    selections: Vec<Selection>,
    condition: Cond,
}

type CompileError = (Option<String>, String);

/// What compiling a rule for one route gives, before it is numbered and indexed.
struct VariantParts {
    selections: Vec<Selection>,
    condition: Cond,
}

fn compile_rule(
    rule: &Rule,
    detection: Detection,
    filters: &[&ValidFilter],
) -> Result<Vec<(Route, VariantParts)>, CompileError> {
    let routes =
        logsource::routes(&rule.logsource).map_err(|e| (Some("logsource".to_string()), e))?;
    let names: Vec<&str> = detection
        .selections
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let mut condition = resolve(&detection.condition, &names)
        .map_err(|e| (Some("detection.condition".to_string()), e))?;
    let mut own: Vec<Selection> = detection.selections.into_iter().map(|(_, s)| s).collect();
    // Each filter adds its selections after the rule's and `and not (filter)` to the
    // condition, its selection numbers shifted past those already there.
    for filter in filters {
        let offset = own.len();
        own.extend(
            filter
                .spec
                .detection
                .selections
                .iter()
                .map(|(_, s)| s.clone()),
        );
        condition = Cond::And(vec![
            condition,
            Cond::Not(Box::new(filter.condition.shifted(offset))),
        ]);
    }
    let mut selections: Option<Vec<Selection>> = Some(own);
    let mut out = Vec::with_capacity(routes.len());
    let last = routes.len().saturating_sub(1);
    for (i, route) in routes.into_iter().enumerate() {
        let field_map = match &route {
            Route::Windows { field_map, .. } => *field_map,
            Route::Other | Route::Sources(_) => &[][..],
        };
        // The last route takes the selections; earlier ones (a rule that applies to two
        // sources) get copies.
        let own = if i == last {
            selections.take()
        } else {
            selections.clone()
        }
        .unwrap_or_default();
        let renamed = own
            .into_iter()
            .map(|s| rename_fields(s, field_map))
            .collect();
        out.push((
            route,
            VariantParts {
                selections: renamed,
                condition: condition.clone(),
            },
        ));
    }
    Ok(out)
}

fn rename_fields(selection: Selection, map: &[(&str, &str)]) -> Selection {
    if map.is_empty() {
        return selection;
    }
    match selection {
        Selection::Keywords(_) => selection,
        Selection::Groups(groups) => Selection::Groups(
            groups
                .into_iter()
                .map(|g| {
                    g.into_iter()
                        .map(|t| FieldTest {
                            field: map
                                .iter()
                                .find(|(from, _)| *from == t.field)
                                .map_or(t.field, |(_, to)| to.to_string()),
                            test: t.test,
                        })
                        .collect()
                })
                .collect(),
        ),
    }
}

fn resolve(expr: &Expr, names: &[&str]) -> Result<Cond, String> {
    Ok(match expr {
        Expr::Ref(name) => Cond::Sel(
            names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| format!("the condition names `{name}`, which is not a selection"))?,
        ),
        Expr::And(items) => Cond::And(
            items
                .iter()
                .map(|e| resolve(e, names))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(items) => Cond::Or(
            items
                .iter()
                .map(|e| resolve(e, names))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Not(inner) => Cond::Not(Box::new(resolve(inner, names)?)),
        Expr::Quantified { all, pattern } => {
            let matching: Vec<Cond> = names
                .iter()
                .enumerate()
                .filter(|(_, n)| glob_name(pattern, n))
                .map(|(i, _)| Cond::Sel(i))
                .collect();
            if matching.is_empty() {
                return Err(format!("`{pattern}` matches no selection"));
            }
            if *all {
                Cond::And(matching)
            } else {
                Cond::Or(matching)
            }
        }
    })
}

/// Selection-name patterns: `*` stands for any run of characters.
fn glob_name(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.len() >= head.len()
                && name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| {
                    name.is_char_boundary(head.len() + i)
                        && glob_name(tail, &name[head.len() + i..])
                })
        }
    }
}

/// A rule that matched an event.
pub struct RuleMatch<'a> {
    pub rule: &'a Rule,
    /// The rule's position in [`CompiledRuleSet::rules`].
    pub(crate) index: usize,
}

/// All rules compiled into one matcher.
#[derive(Default)]
pub struct CompiledRuleSet {
    rules: Vec<Arc<Rule>>,
    variants: Vec<Variant>,
    /// `(lowercase channel, event id)` → variants.
    by_channel_event: HashMap<(String, u32), Vec<usize>>,
    /// Lowercase channel → variants that take any event id of it.
    by_channel: HashMap<String, Vec<usize>>,
    /// Variants for every Windows event.
    any_windows: Vec<usize>,
    /// Variants for events with neither a Windows channel nor a recognised source.
    other: Vec<usize>,
    /// Recognised non-Windows source → variants.
    by_source: HashMap<&'static str, Vec<usize>>,
    errors: Vec<RuleError>,
    files: usize,
    /// Filters that loaded.
    filters: usize,
    pub(crate) correlations: Vec<Correlation>,
    /// What each correlated rule or correlation feeds: `(correlation, step)`.
    pub(crate) correlation_feeds: HashMap<Source, Vec<(usize, usize)>>,
    /// The fields correlations read from each correlated rule's events.
    correlation_fields: HashMap<usize, Vec<String>>,
    /// Triggers gathered while compiling, turned into `prefilter` at the end.
    triggers: Vec<(u32, crate::prefilter::Trigger)>,
    prefilter: crate::prefilter::Prefilter,
}

impl CompiledRuleSet {
    fn add_variant(&mut self, rule: usize, route: Route, parts: VariantParts) {
        let id = self.variants.len();
        let trigger = crate::prefilter::trigger(&parts.condition, &parts.selections);
        self.variants.push(Variant {
            rule,
            route: route.clone(),
            selections: parts.selections,
            condition: parts.condition,
        });
        if let Some(trigger) = trigger {
            // Reached through the prefilter, never through the buckets.
            self.triggers.push((id as u32, trigger));
            return;
        }
        match route {
            Route::Other => self.other.push(id),
            Route::Sources(sources) => {
                self.other.push(id);
                for source in sources {
                    self.by_source.entry(source).or_default().push(id);
                }
            }
            Route::Windows {
                channels,
                event_ids,
                ..
            } => {
                if channels.is_empty() {
                    self.any_windows.push(id);
                }
                for channel in channels {
                    let channel = channel.to_ascii_lowercase();
                    if event_ids.is_empty() {
                        self.by_channel.entry(channel).or_default().push(id);
                    } else {
                        for eid in event_ids {
                            self.by_channel_event
                                .entry((channel.clone(), *eid))
                                .or_default()
                                .push(id);
                        }
                    }
                }
            }
        }
    }

    /// The rules that loaded and compiled.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// Rule files that failed, with reasons.
    pub fn errors(&self) -> &[RuleError] {
        &self.errors
    }

    /// How many rule files were read.
    pub fn files(&self) -> usize {
        self.files
    }

    /// The correlation rules that loaded.
    pub fn correlation_rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.correlations.iter().map(|c| &c.rule)
    }

    /// How many filters loaded.
    pub fn filters(&self) -> usize {
        self.filters
    }

    /// Rules, correlations and filters that loaded.
    pub fn loaded(&self) -> usize {
        self.rules.len() + self.correlations.len() + self.filters
    }

    /// The correlation input of an event with `matches`, or `None` when none of them
    /// feeds a correlation.
    pub fn correlation_input(
        &self,
        matches: &[RuleMatch<'_>],
        event: &FlatEvent,
        time_ms: i64,
    ) -> Option<CorrelationInput> {
        let mut input: Option<CorrelationInput> = None;
        for m in matches {
            let Some(fields) = self.correlation_fields.get(&m.index) else {
                continue;
            };
            let input = input.get_or_insert_with(|| CorrelationInput {
                time_ms,
                rules: Vec::new(),
                fields: Vec::new(),
            });
            input.rules.push(m.index);
            for f in fields {
                if !input.fields.iter().any(|(n, _)| n == f)
                    && let Some((value, _)) = event.get(f)
                {
                    input.fields.push((f.clone(), value.to_string()));
                }
            }
        }
        input
    }

    /// Resolves each correlation's references, in dependency order; one that names an
    /// unknown rule, or sits in a cycle, is reported and left out.
    fn add_correlations(&mut self, parsed: Vec<(Rule, CorrelationSpec)>) {
        let mut pending: Vec<(Rule, CorrelationSpec)> = parsed;
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for (rule, spec) in pending {
                match self.resolve_steps(&spec) {
                    Some(steps) => {
                        let index = self.correlations.len();
                        for (k, source) in steps.iter().enumerate() {
                            let feeds = self.correlation_feeds.entry(*source).or_default();
                            // A source listed twice feeds the correlation once; the
                            // correlation knows every position it holds.
                            if !feeds.iter().any(|(c, _)| *c == index) {
                                feeds.push((index, k));
                            }
                        }
                        let corr = Correlation::new(Arc::new(rule), &spec, steps);
                        for (k, source) in corr.steps.iter().enumerate() {
                            if let Source::Rule(r) = source {
                                let fields = self.correlation_fields.entry(*r).or_default();
                                let wanted = corr.group_fields[k]
                                    .iter()
                                    .chain(corr.value_fields[k].iter());
                                for f in wanted {
                                    if !fields.contains(f) {
                                        fields.push(f.clone());
                                    }
                                }
                            }
                        }
                        self.correlations.push(corr);
                    }
                    None => still.push((rule, spec)),
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for (rule, spec) in pending {
            let unknown: Vec<&str> = spec
                .rules
                .iter()
                .filter(|r| self.resolve_one(r).is_none())
                .map(String::as_str)
                .collect();
            self.errors.push(RuleError::new(
                &rule.path,
                Some("correlation.rules".into()),
                format!(
                    "`{}` refers to {}, which did not load or refer back to it",
                    rule.title,
                    unknown
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }

    fn resolve_steps(&self, spec: &CorrelationSpec) -> Option<Vec<Source>> {
        spec.rules.iter().map(|r| self.resolve_one(r)).collect()
    }

    fn resolve_one(&self, reference: &str) -> Option<Source> {
        self.rules
            .iter()
            .position(|r| r.is_named(reference))
            .map(Source::Rule)
            .or_else(|| {
                self.correlations
                    .iter()
                    .position(|c| c.rule.is_named(reference))
                    .map(Source::Correlation)
            })
    }

    /// The rules that match `event`, each once.
    pub fn matches(&self, event: &FlatEvent) -> Vec<RuleMatch<'_>> {
        let mut out: Vec<RuleMatch<'_>> = Vec::new();
        let mut check = |id: usize| {
            let v = &self.variants[id];
            if out
                .iter()
                .any(|m| std::ptr::eq(m.rule, &*self.rules[v.rule]))
            {
                return;
            }
            if v.matches(event) {
                out.push(RuleMatch {
                    rule: &self.rules[v.rule],
                    index: v.rule,
                });
            }
        };
        let mut fired = Vec::new();
        self.prefilter.fire(event, &mut fired);
        fired.sort_unstable();
        fired.dedup();
        for id in fired {
            if self.variants[id as usize].applies(event) {
                check(id as usize);
            }
        }
        match (&event.channel, event.event_id) {
            (Some(channel), event_id) => {
                let channel = channel.to_ascii_lowercase();
                if let Some(eid) = event_id
                    && let Some(ids) = self.by_channel_event.get(&(channel.clone(), eid))
                {
                    ids.iter().for_each(|&id| check(id));
                }
                if let Some(ids) = self.by_channel.get(&channel) {
                    ids.iter().for_each(|&id| check(id));
                }
                self.any_windows.iter().for_each(|&id| check(id));
            }
            (None, _) => match event.source {
                Some(source) => {
                    if let Some(ids) = self.by_source.get(source) {
                        ids.iter().for_each(|&id| check(id));
                    }
                }
                None => self.other.iter().for_each(|&id| check(id)),
            },
        }
        out
    }
}

impl Variant {
    /// Whether the variant's route covers the event's source.
    fn applies(&self, event: &FlatEvent) -> bool {
        match (&self.route, &event.channel) {
            (Route::Other, None) => event.source.is_none(),
            (Route::Sources(sources), None) => event.source.is_none_or(|s| sources.contains(&s)),
            (
                Route::Windows {
                    channels,
                    event_ids,
                    ..
                },
                Some(channel),
            ) => {
                (channels.is_empty() || channels.iter().any(|c| c.eq_ignore_ascii_case(channel)))
                    && (event_ids.is_empty()
                        || event.event_id.is_some_and(|e| event_ids.contains(&e)))
            }
            _ => false,
        }
    }

    fn matches(&self, event: &FlatEvent) -> bool {
        self.eval(&self.condition, event)
    }

    fn eval(&self, cond: &Cond, event: &FlatEvent) -> bool {
        match cond {
            Cond::Sel(i) => selection_matches(&self.selections[*i], event),
            Cond::And(items) => items.iter().all(|c| self.eval(c, event)),
            Cond::Or(items) => items.iter().any(|c| self.eval(c, event)),
            Cond::Not(inner) => !self.eval(inner, event),
        }
    }
}

fn selection_matches(selection: &Selection, event: &FlatEvent) -> bool {
    match selection {
        Selection::Groups(groups) => groups
            .iter()
            .any(|g| g.iter().all(|t| field_matches(t, event))),
        Selection::Keywords(ValueTest::Values { matchers, all, .. }) => {
            let found = |m: &crate::value::Matcher| {
                event
                    .lowered_values()
                    .any(|(orig, lower)| m.matches(lower, orig))
            };
            if *all {
                matchers.iter().all(found)
            } else {
                matchers.iter().any(found)
            }
        }
        Selection::Keywords(_) => false,
    }
}

/// A field test against every value the field has: any value may satisfy it (with `all`,
/// each listed value must be found in one of them).
fn field_matches(test: &FieldTest, event: &FlatEvent) -> bool {
    match &test.test {
        ValueTest::Values {
            matchers,
            all,
            cased,
        } => {
            let cased = *cased;
            let mut values = event
                .get_all(&test.field)
                .map(move |(orig, lower)| (if cased { orig } else { lower }, orig))
                .peekable();
            if values.peek().is_none() {
                return false;
            }
            if *all {
                let values: Vec<(&str, &str)> = values.collect();
                matchers
                    .iter()
                    .all(|m| values.iter().any(|(v, orig)| m.matches(v, orig)))
            } else {
                values.any(|(v, orig)| matchers.iter().any(|m| m.matches(v, orig)))
            }
        }
        ValueTest::Exists(expected) => event.get(&test.field).is_some() == *expected,
        ValueTest::Null => event.get(&test.field).is_none_or(|(v, _)| v.is_empty()),
        ValueTest::FieldRef(others) => {
            let Some((_, lower)) = event.get(&test.field) else {
                return false;
            };
            others
                .iter()
                .any(|o| event.get(o).is_some_and(|(_, l)| l == lower))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rules: &[&str]) -> CompiledRuleSet {
        let mut s = RuleSet::default();
        for (i, r) in rules.iter().enumerate() {
            s.add_yaml(r, &format!("r{i}.yml")).unwrap();
        }
        s.compile()
    }

    const PROC: &str = r#"
title: t
id: a
logsource: {product: windows, category: process_creation}
detection:
  selection_img:
    - Image|endswith: '\rundll32.exe'
    - OriginalFileName: RUNDLL32.EXE
  selection_cli:
    CommandLine|contains: javascript
  filter:
    ParentImage: 'C:\Windows\explorer.exe'
  condition: all of selection_* and not filter
"#;

    #[test]
    fn routes_by_channel_and_event_id_with_field_renames() {
        let set = set(&[PROC]);
        let mut sysmon = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
        sysmon.push("Image", r"C:\Windows\System32\RUNDLL32.exe");
        sysmon.push(
            "CommandLine",
            "rundll32 javascript:\"\\..\\mshtml,RunHTMLApplication\"",
        );
        assert_eq!(set.matches(&sysmon).len(), 1);
        let mut security = FlatEvent::windows("Security", 4688);
        security.push("NewProcessName", r"C:\Windows\System32\rundll32.exe");
        security.push("CommandLine", "rundll32 javascript:x");
        assert_eq!(
            set.matches(&security).len(),
            1,
            "Image maps to NewProcessName on 4688"
        );
        let mut filtered = sysmon.clone();
        filtered.push("ParentImage", r"c:\windows\explorer.exe");
        assert!(set.matches(&filtered).is_empty());
        let mut wrong_eid = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 3);
        wrong_eid.push("Image", r"C:\Windows\System32\rundll32.exe");
        wrong_eid.push("CommandLine", "javascript");
        assert!(set.matches(&wrong_eid).is_empty());
    }

    #[test]
    fn a_repeated_field_matches_on_any_of_its_values() {
        let set = set(&[
            "title: d\nid: d\nlogsource: {product: windows, service: application}\ndetection:\n  sel:\n    Data|contains: 'ntds.dit'\n  condition: sel",
        ]);
        let mut ev = FlatEvent::windows("Application", 325);
        ev.push("Data", "NTDS");
        ev.push("Data", r"C:\$SNAP\Windows\NTDS\ntds.dit");
        assert_eq!(set.matches(&ev).len(), 1);
    }

    #[test]
    fn keywords_exists_null_and_errors() {
        let rules = [
            "title: k\nid: k\nlogsource: {product: windows, service: system}\ndetection:\n  keywords: ['mimikatz', 'sekurlsa']\n  condition: keywords",
            "title: e\nid: e\nlogsource: {product: windows, service: system}\ndetection:\n  sel:\n    Foo|exists: true\n    Bar: null\n  condition: sel",
        ];
        let set = set(&rules);
        let mut ev = FlatEvent::windows("System", 7045);
        ev.push("ImagePath", "C:\\x\\MimiKatz.exe");
        assert_eq!(
            set.matches(&ev)
                .iter()
                .map(|m| m.rule.id.as_str())
                .collect::<Vec<_>>(),
            vec!["k"]
        );
        ev.push("Foo", "1");
        assert_eq!(set.matches(&ev).len(), 2);
        ev.push("Bar", "x");
        assert_eq!(set.matches(&ev).len(), 1);

        let mut s = RuleSet::default();
        let err = s
            .add_yaml("title: x\nid: x\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|bogus: a\n  condition: sel\n", "bad.yml")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad.yml:6: detection.sel.Image|bogus: unknown modifier `bogus`"
        );
        s.add_yaml("title: y\nid: y\nlogsource: {product: windows}\ndetection:\n  sel:\n    A: 1\n  condition: sel and other\n", "y.yml").unwrap();
        let compiled = s.compile();
        assert_eq!(compiled.rules().len(), 0);
        assert_eq!(compiled.errors().len(), 2);
        assert!(
            compiled.errors()[1]
                .message
                .contains("`other`, which is not a selection")
        );
        assert!(glob_name("filter_*", "filter_main_x") && !glob_name("filter_*", "selection"));
    }
}
