//! `watchpost eval host-fp FILE...`: the built-in rules over ordinary work, counted per
//! distinct command line. Inputs are the agent's own exec events (`.jsonl`, optionally
//! `.gz`: events, or records as `watchpost agent --output` writes them) or text files of
//! command lines typed at a shell (one per line, `#` comments), turned into events by the
//! same model as `eval gtfobins`.

use super::simulate::{Context, simulate};
use anyhow::Context as _;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use watchpost_core::Event;
use watchpost_sigma::RuleSet;

/// Options of the command.
pub struct Options {
    pub json: bool,
    pub show: usize,
    pub max_flagged: Option<f64>,
}

/// The events of one input file.
fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let name = path.to_string_lossy();
    let gzip = name.ends_with(".gz");
    let is_json = name.trim_end_matches(".gz").ends_with(".jsonl");
    let reader: Box<dyn std::io::Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut events = Vec::new();
    for (n, line) in std::io::BufReader::new(reader).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let line = line.trim();
        if line.is_empty() || (!is_json && line.starts_with('#')) {
            continue;
        }
        if is_json {
            let mut value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
            // `watchpost agent --output` writes records: `{"event": EVENT}` or
            // `{"detection": ...}`; an event alone has its `@timestamp` at the top.
            if value.get("@timestamp").is_none() {
                match value.get_mut("event").map(serde_json::Value::take) {
                    Some(event) if event.get("@timestamp").is_some() => value = event,
                    _ => continue,
                }
            }
            events.push(
                Event::from_json(value)
                    .with_context(|| format!("{}:{}: not an event", path.display(), n + 1))?,
            );
        } else {
            let program = super::shell::parse(line)
                .first()
                .and_then(|c| c.words.first().cloned())
                .unwrap_or_default();
            let program = program.rsplit('/').next().unwrap_or("").to_string();
            events.extend(simulate(&program, line, &Context::Unprivileged));
        }
    }
    Ok(events)
}

/// Runs the evaluation and prints the figures.
pub fn run(files: &[PathBuf], options: &Options) -> anyhow::Result<ExitCode> {
    let mut set = RuleSet::default();
    set.add_builtin();
    let rules = set.compile();
    let mut distinct: BTreeSet<String> = BTreeSet::new();
    let mut flagged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut events_seen = 0usize;
    for path in files {
        for event in read_events(path)? {
            events_seen += 1;
            let Some(command) = event.process.as_ref().and_then(|p| p.command_line.clone()) else {
                continue;
            };
            distinct.insert(command.clone());
            let flat = watchpost_logs::flatten_event(&event);
            for m in rules.matches(&flat) {
                let titles = flagged.entry(command.clone()).or_default();
                if !titles.contains(&m.rule.title) {
                    titles.push(m.rule.title.clone());
                }
            }
        }
    }
    let percent = if distinct.is_empty() {
        0.0
    } else {
        100.0 * flagged.len() as f64 / distinct.len() as f64
    };
    println!(
        "{events_seen} exec events, {} distinct command lines, {} flagged ({percent:.2} %)",
        distinct.len(),
        flagged.len()
    );
    for (command, titles) in flagged.iter().take(options.show) {
        let shown: String = command.chars().take(200).collect();
        println!("FLAGGED {shown}\n        by {}", titles.join("; "));
    }
    let failed = options.max_flagged.is_some_and(|max| percent > max);
    if failed {
        println!(
            "FAIL: {percent:.2} % of distinct command lines flagged, above {} %",
            options.max_flagged.unwrap_or_default()
        );
    }
    if options.json {
        println!(
            "{}",
            json!({"events": events_seen, "distinct_command_lines": distinct.len(), "flagged": flagged.len()})
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
