//! The literal prefilter that lets one event skip most rules.
//!
//! For each compiled rule variant we derive a *trigger*: a set of `(field, literal)` such
//! that the rule can only match an event where at least one literal occurs in its field.
//! Every literal of a field goes into one Aho-Corasick automaton, so an event costs one scan
//! per field, however many rules there are, and only the rules whose trigger fired are
//! evaluated in full. Rules without a usable trigger (only regular expressions, negations,
//! keyword searches) are evaluated for every event of their source, as before.

use crate::detection::Selection;
use crate::engine::Cond;
use crate::event::FlatEvent;
use crate::value::ValueTest;
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::collections::HashMap;

/// `(lowercase field name, lowercase literal)` alternatives; one must occur for a match.
pub(crate) type Trigger = Vec<(String, Vec<u8>)>;

/// The trigger of a condition, or `None` when no literal is necessary for it.
pub(crate) fn trigger(cond: &Cond, selections: &[Selection]) -> Option<Trigger> {
    match cond {
        Cond::Sel(i) => selection_trigger(&selections[*i]),
        // Any one conjunct's trigger is necessary; take the most selective.
        Cond::And(items) => items
            .iter()
            .filter_map(|c| trigger(c, selections))
            .max_by_key(selectivity),
        // Every alternative must be covered.
        Cond::Or(items) => union(items.iter().map(|c| trigger(c, selections))),
        Cond::Not(_) => None,
    }
}

fn selection_trigger(selection: &Selection) -> Option<Trigger> {
    match selection {
        Selection::Keywords(_) => None,
        Selection::Groups(groups) => union(groups.iter().map(|group| {
            group
                .iter()
                .filter_map(|test| {
                    let field = test.field.to_lowercase();
                    match &test.test {
                        ValueTest::Values {
                            matchers,
                            all: false,
                            ..
                        } => matchers
                            .iter()
                            .map(|m| m.required_literal().map(|l| (field.clone(), lower(l))))
                            .collect::<Option<Trigger>>(),
                        ValueTest::Values {
                            matchers,
                            all: true,
                            ..
                        } => matchers
                            .iter()
                            .filter_map(|m| m.required_literal())
                            .max_by_key(|l| l.len())
                            .map(|l| vec![(field.clone(), lower(l))]),
                        _ => None,
                    }
                })
                .max_by_key(selectivity)
        })),
    }
}

fn lower(literal: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(literal).to_lowercase().into_bytes()
}

fn union(parts: impl Iterator<Item = Option<Trigger>>) -> Option<Trigger> {
    let mut out = Trigger::new();
    for part in parts {
        out.extend(part?);
    }
    (!out.is_empty()).then_some(out)
}

/// Longer shortest literal first (rarer hits), then fewer alternatives.
fn selectivity(t: &Trigger) -> (usize, std::cmp::Reverse<usize>) {
    (
        t.iter().map(|(_, l)| l.len()).min().unwrap_or(0),
        std::cmp::Reverse(t.len()),
    )
}

/// While building: a field's distinct literals, their index, and the variants of each.
type FieldPatterns<'a> = (Vec<&'a [u8]>, HashMap<&'a [u8], usize>, Vec<Vec<u32>>);

/// One automaton per field over every trigger literal of that field.
#[derive(Default)]
pub(crate) struct Prefilter {
    fields: HashMap<String, (AhoCorasick, Vec<Vec<u32>>)>,
}

impl Prefilter {
    /// Builds the automata from `(variant id, trigger)` pairs.
    pub(crate) fn build(triggers: &[(u32, Trigger)]) -> Prefilter {
        let mut per_field: HashMap<&str, FieldPatterns<'_>> = HashMap::new();
        for (variant, trigger) in triggers {
            for (field, literal) in trigger {
                let (patterns, index, variants) = per_field.entry(field).or_default();
                let at = *index.entry(literal).or_insert_with(|| {
                    patterns.push(literal);
                    variants.push(Vec::new());
                    patterns.len() - 1
                });
                if variants[at].last() != Some(variant) {
                    variants[at].push(*variant);
                }
            }
        }
        let fields = per_field
            .into_iter()
            .filter_map(|(field, (patterns, _, variants))| {
                // The contiguous NFA: a DFA per field was several times larger, and its
                // cache misses cost more than the NFA's extra transitions (docs/benchmarks.md).
                let ac = AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(patterns)
                    .ok()?;
                Some((field.to_string(), (ac, variants)))
            })
            .collect();
        Prefilter { fields }
    }

    /// Appends the variants whose trigger fires on `event` (with repeats).
    pub(crate) fn fire(&self, event: &FlatEvent, out: &mut Vec<u32>) {
        for (name, lower) in event.lowered_names_values() {
            if let Some((ac, variants)) = self.fields.get(name) {
                for hit in ac.find_overlapping_iter(lower) {
                    out.extend_from_slice(&variants[hit.pattern().as_usize()]);
                }
            }
        }
    }
}
