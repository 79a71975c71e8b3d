//! `watchpost hunt`: run Sigma rules over log files (EVTX, JSON lines, auditd, syslog), in
//! parallel over files, and print a timeline of matches with a summary.
//!
//! Correlation rules need events in time order, and files are read in parallel, so each
//! worker keeps the small correlation input of the events that match a correlated rule;
//! once every file is read they are sorted by time and correlated in one pass.

use crate::rules_cmd;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use watchpost_sigma::{CompiledRuleSet, CorrelationInput, CorrelationState, Level};

#[derive(Args)]
pub struct HuntArgs {
    /// Files or folders (searched recursively) of logs: EVTX, JSON lines, Linux audit
    /// logs, syslog. The format of each file is recognised from its content.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Folders of Sigma rules (recursive).
    #[arg(long = "rules", required = true)]
    pub rules: Vec<PathBuf>,
    /// Files read at once; default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Only matches at or after this time (RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only matches before this time (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Only rules at or above this level.
    #[arg(long)]
    pub min_level: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write matches to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Values for an `expand` placeholder: `NAME=VALUE,VALUE` (repeatable).
    #[arg(long = "placeholder", value_name = "NAME=VALUES")]
    pub placeholders: Vec<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
}

/// One match in the timeline.
#[derive(serde::Serialize)]
pub(crate) struct Row {
    timestamp: Option<DateTime<Utc>>,
    pub rule_id: String,
    rule_title: String,
    level: Level,
    tags: Vec<String>,
    pub file: String,
    pub record_id: u64,
    computer: Option<String>,
    fields: BTreeMap<String, String>,
}

#[derive(Default)]
pub(crate) struct Totals {
    files: usize,
    pub records: u64,
    skipped: u64,
    problems: Vec<String>,
}

pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    let parse_time = |t: &Option<String>, name: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        t.as_deref()
            .map(|t| {
                watchpost_core::time::parse_timestamp(t)
                    .ok_or_else(|| anyhow::anyhow!("--{name} `{t}` is not a time"))
            })
            .transpose()
    };
    let (from, to) = (parse_time(&args.from, "from")?, parse_time(&args.to, "to")?);
    let min_level: Option<Level> = args.min_level.as_deref().map(str::parse).transpose()?;

    let started = Instant::now();
    let placeholders = rules_cmd::parse_placeholders(&args.placeholders)?;
    let rules = rules_cmd::load(&args.rules, &placeholders);
    for e in rules.errors() {
        tracing::debug!(error = %e, "rule not loaded");
    }
    let compiled_in = started.elapsed().as_secs_f64();
    eprintln!(
        "{} rules and {} correlations loaded from {} files in {compiled_in:.2} s ({} not loaded: `watchpost rules check` lists why)",
        rules.rules().len(),
        rules.correlation_rules().count(),
        rules.files(),
        rules.errors().len()
    );
    let hunt_started = Instant::now();
    let cpu_started = process_cpu_seconds();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let filter = Filter {
        from,
        to,
        min_level,
    };
    let (rows, totals) = hunt_paths(&rules, &args.paths, threads, &filter);
    write_rows(&rows, args.format, args.output.as_deref())?;
    summarise(
        &rows,
        &totals,
        hunt_started.elapsed().as_secs_f64(),
        process_cpu_seconds() - cpu_started,
        threads,
    );
    Ok(ExitCode::SUCCESS)
}

/// Which matches to keep.
pub(crate) struct Filter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_level: Option<Level>,
}

/// Hunts every log file under `paths` with `threads` workers (one file each at a time);
/// returns the matches (correlations included) sorted by time, file and record, and what
/// the reads saw. A progress bar is drawn when standard error is a terminal.
pub(crate) fn hunt_paths(
    rules: &CompiledRuleSet,
    paths: &[PathBuf],
    threads: usize,
    filter: &Filter,
) -> (Vec<Row>, Totals) {
    let mut files = Vec::new();
    let mut totals = Totals::default();
    for path in paths {
        if path.is_file() {
            // Named on the command line: read whatever its name.
            files.push(path.clone());
        } else {
            collect_logs(path, &mut files, &mut totals.problems);
        }
    }
    files.sort();
    totals.files = files.len();
    let progress = progress_bar(&files);
    let found = Mutex::new(Found::default());
    let totals = Mutex::new(totals);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let result = hunt_file(rules, file, filter);
                    progress.inc(std::fs::metadata(file).map_or(0, |m| m.len()));
                    let mut t = totals.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok((file_found, stats)) => {
                            t.records += stats.records;
                            t.skipped += stats.skipped;
                            t.problems.extend(
                                stats
                                    .problems
                                    .into_iter()
                                    .map(|p| format!("{}: {p}", file.display())),
                            );
                            let mut all = found.lock().unwrap_or_else(|p| p.into_inner());
                            all.rows.extend(file_found.rows);
                            all.correlated.extend(file_found.correlated);
                            all.untimed += file_found.untimed;
                        }
                        Err(e) => t.problems.push(e.to_string()),
                    }
                }
            });
        }
    });
    progress.finish_and_clear();
    let found = found.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut totals = totals.into_inner().unwrap_or_else(|p| p.into_inner());
    if found.untimed > 0 {
        totals.problems.push(format!(
            "{} events matched a correlated rule but carry no time; they were not correlated",
            found.untimed
        ));
    }
    let mut rows = found.rows;
    rows.extend(correlate(rules, found.correlated, filter));
    rows.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then_with(|| a.file.cmp(&b.file))
            .then(a.record_id.cmp(&b.record_id))
    });
    (rows, totals)
}

/// Bytes of log read, on standard error when it is a terminal (hidden otherwise).
fn progress_bar(files: &[PathBuf]) -> indicatif::ProgressBar {
    let bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(bytes),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} hunting [{bar:40}] {bytes}/{total_bytes} {elapsed} (eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Where an event came from, for reporting a correlation it completed.
#[derive(Clone)]
struct Origin {
    file: Arc<str>,
    record_id: u64,
    computer: Option<String>,
}

/// What the workers find.
#[derive(Default)]
struct Found {
    rows: Vec<Row>,
    /// Events that matched a correlated rule, with where they came from.
    correlated: Vec<(CorrelationInput, Origin)>,
    /// Such events without a time.
    untimed: u64,
}

/// Runs the correlations over the collected inputs in time order.
fn correlate(
    rules: &CompiledRuleSet,
    mut inputs: Vec<(CorrelationInput, Origin)>,
    filter: &Filter,
) -> Vec<Row> {
    if inputs.is_empty() {
        return Vec::new();
    }
    inputs.sort_by(|(a, ao), (b, bo)| {
        a.time_ms
            .cmp(&b.time_ms)
            .then_with(|| ao.file.cmp(&bo.file))
            .then(ao.record_id.cmp(&bo.record_id))
    });
    let mut state = CorrelationState::new(rules);
    let mut hits = Vec::new();
    for (input, origin) in inputs {
        hits.extend(state.observe(rules, &input, origin));
    }
    hits.extend(state.finish(rules));
    hits.into_iter()
        .filter(|h| filter.min_level.is_none_or(|min| h.rule.level >= min))
        .filter_map(|h| {
            let origin = h.evidence.last()?.clone();
            let time = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms);
            let mut fields: BTreeMap<String, String> = h.group.iter().cloned().collect();
            fields.insert("correlation.count".into(), h.count.to_string());
            if let Some(first) = time(h.first_ms) {
                fields.insert(
                    "correlation.first".into(),
                    first.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                );
            }
            Some(Row {
                timestamp: time(h.last_ms),
                rule_id: h.rule.id.clone(),
                rule_title: h.rule.title.clone(),
                level: h.rule.level,
                tags: h.rule.tags.clone(),
                file: origin.file.to_string(),
                record_id: origin.record_id,
                computer: origin.computer,
                fields,
            })
        })
        .collect()
}

/// The log files under a folder (recursively), by [`watchpost_logs::is_log_file`].
fn collect_logs(path: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    if path.is_dir() {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    collect_logs(&entry.path(), out, problems);
                }
            }
            Err(e) => problems.push(format!("{}: cannot read folder: {e}", path.display())),
        }
    } else if path.is_file() {
        if watchpost_logs::is_log_file(path) {
            out.push(path.to_path_buf());
        }
    } else {
        problems.push(format!("{}: no such file or folder", path.display()));
    }
}

fn hunt_file(
    rules: &CompiledRuleSet,
    file: &Path,
    filter: &Filter,
) -> Result<(Found, watchpost_logs::ReadStats), watchpost_logs::LogError> {
    let name: Arc<str> = file.display().to_string().into();
    let mut found = Found::default();
    let each = |record: watchpost_logs::LogRecord| {
        if filter
            .from
            .is_some_and(|f| record.timestamp.is_some_and(|t| t < f))
            || filter
                .to
                .is_some_and(|t2| record.timestamp.is_some_and(|t| t >= t2))
        {
            return;
        }
        let matches = rules.matches(&record.event);
        if matches.is_empty() {
            return;
        }
        for m in matches.iter().filter(|m| m.rule.standalone) {
            if filter.min_level.is_some_and(|min| m.rule.level < min) {
                continue;
            }
            let fields = m
                .rule
                .referenced_fields()
                .iter()
                .filter_map(|f| {
                    record
                        .event
                        .get(f)
                        .map(|(v, _)| (f.to_string(), v.to_string()))
                })
                .collect();
            found.rows.push(Row {
                timestamp: record.timestamp,
                rule_id: m.rule.id.clone(),
                rule_title: m.rule.title.clone(),
                level: m.rule.level,
                tags: m.rule.tags.clone(),
                file: name.to_string(),
                record_id: record.record_id,
                computer: record.computer.clone(),
                fields,
            });
        }
        let Some(time) = record.timestamp else {
            if rules
                .correlation_input(&matches, &record.event, 0)
                .is_some()
            {
                found.untimed += 1;
            }
            return;
        };
        if let Some(input) =
            rules.correlation_input(&matches, &record.event, time.timestamp_millis())
        {
            found.correlated.push((
                input,
                Origin {
                    file: Arc::clone(&name),
                    record_id: record.record_id,
                    computer: record.computer.clone(),
                },
            ));
        }
    };
    let stats = watchpost_logs::read_log(file, each)?;
    Ok((found, stats))
}

fn write_rows(rows: &[Row], format: Format, output: Option<&Path>) -> anyhow::Result<()> {
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let fields_text = |r: &Row| {
        r.fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ¦ ")
    };
    let time_text = |r: &Row| {
        r.timestamp
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    match format {
        Format::Jsonl => {
            for r in rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?,
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "timestamp",
                "rule_id",
                "rule_title",
                "level",
                "tags",
                "file",
                "record_id",
                "computer",
                "fields",
            ])?;
            for r in rows {
                w.write_record([
                    time_text(r),
                    r.rule_id.clone(),
                    r.rule_title.clone(),
                    r.level.to_string(),
                    r.tags.join(";"),
                    r.file.clone(),
                    r.record_id.to_string(),
                    r.computer.clone().unwrap_or_default(),
                    fields_text(r),
                ])?;
            }
            w.flush()?;
            return Ok(());
        }
        Format::Table => {
            for r in rows {
                writeln!(
                    out,
                    "{:<24} {:<8} {:<60} {} #{} {}",
                    time_text(r),
                    r.level.as_str(),
                    truncate(&r.rule_title, 60),
                    r.computer.as_deref().unwrap_or("-"),
                    r.record_id,
                    truncate(&fields_text(r), 160)
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// CPU time the process has used (all threads), in seconds: the measure the speed floor is
/// set in, steadier than wall time on a shared machine.
fn process_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `t`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn summarise(rows: &[Row], totals: &Totals, seconds: f64, cpu_seconds: f64, threads: usize) {
    let mut by_rule: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut by_level: BTreeMap<Level, usize> = BTreeMap::new();
    let mut by_tactic: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        *by_rule.entry((&r.rule_title, &r.rule_id)).or_default() += 1;
        *by_level.entry(r.level).or_default() += 1;
        for t in
            &watchpost_core::AttackTags::from_sigma_tags(r.tags.iter().map(String::as_str)).tactics
        {
            let name = watchpost_core::Tactic::lookup(t).map_or(t.as_str(), |t| t.title);
            *by_tactic.entry(name.to_string()).or_default() += 1;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "\n{} matches by level:", rows.len());
    for (level, n) in by_level.iter().rev() {
        let _ = writeln!(err, "  {:<10} {n}", level.as_str());
    }
    let _ = writeln!(err, "by ATT&CK tactic:");
    for (tactic, n) in &by_tactic {
        let _ = writeln!(err, "  {tactic:<24} {n}");
    }
    let mut top: Vec<_> = by_rule.into_iter().collect();
    top.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    let _ = writeln!(err, "top rules:");
    for ((title, id), n) in top.iter().take(15) {
        let _ = writeln!(err, "  {n:>6}  {title} ({id})");
    }
    for p in &totals.problems {
        let _ = writeln!(err, "warning: {p}");
    }
    let _ = writeln!(
        err,
        "{} events from {} files read and matched in {seconds:.3} s ({cpu_seconds:.3} CPU-s) with {threads} thread(s) ({:.0} events/s, {:.0} events per CPU-second); {} records skipped",
        totals.records,
        totals.files,
        totals.records as f64 / seconds.max(1e-9),
        totals.records as f64 / cpu_seconds.max(1e-9),
        totals.skipped
    );
}
