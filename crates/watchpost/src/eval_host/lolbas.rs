//! `watchpost eval lolbas DIR`: every LOLBAS command, as the Sysmon process-creation event
//! it would produce on Windows (placeholders filled with realistic values), against the
//! built-in rules and any rule folders given.

use anyhow::Context as _;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use watchpost_sigma::{FlatEvent, RuleSet};

/// One LOLBAS command.
#[derive(Debug, Clone)]
pub struct Command {
    pub entry: String,
    pub category: String,
    pub image: String,
    pub command_line: String,
}

/// Fills LOLBAS placeholders (`{REMOTEURL:.exe}`, `{PATH}`, `{PATH_SMB}`, `{CMD}`, ...) with
/// values of the kind an attacker would use.
pub fn fill(command: &str) -> String {
    let mut out = String::new();
    let mut rest = command;
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let inner = &rest[start + 1..start + end];
        let (name, ext) = inner.split_once(':').unwrap_or((inner, ""));
        if !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            // Not a placeholder (a GUID in braces, a script block): keep it.
            out.push_str(&rest[start..=start + end]);
            rest = &rest[start + end + 1..];
            continue;
        }
        out.push_str(&match name {
            "REMOTEURL" => format!("http://203.0.113.50/payload{ext}"),
            "PATH" | "PATH_ABSOLUTE" => format!(r"C:\Users\Public\Downloads\payload{ext}"),
            "PATH_SMB" => format!(r"\\203.0.113.50\share\payload{ext}"),
            "CMD" => "cmd.exe /c whoami".to_string(),
            "CLSID" | "GUID" => "{00000000-0000-0000-0000-000000000000}".to_string(),
            _ => "1234".to_string(),
        });
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// Reads `DIR/yml/**/*.yml`.
pub fn read_commands(dir: &Path) -> anyhow::Result<Vec<Command>> {
    let mut files = Vec::new();
    collect_yml(&dir.join("yml"), &mut files);
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "no LOLBAS entries under {}",
        dir.join("yml").display()
    );
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let doc: yaml_serde::Value =
            yaml_serde::from_str(&text).with_context(|| format!("{}: not YAML", file.display()))?;
        let name = doc
            .get("Name")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        let image = doc
            .get("Full_Path")
            .and_then(|p| p.as_sequence())
            .and_then(|p| p.first())
            .and_then(|p| p.get("Path"))
            .and_then(|p| p.as_str())
            .filter(|p| p.contains('\\'))
            .map(str::to_string)
            .unwrap_or_else(|| format!(r"C:\Windows\System32\{name}"));
        for command in doc
            .get("Commands")
            .and_then(|c| c.as_sequence())
            .into_iter()
            .flatten()
        {
            let Some(line) = command.get("Command").and_then(|c| c.as_str()) else {
                continue;
            };
            out.push(Command {
                entry: name.clone(),
                category: command
                    .get("Category")
                    .and_then(|c| c.as_str())
                    .unwrap_or("Other")
                    .to_string(),
                image: image.clone(),
                command_line: fill(line),
            });
        }
    }
    Ok(out)
}

fn collect_yml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml") {
            out.push(path);
        }
    }
}

/// The Sysmon process-creation event of `command`, started from cmd.exe.
pub fn event(command: &Command) -> FlatEvent {
    let mut e = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
    e.push("Image", &command.image);
    e.push("OriginalFileName", &command.entry);
    e.push("CommandLine", &command.command_line);
    e.push("CurrentDirectory", r"C:\Users\alice\");
    e.push("User", r"CORP\alice");
    e.push("IntegrityLevel", "Medium");
    e.push("ParentImage", r"C:\Windows\System32\cmd.exe");
    e.push("ParentCommandLine", r#""C:\Windows\system32\cmd.exe""#);
    e
}

/// Options of the command.
pub struct Options {
    pub rules: Vec<PathBuf>,
    pub json: bool,
    pub show: usize,
    pub min_detected: Option<f64>,
}

/// Runs the evaluation and prints the figures.
pub fn run(dir: &Path, options: &Options) -> anyhow::Result<ExitCode> {
    let commands = read_commands(dir)?;
    let mut set = RuleSet::default();
    set.add_builtin();
    for d in &options.rules {
        set.load_dir(d);
    }
    let rules = set.compile();
    let mut by_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut total, mut detected, mut shown) = (0usize, 0usize, 0usize);
    for command in &commands {
        let hit = !rules.matches(&event(command)).is_empty();
        let tally = by_category.entry(command.category.clone()).or_default();
        tally.0 += 1;
        tally.1 += usize::from(hit);
        total += 1;
        detected += usize::from(hit);
        if !hit && shown < options.show {
            shown += 1;
            println!("MISSED [{}] {}", command.category, command.command_line);
        }
    }
    let percent = |d: usize, t: usize| {
        if t == 0 {
            100.0
        } else {
            100.0 * d as f64 / t as f64
        }
    };
    println!(
        "LOLBAS commands detected ({} rules: built-in{}):",
        rules.rules().len(),
        if options.rules.is_empty() {
            ""
        } else {
            " and the folders given"
        }
    );
    for (category, (t, d)) in &by_category {
        println!("  {category:<18} {d:>4}/{t:<4} {:>6.1} %", percent(*d, *t));
    }
    println!(
        "  {:<18} {detected:>4}/{total:<4} {:>6.1} %",
        "all",
        percent(detected, total)
    );
    let failed = options
        .min_detected
        .is_some_and(|min| percent(detected, total) < min);
    if failed {
        println!(
            "FAIL: {:.1} % detected, below {} %",
            percent(detected, total),
            options.min_detected.unwrap_or_default()
        );
    }
    if options.json {
        let categories: serde_json::Map<String, serde_json::Value> = by_category
            .iter()
            .map(|(k, (t, d))| (k.clone(), json!({"total": t, "detected": d})))
            .collect();
        println!(
            "{}",
            json!({"total": total, "detected": detected, "by_category": categories})
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
