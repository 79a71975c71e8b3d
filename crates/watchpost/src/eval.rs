//! `watchpost eval sigma-regression`: SigmaHQ regression cases, each a rule id, a sample
//! log and the number of matches the rule must produce on it.

use crate::rules_cmd;
use anyhow::Context;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use watchpost_sigma::CompiledRuleSet;

/// One case from an `info.yml`.
struct Case {
    info: PathBuf,
    rule_id: String,
    sample: PathBuf,
    expected: u64,
}

pub fn sigma_regression(
    root: &Path,
    rules: &[PathBuf],
    json: bool,
    min_passed: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let rule_dirs: Vec<PathBuf> = if rules.is_empty() {
        ["rules", "rules-emerging-threats", "rules-threat-hunting"]
            .iter()
            .map(|d| root.join(d))
            .filter(|d| d.is_dir())
            .collect()
    } else {
        rules.to_vec()
    };
    let set = rules_cmd::load(&rule_dirs, &Default::default());
    let mut infos = Vec::new();
    find_info_files(&root.join("regression_data"), &mut infos);
    infos.sort();
    anyhow::ensure!(
        !infos.is_empty(),
        "no info.yml under {}",
        root.join("regression_data").display()
    );
    let (mut cases, mut passed) = (0usize, 0usize);
    for info in &infos {
        for case in read_cases(root, info).with_context(|| format!("reading {}", info.display()))? {
            cases += 1;
            match run_case(&set, &case) {
                Ok(count) if count >= case.expected => passed += 1,
                Ok(count) => println!(
                    "FAIL {}: rule {} matched {count} time(s), expected {} ({})",
                    case.info.display(),
                    case.rule_id,
                    case.expected,
                    case.sample.display()
                ),
                Err(reason) => println!(
                    "FAIL {}: rule {}: {reason}",
                    case.info.display(),
                    case.rule_id
                ),
            }
        }
    }
    if json {
        println!("{}", serde_json::json!({"cases": cases, "passed": passed}));
    } else {
        println!("{passed} of {cases} regression cases pass");
    }
    if let Some(floor) = min_passed.filter(|floor| passed < *floor) {
        eprintln!("FAIL: {passed} regression cases pass, below the floor of {floor}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn find_info_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_info_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "info.yml") {
            out.push(path);
        }
    }
}

fn read_cases(root: &Path, info: &Path) -> anyhow::Result<Vec<Case>> {
    let doc: yaml_serde::Value = yaml_serde::from_str(&std::fs::read_to_string(info)?)?;
    let rule_id = doc
        .get("rule_metadata")
        .and_then(|m| m.get(0))
        .and_then(|m| m.get("id"))
        .and_then(|v| v.as_str())
        .context("no rule_metadata[0].id")?
        .to_string();
    // An info.yml whose tests are commented out upstream holds no case.
    let Some(tests) = doc
        .get("regression_tests_info")
        .and_then(|t| t.as_sequence())
    else {
        return Ok(Vec::new());
    };
    Ok(tests
        .iter()
        .filter_map(|t| {
            let path = t.get("path")?.as_str()?;
            Some(Case {
                info: info.to_path_buf(),
                rule_id: rule_id.clone(),
                sample: root.join(path),
                // A positive test without a count expects at least one match.
                expected: t.get("match_count").and_then(|c| c.as_u64()).unwrap_or(1),
            })
        })
        .collect())
}

fn run_case(set: &CompiledRuleSet, case: &Case) -> Result<u64, String> {
    if !set.rules().iter().any(|r| r.id == case.rule_id) {
        let reason = set
            .errors()
            .iter()
            .find(|e| std::fs::read_to_string(&e.path).is_ok_and(|t| t.contains(&case.rule_id)))
            .map_or("not among the loaded rules".to_string(), |e| {
                format!("did not load: {e}")
            });
        return Err(reason);
    }
    let mut count = 0;
    let mut count_matches = |record: watchpost_logs::LogRecord| {
        count += set
            .matches(&record.event)
            .iter()
            .filter(|m| m.rule.id == case.rule_id)
            .count() as u64;
    };
    let is_evtx = case
        .sample
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"));
    let read = if is_evtx {
        watchpost_logs::read_evtx(&case.sample, &mut count_matches)
    } else {
        watchpost_logs::read_json_lines(&case.sample, &mut count_matches)
    };
    read.map_err(|e| e.to_string())?;
    Ok(count)
}

/// A match as the peers' reports key it: file relative to the EVTX folder, record, rule.
type MatchKey = (String, u64, String);

/// Reads a peer's `evtx_detections.csv`: `(file, record, rule id)` and rule titles.
fn read_peer(
    path: &Path,
    rule_column: &str,
) -> anyhow::Result<(HashSet<MatchKey>, HashMap<String, String>)> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no `{name}` column", path.display()))
    };
    let (file, record, rule, title) = (
        column("file")?,
        column("event_record_id")?,
        column(rule_column)?,
        column("rule_title")?,
    );
    let mut keys = HashSet::new();
    let mut titles = HashMap::new();
    for row in reader.records() {
        let row = row?;
        let record_id: u64 = row[record]
            .parse()
            .with_context(|| format!("{}: bad record id `{}`", path.display(), &row[record]))?;
        keys.insert((row[file].to_string(), record_id, row[rule].to_string()));
        titles.insert(row[rule].to_string(), row[title].to_string());
    }
    Ok((keys, titles))
}

/// Counts per rule id, most first.
fn count_by_rule<'a>(keys: impl Iterator<Item = &'a MatchKey>) -> Vec<(&'a str, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, _, rule) in keys {
        *counts.entry(rule.as_str()).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v
}

/// `watchpost eval peer-agreement CORPUS`: hunts CORPUS/evtx with the SigmaHQ rules and
/// compares the matches with what Chainsaw and Hayabusa reported on the same files.
pub fn peer_agreement(
    corpus: &Path,
    json: bool,
    min_recall: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let sigma = corpus.join("sigma");
    let rule_dirs: Vec<PathBuf> = ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| sigma.join(d))
        .collect();
    let rules = rules_cmd::load(&rule_dirs, &Default::default());
    let evtx = corpus.join("evtx");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let filter = crate::hunt::Filter {
        from: None,
        to: None,
        min_level: None,
    };
    let (rows, totals) =
        crate::hunt::hunt_paths(&rules, std::slice::from_ref(&evtx), threads, &filter);
    let prefix = format!("{}/", evtx.display());
    let ours: HashSet<MatchKey> = rows
        .iter()
        .map(|r| {
            (
                r.file.strip_prefix(&prefix).unwrap_or(&r.file).to_string(),
                r.record_id,
                r.rule_id.clone(),
            )
        })
        .collect();
    let (chainsaw, mut titles) = read_peer(
        &corpus.join("expected/chainsaw/evtx_detections.csv"),
        "rule_id",
    )?;
    let (hayabusa, more_titles) = read_peer(
        &corpus.join("expected/hayabusa/evtx_detections.csv"),
        "sigma_rule_id",
    )?;
    titles.extend(more_titles);
    let both: HashSet<&MatchKey> = chainsaw.intersection(&hayabusa).collect();
    let recalled = both.iter().filter(|k| ours.contains(**k)).count();
    let pct = |n: usize, d: usize| {
        if d == 0 {
            100.0
        } else {
            100.0 * n as f64 / d as f64
        }
    };
    let recall = pct(recalled, both.len());
    let of = |peer: &HashSet<MatchKey>| {
        pct(
            peer.iter().filter(|k| ours.contains(*k)).count(),
            peer.len(),
        )
    };
    let only_ours = ours
        .iter()
        .filter(|k| !chainsaw.contains(*k) && !hayabusa.contains(*k))
        .count();

    let missed = count_by_rule(both.iter().filter(|k| !ours.contains(**k)).copied());
    for (rule, n) in &missed {
        println!(
            "MISSED {n:>4}  {rule}  {}",
            titles.get(*rule).map_or("", String::as_str)
        );
    }
    let extra = count_by_rule(
        ours.iter()
            .filter(|k| !chainsaw.contains(*k) && !hayabusa.contains(*k)),
    );
    for (rule, n) in &extra {
        let title = rules
            .rules()
            .iter()
            .find(|r| r.id == *rule)
            .map_or("", |r| r.title.as_str());
        println!("ONLY-WATCHPOST {n:>4}  {rule}  {title}");
    }
    println!(
        "{} events; Watchpost {} matches; Chainsaw {}, Hayabusa {}, both {}; recall of matches both report: {recall:.2} % ({recalled}/{}); of Chainsaw's {:.2} %, of Hayabusa's {:.2} %; {only_ours} matches neither reports",
        totals.records,
        ours.len(),
        chainsaw.len(),
        hayabusa.len(),
        both.len(),
        both.len(),
        of(&chainsaw),
        of(&hayabusa)
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"events": totals.records, "ours": ours.len(), "both": both.len(), "recalled": recalled,
                "recall_percent": recall, "chainsaw_recall_percent": of(&chainsaw), "hayabusa_recall_percent": of(&hayabusa),
                "only_watchpost": only_ours})
        );
    }
    if let Some(floor) = min_recall.filter(|floor| recall < *floor) {
        eprintln!(
            "FAIL: recall of the matches both peers report is {recall:.2} %, below the floor of {floor} %"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
