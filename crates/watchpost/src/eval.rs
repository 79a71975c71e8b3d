//! `watchpost eval sigma-regression`: SigmaHQ regression cases, each a rule id, a sample
//! log and the number of matches the rule must produce on it.

use crate::rules_cmd;
use anyhow::Context;
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
    let set = rules_cmd::load(&rule_dirs);
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
