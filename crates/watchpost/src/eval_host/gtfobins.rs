//! `watchpost eval gtfobins DIR`: every GTFOBins example, run through the model of what
//! the agent would record ([`super::simulate`]), against the built-in rules.

use super::simulate::{Context, simulate_prepared};
use anyhow::Context as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use watchpost_sigma::{CompiledRuleSet, RuleSet};

/// The functions whose detection the floor applies to, and the privileged contexts.
pub const FLOORED: &[&str] = &[
    "shell",
    "reverse-shell",
    "bind-shell",
    "download",
    "upload",
    "sudo",
    "suid",
    "capabilities",
];

/// Functions that give their user a shell: the examples counted under a privileged
/// context (`sudo`, `suid`, `capabilities`), which are about getting a root shell.
/// Reading a file through `sudo less FILE` is what sudo is for, and no rule should flag
/// it; a `command` example runs a placeholder (`/path/to/command`) nothing can judge.
const EXECUTION: &[&str] = &["shell", "reverse-shell", "bind-shell"];

/// One example in one context.
#[derive(Debug, Clone)]
pub struct Example {
    pub binary: String,
    pub function: String,
    pub context: String,
    pub code: String,
    /// Code blocks of the example's comment: how its files were made beforehand.
    pub preparation: String,
    pub capabilities: Vec<String>,
}

/// One example with every context it lists (`unprivileged`, `sudo`, `suid`,
/// `capabilities`), each with the code to run in it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub runs: Vec<Example>,
}

/// Reads `DIR/_gtfobins/*` (YAML front matter): one [`Entry`] per example, with a run per
/// context it lists, using the context's own code when it has one.
pub fn read_examples(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let entries = dir.join("_gtfobins");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&entries)
        .with_context(|| format!("reading {}", entries.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let front = text.split("---").nth(1).unwrap_or("");
        let doc: yaml_serde::Value = yaml_serde::from_str(front)
            .with_context(|| format!("{}: front matter is not YAML", path.display()))?;
        let binary = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(functions) = doc.get("functions").and_then(|f| f.as_mapping()) else {
            continue;
        };
        for (function, examples) in functions {
            let function = function.as_str().unwrap_or_default().to_string();
            for example in examples.as_sequence().into_iter().flatten() {
                let code = example.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let preparation = code_blocks(
                    example
                        .get("comment")
                        .and_then(|c| c.as_str())
                        .unwrap_or(""),
                );
                let contexts = example.get("contexts").and_then(|c| c.as_mapping());
                let mut runs = Vec::new();
                for (context, detail) in contexts.into_iter().flatten() {
                    let context = context.as_str().unwrap_or_default().to_string();
                    let own_code = detail.get("code").and_then(|c| c.as_str());
                    let capabilities = detail
                        .get("list")
                        .and_then(|l| l.as_sequence())
                        .map(|l| {
                            l.iter()
                                .filter_map(|c| Some(c.as_str()?.to_ascii_lowercase()))
                                .collect()
                        })
                        .unwrap_or_default();
                    runs.push(Example {
                        binary: binary.clone(),
                        function: function.clone(),
                        context,
                        code: own_code.unwrap_or(code).to_string(),
                        preparation: preparation.clone(),
                        capabilities,
                    });
                }
                if !runs.is_empty() {
                    out.push(Entry { runs });
                }
            }
        }
    }
    Ok(out)
}

/// The fenced code blocks of a Markdown comment, one after another.
fn code_blocks(comment: &str) -> String {
    let mut out = String::new();
    for block in comment.split("```").skip(1).step_by(2) {
        // The info string (`sh`, `java`) ends the opening fence's line.
        let body = block.split_once('\n').map_or("", |(_, body)| body);
        out.push_str(body);
        out.push('\n');
    }
    out
}

/// The rule titles that fire on the simulation of `example`.
pub fn detect(rules: &CompiledRuleSet, example: &Example) -> Vec<String> {
    let context = match example.context.as_str() {
        "sudo" => Context::Sudo,
        "suid" => Context::Suid,
        "capabilities" => Context::Capabilities(
            example
                .capabilities
                .iter()
                .filter_map(|c| watchpost_host::capabilities::bit(c))
                .fold(0, |a, b| a | b),
        ),
        _ => Context::Unprivileged,
    };
    let mut titles = Vec::new();
    for event in simulate_prepared(
        &example.binary,
        &example.preparation,
        &example.code,
        &context,
    ) {
        let flat = watchpost_logs::flatten_event(&event);
        for m in rules.matches(&flat) {
            if !titles.contains(&m.rule.title) {
                titles.push(m.rule.title.clone());
            }
        }
    }
    titles
}

#[derive(Default, Clone, Copy)]
struct Tally {
    total: usize,
    detected: usize,
}

impl Tally {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.detected += usize::from(hit);
    }
    fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.detected as f64 / self.total as f64
        }
    }
}

/// Options of the command.
pub struct Options {
    pub rules: Vec<PathBuf>,
    pub json: bool,
    pub show: usize,
    pub min_function: Option<f64>,
}

/// Runs the evaluation and prints the figures.
pub fn run(dir: &Path, options: &Options) -> anyhow::Result<ExitCode> {
    let examples = read_examples(dir)?;
    anyhow::ensure!(
        !examples.is_empty(),
        "no GTFOBins examples under {}",
        dir.display()
    );
    let mut set = RuleSet::default();
    set.add_builtin();
    for d in &options.rules {
        set.load_dir(d);
    }
    let rules = set.compile();
    // An example counts once for its function (run unprivileged when it can be), and
    // once for each privileged context it lists when its function executes commands.
    let mut by_function: BTreeMap<String, Tally> = BTreeMap::new();
    let mut overall = Tally::default();
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    for entry in &examples {
        let primary = entry
            .runs
            .iter()
            .position(|r| r.context == "unprivileged")
            .unwrap_or(0);
        for (i, example) in entry.runs.iter().enumerate() {
            let counts_for_context =
                example.context != "unprivileged" && EXECUTION.contains(&example.function.as_str());
            if i != primary && !counts_for_context {
                continue;
            }
            let titles = detect(&rules, example);
            let hit = !titles.is_empty();
            for t in &titles {
                *by_rule.entry(t.clone()).or_default() += 1;
            }
            if i == primary {
                by_function
                    .entry(example.function.clone())
                    .or_default()
                    .add(hit);
                overall.add(hit);
            }
            if counts_for_context {
                by_function
                    .entry(example.context.clone())
                    .or_default()
                    .add(hit);
            }
            report_miss(options, &mut shown, example, hit);
        }
    }
    println!(
        "GTFOBins examples detected by the built-in rules{}:",
        if options.rules.is_empty() {
            ""
        } else {
            " and the folders given"
        }
    );
    for (name, tally) in &by_function {
        let floor = if FLOORED.contains(&name.as_str()) {
            " *"
        } else {
            ""
        };
        println!(
            "  {name:<22} {:>4}/{:<4} {:>6.1} %{floor}",
            tally.detected,
            tally.total,
            tally.percent()
        );
    }
    println!(
        "  {:<22} {:>4}/{:<4} {:>6.1} %   (* floored)",
        "all functions",
        overall.detected,
        overall.total,
        overall.percent()
    );
    println!("rules that fired (examples):");
    let mut rules_fired: Vec<_> = by_rule.into_iter().collect();
    rules_fired.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (title, n) in rules_fired {
        println!("  {n:>4}  {title}");
    }
    let mut failed = false;
    if let Some(min) = options.min_function {
        for name in FLOORED {
            let tally = by_function.get(*name).copied().unwrap_or_default();
            if tally.percent() < min {
                println!("FAIL: {name} at {:.1} % is below {min} %", tally.percent());
                failed = true;
            }
        }
    }
    if options.json {
        let functions: serde_json::Map<String, serde_json::Value> = by_function
            .iter()
            .map(|(k, t)| (k.clone(), json!({"total": t.total, "detected": t.detected})))
            .collect();
        println!(
            "{}",
            json!({"total": overall.total, "detected": overall.detected, "by_function": functions})
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn report_miss(options: &Options, shown: &mut usize, example: &Example, hit: bool) {
    if !hit && *shown < options.show {
        *shown += 1;
        println!(
            "MISSED {} {} [{}]: {}",
            example.binary,
            example.function,
            example.context,
            example.code.replace('\n', " ⏎ ")
        );
    }
}
