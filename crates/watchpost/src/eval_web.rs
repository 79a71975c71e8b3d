//! `watchpost eval web FILE.jsonl`: the web inspection engine over a labelled request
//! corpus (the format of `corpus/web/requests.jsonl`): detection per attack category,
//! false positives per benign source, and the time the engine takes per request.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;
use watchpost_web::{Config, Engine, Request};

/// One corpus line.
#[derive(Deserialize)]
struct Case {
    id: String,
    source: String,
    category: String,
    expect: String,
    #[serde(flatten)]
    request: Request,
}

/// Benign requests of this source are near-misses built beside CRS rules: reported apart
/// as hard negatives, not counted as false positives.
const HARD_NEGATIVES: &str = "coreruleset";

#[derive(Default, serde::Serialize, Clone, Copy)]
struct Tally {
    total: u64,
    #[serde(skip)]
    hit: u64,
}

impl Tally {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.hit += u64::from(hit);
    }

    fn percent(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.hit as f64 / self.total as f64
        }
    }

    fn json(&self, word: &str) -> serde_json::Value {
        serde_json::json!({"total": self.total, word: self.hit})
    }
}

/// Floors checked after the run.
pub struct Floors {
    pub min_attack: Option<f64>,
    /// `(None, p)`: the floor of every category in [`FLOOR_CATEGORIES`];
    /// `(Some(name), p)`: one category's, over the former.
    pub min_category: Vec<(Option<String>, f64)>,
    pub max_benign: Option<f64>,
}

impl Floors {
    /// The floor each category is held to; a named floor wins over the bare one. A named
    /// category the corpus lacks counts as 0 % detected, so a misspelt name fails.
    fn categories(&self) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (_, floor) in self.min_category.iter().filter(|(name, _)| name.is_none()) {
            out.extend(FLOOR_CATEGORIES.iter().map(|c| (c.to_string(), *floor)));
        }
        for (name, floor) in &self.min_category {
            if let Some(name) = name {
                out.insert(name.clone(), *floor);
            }
        }
        out
    }
}

/// Categories a bare `--min-category PERCENT` holds to its floor.
const FLOOR_CATEGORIES: &[&str] = &["sqli", "xss", "lfi", "path_traversal", "cmdi"];

/// `98` or `cmdi=95.5`, as `--min-category` takes it.
pub fn parse_category_floor(text: &str) -> Result<(Option<String>, f64), String> {
    let (name, percent) = match text.split_once('=') {
        Some((name, percent)) if !name.trim().is_empty() => {
            (Some(name.trim().to_string()), percent)
        }
        Some(_) => return Err(format!("{text:?}: the category before `=` is empty")),
        None => (None, text),
    };
    let percent: f64 = percent
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: {percent:?} is not a percentage"))?;
    if !(0.0..=100.0).contains(&percent) {
        return Err(format!("{text:?}: {percent} is outside 0 to 100"));
    }
    Ok((name, percent))
}

/// Every case of the corpus, parsed before any is inspected so that reading the file is
/// not timed.
fn read_cases(file: &Path) -> anyhow::Result<Vec<Case>> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?,
    );
    let mut cases = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| anyhow::anyhow!("{}: line {}: {e}", file.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        cases.push(
            serde_json::from_str(&line)
                .map_err(|e| anyhow::anyhow!("{}: line {}: {e}", file.display(), n + 1))?,
        );
    }
    Ok(cases)
}

pub fn run(
    file: &Path,
    paranoia: u8,
    json: bool,
    show: usize,
    floors: &Floors,
) -> anyhow::Result<ExitCode> {
    let config = Config {
        paranoia,
        ..Config::default()
    };
    let cases = read_cases(file)?;
    let mut attack = Tally::default();
    let mut benign = Tally::default();
    let mut hard = Tally::default();
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_source: BTreeMap<String, (Tally, Tally)> = BTreeMap::new();
    let mut missed: Vec<String> = Vec::new();
    let mut flagged: Vec<String> = Vec::new();
    // The first pass decides; it also builds the matchers each detector makes on first use,
    // which a server does once at its first requests.
    let engine = Engine::new(config.clone());
    let started = Instant::now();
    for case in &cases {
        let verdict = engine.inspect(&case.request);
        let hit = verdict.is_attack();
        let source = by_source.entry(case.source.clone()).or_default();
        if case.expect == "attack" {
            attack.add(hit);
            by_category
                .entry(case.category.clone())
                .or_default()
                .add(hit);
            source.0.add(hit);
            if !hit && missed.len() < show {
                missed.push(format!("{} [{}]", case.id, case.category));
            }
        } else {
            source.1.add(hit);
            if case.source == HARD_NEGATIVES {
                hard.add(hit);
            } else {
                benign.add(hit);
                if hit && flagged.len() < show {
                    let rules: Vec<String> = verdict
                        .hits
                        .iter()
                        .map(|f| {
                            format!(
                                "{}@{:?}:{} `{}`",
                                f.hit.rule, f.location, f.name, f.hit.matched
                            )
                        })
                        .collect();
                    flagged.push(format!("{} {}", case.id, rules.join("; ")));
                }
            }
        }
    }
    let first_pass = started.elapsed().as_secs_f64();
    // Speed is measured on a second pass in steady state: the matchers are built, and a new
    // engine starts with nothing remembered, as a server does after its first requests.
    let engine = Engine::new(config);
    let mut latencies: Vec<u32> = Vec::with_capacity(cases.len());
    for case in &cases {
        let t = Instant::now();
        std::hint::black_box(engine.inspect(&case.request));
        latencies.push(t.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32);
    }
    // Throughput of the engine alone: the time spent inspecting, without reading and
    // parsing the corpus.
    let inspecting = latencies.iter().map(|ns| u64::from(*ns)).sum::<u64>() as f64 / 1e9;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |ns| f64::from(*ns) / 1000.0)
    };
    for m in &missed {
        println!("MISSED {m}");
    }
    for f in &flagged {
        println!("FLAGGED {f}");
    }
    println!("{:<20} {:>7} {:>9}", "category", "attacks", "detected");
    for (category, t) in &by_category {
        println!("{category:<20} {:>7} {:>8.2} %", t.total, t.percent());
    }
    println!(
        "{:<20} {:>7} {:>9} {:>7} {:>9}",
        "source", "attacks", "detected", "benign", "flagged"
    );
    for (source, (a, b)) in &by_source {
        println!(
            "{source:<20} {:>7} {:>8.2} % {:>7} {:>8.2} %",
            a.total,
            a.percent(),
            b.total,
            b.percent()
        );
    }
    println!(
        "paranoia {paranoia}: attacks detected {:.2} % ({}/{}); benign flagged {:.2} % ({}/{}, without {HARD_NEGATIVES}); {HARD_NEGATIVES} hard negatives flagged {:.2} % ({}/{})",
        attack.percent(),
        attack.hit,
        attack.total,
        benign.percent(),
        benign.hit,
        benign.total,
        hard.percent(),
        hard.hit,
        hard.total
    );
    println!(
        "engine: {} requests inspected in {inspecting:.2} s ({:.0} requests/s on one core, steady state; the first pass, building the matchers, took {first_pass:.2} s), per request p50 {:.1} µs, p95 {:.1} µs, p99 {:.1} µs",
        latencies.len(),
        latencies.len() as f64 / inspecting.max(1e-9),
        pct(0.50),
        pct(0.95),
        pct(0.99)
    );
    if json {
        let categories: serde_json::Map<String, serde_json::Value> = by_category
            .iter()
            .map(|(k, t)| (k.clone(), t.json("detected")))
            .collect();
        let sources: serde_json::Map<String, serde_json::Value> = by_source
            .iter()
            .map(|(k, (a, b))| {
                (
                    k.clone(),
                    serde_json::json!({"attack": a.json("detected"), "benign": b.json("flagged")}),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "attack": attack.json("detected"),
                "benign": benign.json("flagged"),
                "hard_negatives": hard.json("flagged"),
                "by_category": categories,
                "by_source": sources,
            })
        );
    }
    let mut failed = false;
    if let Some(floor) = floors.min_attack.filter(|f| attack.percent() < *f) {
        eprintln!(
            "FAIL: attacks detected {:.2} % is below {floor} %",
            attack.percent()
        );
        failed = true;
    }
    for (c, floor) in floors.categories() {
        let detected = by_category.get(c.as_str()).map_or(0.0, Tally::percent);
        if detected < floor {
            eprintln!("FAIL: {c} detected {detected:.2} % is below {floor} %");
            failed = true;
        }
    }
    if let Some(ceiling) = floors.max_benign.filter(|m| benign.percent() > *m) {
        eprintln!(
            "FAIL: benign flagged {:.2} % is above {ceiling} %",
            benign.percent()
        );
        failed = true;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_category_floor_wins_over_the_bare_one() {
        let floors = Floors {
            min_attack: None,
            min_category: ["98", "cmdi=95.5", "ssrf=80"]
                .iter()
                .map(|t| parse_category_floor(t).unwrap())
                .collect(),
            max_benign: None,
        };
        let held = floors.categories();
        assert_eq!(held["sqli"], 98.0);
        assert_eq!(held["cmdi"], 95.5);
        assert_eq!(held["ssrf"], 80.0);
        assert_eq!(held.len(), 6);
    }

    #[test]
    fn a_malformed_category_floor_says_what_is_wrong() {
        assert!(
            parse_category_floor("cmdi=x")
                .unwrap_err()
                .contains("not a percentage")
        );
        assert!(parse_category_floor("=9").unwrap_err().contains("empty"));
        assert!(parse_category_floor("140").unwrap_err().contains("outside"));
    }
}
