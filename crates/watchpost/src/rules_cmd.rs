//! `watchpost rules check`: load and compile rule folders, report every failure.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use watchpost_sigma::{CompiledRuleSet, Placeholders, RuleSet};

/// Loads and compiles every rule under `dirs`, `expand` placeholders filled from
/// `placeholders`.
pub fn load(dirs: &[PathBuf], placeholders: &Placeholders) -> CompiledRuleSet {
    let mut set = RuleSet::with_placeholders(placeholders.clone());
    for dir in dirs {
        set.load_dir(dir);
    }
    set.compile()
}

/// Reads `--placeholder NAME=VALUE,VALUE` arguments.
pub fn parse_placeholders(args: &[String]) -> anyhow::Result<Placeholders> {
    let mut out = Placeholders::default();
    for arg in args {
        let (name, values) = arg.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--placeholder `{arg}`: expected NAME=VALUE[,VALUE...]")
        })?;
        out.insert(
            name.trim(),
            values.split(',').map(|v| v.trim().to_string()).collect(),
        );
    }
    Ok(out)
}

pub fn check(
    dirs: &[PathBuf],
    placeholders: &Placeholders,
    json: bool,
    min_coverage: Option<f64>,
) -> anyhow::Result<ExitCode> {
    let set = load(dirs, placeholders);
    let files = set.files();
    let loaded = set.loaded();
    // A file counts as covered when every document in it loaded.
    let failed_files = set
        .errors()
        .iter()
        .map(|e| e.path.as_str())
        .collect::<HashSet<_>>()
        .len();
    let coverage = if files == 0 {
        0.0
    } else {
        100.0 * files.saturating_sub(failed_files) as f64 / files as f64
    };
    if json {
        let failed: Vec<_> = set
            .errors()
            .iter()
            .map(|e| serde_json::json!({"path": e.path, "reason": e.to_string()}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"files": files, "loaded": loaded, "failed": failed})
        );
    } else {
        for e in set.errors() {
            println!("FAILED {e}");
        }
        println!(
            "{files} rule files, {coverage:.2} % loaded and compiled: {} rules, {} correlations, \
             {} filters; {} failed",
            set.rules().len(),
            set.correlation_rules().count(),
            set.filters(),
            set.errors().len()
        );
    }
    if let Some(floor) = min_coverage.filter(|floor| coverage < *floor) {
        eprintln!("FAIL: rule coverage {coverage:.2} % is below the floor of {floor} %");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
