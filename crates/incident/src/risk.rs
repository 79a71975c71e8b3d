//! The risk score of an incident: a sum of terms, each shown with its points and why, so
//! an analyst can see what raised it (`docs/incidents.md` has the formula).
//!
//! | term | points |
//! | --- | --- |
//! | severity | the highest alert: info 0, low 5, medium 15, high 25, critical 35 |
//! | detectors | independent detectors agreeing: one 0, two 8, three or more 15 |
//! | kill chain | how far along ATT&CK's tactics the furthest step is: 0 to 20 |
//! | techniques | 2 per distinct ATT&CK technique, at most 10 |
//! | asset | 10 when a host it touches is listed as critical |
//! | reputation | 10 when an address it names is known bad (a decision in force) |
//!
//! The total is capped at 100.

use std::collections::BTreeSet;
use watchpost_core::attack::TACTICS;
use watchpost_core::{Incident, Risk, RiskTerm, Severity};

/// What the score needs beyond the incident.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// Hosts whose compromise matters most (configuration).
    pub critical_hosts: &'a [String],
    /// Addresses known to be bad (with a ban in force, say).
    pub known_bad: &'a [String],
}

pub fn score(incident: &Incident, context: Context<'_>) -> Risk {
    let mut terms = Vec::new();
    let top = incident
        .chain
        .iter()
        .map(|s| s.severity)
        .max()
        .unwrap_or(incident.severity);
    let severity_points = match top {
        Severity::Info => 0,
        Severity::Low => 5,
        Severity::Medium => 15,
        Severity::High => 25,
        Severity::Critical => 35,
    };
    terms.push(term(
        "severity",
        severity_points,
        format!("highest alert is {top}"),
    ));

    let detectors: BTreeSet<&str> = incident.chain.iter().map(|s| s.detector.as_str()).collect();
    let detector_points = match detectors.len() {
        0 | 1 => 0,
        2 => 8,
        _ => 15,
    };
    terms.push(term(
        "detectors",
        detector_points,
        format!(
            "{} independent detector(s): {}",
            detectors.len(),
            detectors.iter().copied().collect::<Vec<_>>().join(", ")
        ),
    ));

    let furthest = incident
        .chain
        .iter()
        .filter_map(|s| s.tactic.as_deref())
        .filter_map(|id| TACTICS.iter().position(|t| t.id == id))
        .max();
    let (chain_points, chain_why) = match furthest {
        Some(i) => (
            (20 * i / (TACTICS.len() - 1)) as u32,
            format!(
                "reached {} (tactic {} of {})",
                TACTICS[i].title,
                i + 1,
                TACTICS.len()
            ),
        ),
        None => (0, "no ATT&CK tactic known".to_string()),
    };
    terms.push(term("kill_chain", chain_points, chain_why));

    let techniques: BTreeSet<&str> = incident
        .chain
        .iter()
        .flat_map(|s| s.techniques.iter().map(String::as_str))
        .collect();
    terms.push(term(
        "techniques",
        (2 * techniques.len()).min(10) as u32,
        format!("{} distinct technique(s)", techniques.len()),
    ));

    let critical: Vec<&String> = context
        .critical_hosts
        .iter()
        .filter(|h| {
            let key = format!("host:{h}");
            incident.entities.contains(&key) || incident.sites.contains(&key)
        })
        .collect();
    terms.push(match critical.first() {
        Some(host) => term("asset", 10, format!("{host} is a critical host")),
        None => term("asset", 0, "no critical host involved".to_string()),
    });

    let bad: Vec<&String> = context
        .known_bad
        .iter()
        .filter(|ip| incident.entities.contains(&format!("ip:{ip}")))
        .collect();
    terms.push(match bad.first() {
        Some(ip) => term("reputation", 10, format!("{ip} is known bad")),
        None => term(
            "reputation",
            0,
            "no address with a known bad reputation".to_string(),
        ),
    });

    let score = terms.iter().map(|t| t.points).sum::<u32>().min(100);
    Risk { score, terms }
}

fn term(name: &str, points: u32, why: String) -> RiskTerm {
    RiskTerm {
        name: name.to_string(),
        points,
        why,
    }
}
