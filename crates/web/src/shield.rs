//! The shield: everything the web layer decides about one request, in order. A blocked
//! client is refused first; a decoy route is answered by the honeypot; then the request is
//! inspected, the route's exclusions applied, and the route's action (detect or block)
//! taken. Every finding becomes a [`watchpost_core::Detection`] for the store and the
//! alert pipeline.

use crate::blocklist::Blocklist;
use crate::honeypot::{DecoyHit, DecoyResponse, Honeypot};
use crate::{Category, Engine, Request, Verdict};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use watchpost_core::{AttackTags, Detection, Entity, Severity};

/// What to do with a request the engine calls an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Log and pass.
    #[default]
    Detect,
    /// Refuse with the block status.
    Block,
}

/// Findings to ignore on one parameter of a route (`q` on `/search` may hold SQL words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    pub parameter: String,
    /// Categories ignored there (`sqli`); empty: all.
    #[serde(default)]
    pub categories: Vec<String>,
}

/// Settings for the paths under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePolicy {
    pub prefix: String,
    #[serde(default)]
    pub action: Option<Action>,
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
}

/// How the shield acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// The action where no route says otherwise.
    pub action: Action,
    /// Route settings; the longest matching prefix wins.
    pub routes: Vec<RoutePolicy>,
    pub block_status: u16,
    /// The body of a refusal; `{request_id}` is replaced by the request's id.
    pub block_body: String,
    /// Decoy paths (the honeypot); empty to turn it off.
    pub decoys: Vec<String>,
    /// Decoy hits after which a client is blocked (0: never).
    pub auto_block_threshold: u32,
    /// How long a block lasts.
    pub block_ttl_seconds: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            action: Action::Detect,
            routes: Vec::new(),
            block_status: 403,
            block_body: "Request blocked. Reference: {request_id}\n".into(),
            decoys: crate::honeypot::DEFAULT_DECOYS
                .iter()
                .map(|d| d.to_string())
                .collect(),
            auto_block_threshold: 3,
            block_ttl_seconds: 3600,
        }
    }
}

impl Policy {
    fn route(&self, path: &str) -> Option<&RoutePolicy> {
        self.routes
            .iter()
            .filter(|r| path.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len())
    }
}

/// What to do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Pass,
    Block { status: u16, body: String },
    Decoy(DecoyResponse),
}

/// The shield's answer for one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request_id: String,
    pub decision: Decision,
    pub verdict: Verdict,
    pub detections: Vec<Detection>,
}

/// Engine, policy, blocklist and honeypot together; shared by every request.
pub struct Shield {
    engine: Engine,
    policy: Policy,
    blocklist: Arc<Blocklist>,
    honeypot: Honeypot,
}

impl Shield {
    pub fn new(engine: Engine, policy: Policy, blocklist: Arc<Blocklist>) -> Shield {
        let honeypot = Honeypot::new(&policy.decoys, policy.auto_block_threshold);
        Shield {
            engine,
            policy,
            blocklist,
            honeypot,
        }
    }

    pub fn blocklist(&self) -> &Arc<Blocklist> {
        &self.blocklist
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides about `request` from client `ip`.
    pub fn check(&self, request: &Request, ip: Option<IpAddr>) -> Outcome {
        let request_id = uuid::Uuid::now_v7().to_string();
        let refuse = |request_id: &str| Decision::Block {
            status: self.policy.block_status,
            body: self.policy.block_body.replace("{request_id}", request_id),
        };
        if let Some(block) = ip.and_then(|ip| self.blocklist.blocked(ip)) {
            tracing::debug!(?ip, reason = %block.reason, "request from a blocked client");
            return Outcome {
                decision: refuse(&request_id),
                request_id,
                verdict: Verdict::default(),
                detections: Vec::new(),
            };
        }
        let path = crate::decode::url_decode(&request.path, false);
        if let Some(hit) = self.honeypot.visit(&path, ip, &request.headers) {
            let mut detections = vec![decoy_detection(&hit, request, &request_id)];
            if hit.block
                && let Some(ip) = ip
                && self.blocklist.block(
                    ip,
                    Duration::from_secs(self.policy.block_ttl_seconds),
                    &format!("{} decoy hits", hit.hits),
                )
            {
                detections[0].summary.push_str("; client blocked");
            }
            return Outcome {
                decision: Decision::Decoy(hit.response),
                request_id,
                verdict: Verdict::default(),
                detections,
            };
        }
        let mut verdict = self.engine.inspect(request);
        let route = self.policy.route(&path);
        if let Some(route) = route {
            exclude(&mut verdict, route);
        }
        if !verdict.is_attack() {
            return Outcome {
                decision: Decision::Pass,
                request_id,
                verdict,
                detections: Vec::new(),
            };
        }
        let action = route.and_then(|r| r.action).unwrap_or(self.policy.action);
        let detection = attack_detection(&verdict, request, ip, &request_id, action);
        Outcome {
            decision: match action {
                Action::Block => refuse(&request_id),
                Action::Detect => Decision::Pass,
            },
            request_id,
            verdict,
            detections: vec![detection],
        }
    }
}

/// Drops the findings a route's exclusions cover and recomputes the score.
fn exclude(verdict: &mut Verdict, route: &RoutePolicy) {
    if route.exclusions.is_empty() {
        return;
    }
    verdict.hits.retain(|f| {
        !route.exclusions.iter().any(|e| {
            e.parameter == f.name
                && (e.categories.is_empty()
                    || e.categories.iter().any(|c| c == f.hit.category.as_str()))
        })
    });
    let mut seen: Vec<&str> = Vec::new();
    verdict.score = 0;
    for f in &verdict.hits {
        if !seen.contains(&f.hit.rule) {
            seen.push(f.hit.rule);
            verdict.score += u32::from(f.hit.score);
        }
    }
}

fn category_title(c: Category) -> &'static str {
    match c {
        Category::Sqli => "SQL injection",
        Category::Xss => "Cross-site scripting",
        Category::PathTraversal => "Path traversal",
        Category::Lfi => "Local file inclusion",
        Category::Rfi => "Remote file inclusion",
        Category::Cmdi => "Command injection",
        Category::Ldapi => "LDAP injection",
        Category::Xxe => "XML external entity",
        Category::Ssrf => "Server-side request forgery",
        Category::Ssti => "Server-side template injection",
        Category::JavaInjection => "Java/JNDI injection",
        Category::PhpInjection => "PHP injection",
        Category::Nosqli => "NoSQL injection",
        Category::Crlf => "CRLF injection",
        Category::MailInjection => "Mail header injection",
        Category::Ssi => "Server-side include injection",
        Category::FileUpload => "Script upload",
        Category::Scanner => "Vulnerability scanner",
        Category::Protocol => "Protocol anomaly",
    }
}

fn attack_detection(
    verdict: &Verdict,
    request: &Request,
    ip: Option<IpAddr>,
    request_id: &str,
    action: Action,
) -> Detection {
    // The strongest finding names the detection; all of them are in the evidence.
    let top = verdict
        .hits
        .iter()
        .max_by_key(|f| f.hit.score)
        .expect("an attack has findings");
    let title = format!("Web attack: {}", category_title(top.hit.category));
    let severity = if action == Action::Block || verdict.score >= 10 {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut d = Detection::new(top.hit.rule, &title, severity, "web");
    d.category = Some("web".into());
    d.attack = tags(top.hit.category);
    d.entity = ip.map(|ip| Entity::Ip { ip: ip.to_string() });
    d.summary = format!(
        "{title} in {} `{}` of {} {}{}",
        serde_json::to_value(top.location)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        top.name,
        request.method,
        request.path,
        if action == Action::Block {
            " (blocked)"
        } else {
            ""
        }
    );
    d.evidence = serde_json::json!({
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "score": verdict.score,
        "threshold": verdict.threshold,
        "action": action,
        "findings": verdict.hits.iter().map(|f| serde_json::json!({
            "rule": f.hit.rule,
            "category": f.hit.category,
            "cwe": format!("CWE-{}", f.hit.category.cwe()),
            "location": f.location,
            "parameter": f.name,
            "matched": f.hit.matched,
            "score": f.hit.score,
        })).collect::<Vec<_>>(),
        "exceeded": verdict.exceeded,
    });
    d
}

fn decoy_detection(hit: &DecoyHit, request: &Request, request_id: &str) -> Detection {
    let mut d = Detection::new(
        "web.honeypot",
        "Decoy route requested",
        Severity::High,
        "web-honeypot",
    );
    d.category = Some("web".into());
    d.attack = AttackTags::from_sigma_tags(["attack.reconnaissance", "attack.t1595.003"]);
    d.entity = hit
        .fingerprint
        .ip
        .map(|ip| Entity::Ip { ip: ip.to_string() });
    d.summary = format!(
        "{} {} (hit {} from this client)",
        request.method, hit.path, hit.hits
    );
    d.evidence = serde_json::json!({
        "request_id": request_id,
        "decoy": hit.path,
        "path": request.path,
        "fingerprint": hit.fingerprint,
        "hits": hit.hits,
    });
    d
}

fn tags(category: Category) -> AttackTags {
    match category {
        Category::Scanner => {
            AttackTags::from_sigma_tags(["attack.reconnaissance", "attack.t1595.002"])
        }
        _ => AttackTags::from_sigma_tags(["attack.initial-access", "attack.t1190"]),
    }
}
