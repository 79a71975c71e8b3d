//! `watchpost rules check`: load and compile rule folders, report every failure.

use std::path::PathBuf;
use std::process::ExitCode;
use watchpost_sigma::{CompiledRuleSet, RuleSet};

/// Loads and compiles every rule under `dirs`.
pub fn load(dirs: &[PathBuf]) -> CompiledRuleSet {
    let mut set = RuleSet::default();
    for dir in dirs {
        set.load_dir(dir);
    }
    set.compile()
}

pub fn check(dirs: &[PathBuf], json: bool, min_coverage: Option<f64>) -> anyhow::Result<ExitCode> {
    let set = load(dirs);
    let files = set.files();
    let loaded = set.rules().len();
    let coverage = if files == 0 {
        0.0
    } else {
        100.0 * loaded as f64 / files as f64
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
            "{files} rule files, {loaded} loaded and compiled ({coverage:.2} %), {} failed",
            set.errors().len()
        );
    }
    if let Some(floor) = min_coverage.filter(|floor| coverage < *floor) {
        eprintln!("FAIL: rule coverage {coverage:.2} % is below the floor of {floor} %");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
