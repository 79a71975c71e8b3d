//! The shield: everything the web layer decides about one request, in order. A blocked
//! client is refused first; a decoy route is answered by the honeypot; then the request is
//! inspected, the route's exclusions applied, and the route's action (detect or block)
//! taken. Every finding becomes a [`watchpost_core::Detection`] for the store and the
//! alert pipeline.

use crate::behaviour::{Behaviour, BehaviourConfig, BehaviourFinding};
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
    behaviour: Behaviour,
}

impl Shield {
    pub fn new(engine: Engine, policy: Policy, blocklist: Arc<Blocklist>) -> Shield {
        let honeypot = Honeypot::new(&policy.decoys, policy.auto_block_threshold);
        Shield {
            engine,
            policy,
            blocklist,
            honeypot,
            behaviour: Behaviour::default(),
        }
    }

    /// The same shield with its behaviour checks configured.
    pub fn with_behaviour(mut self, config: BehaviourConfig) -> Shield {
        self.behaviour = Behaviour::new(config);
        self
    }

    /// Checks made once the response is known (failed logins, error bursts, denied
    /// administrative requests); a client crossing a threshold on a blocking route is
    /// blocked for the block TTL.
    pub fn after_response(
        &self,
        request: &Request,
        ip: Option<IpAddr>,
        status: u16,
    ) -> Vec<Detection> {
        let findings = self.behaviour.on_response(request, ip, status, now_ms());
        self.behaviour_detections(findings, request, ip)
    }

    fn action_for(&self, path: &str) -> Action {
        self.policy
            .route(path)
            .and_then(|r| r.action)
            .unwrap_or(self.policy.action)
    }

    /// Detections for behaviour findings; abusive clients (floods, brute force, scans)
    /// are blocked where the route blocks.
    fn behaviour_detections(
        &self,
        findings: Vec<BehaviourFinding>,
        request: &Request,
        ip: Option<IpAddr>,
    ) -> Vec<Detection> {
        let action = self.action_for(&request.path);
        findings
            .into_iter()
            .map(|f| {
                let mut d = behaviour_detection(&f, request, ip);
                let abusive = f.rule.starts_with("bruteforce.")
                    || f.rule == "ddos.client_flood"
                    || f.rule == "scan.error_burst";
                if abusive
                    && action == Action::Block
                    && let Some(ip) = ip
                    && self.blocklist.block(
                        ip,
                        Duration::from_secs(self.policy.block_ttl_seconds),
                        f.rule,
                    )
                {
                    d.summary.push_str("; client blocked");
                }
                d
            })
            .collect()
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
            self.behaviour.attacked(ip, now_ms());
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
        let findings = self.behaviour.on_request(request, ip, now_ms());
        // Forgery and privilege grabs concern this very request: refused where the route
        // blocks, like an attack. Floods are answered by blocking the client.
        let refuse_now = findings.iter().any(|f| {
            matches!(
                f.rule,
                "csrf.cross_origin" | "privesc.role_field" | "session.hijack"
            )
        });
        let behaviour = self.behaviour_detections(findings, request, ip);
        let mut verdict = self.engine.inspect(request);
        let route = self.policy.route(&path);
        if let Some(route) = route {
            exclude(&mut verdict, route);
        }
        let action = route.and_then(|r| r.action).unwrap_or(self.policy.action);
        let mut detections = behaviour;
        if verdict.is_attack() {
            self.behaviour.attacked(ip, now_ms());
            detections.push(attack_detection(&verdict, request, ip, &request_id, action));
        }
        let refuse_request = (verdict.is_attack() || refuse_now) && action == Action::Block;
        Outcome {
            decision: if refuse_request {
                refuse(&request_id)
            } else {
                Decision::Pass
            },
            request_id,
            verdict,
            detections,
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
        Category::SessionFixation => "Session fixation",
        Category::JsInjection => "Server-side JavaScript injection",
        Category::PerlInjection => "Perl code injection",
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

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn behaviour_detection(f: &BehaviourFinding, request: &Request, ip: Option<IpAddr>) -> Detection {
    let (title, severity, tags): (&str, Severity, &[&str]) = match f.rule {
        "bruteforce.ip" | "bruteforce.user" => (
            "Brute force on a login route",
            Severity::High,
            &["attack.credential-access", "attack.t1110.001"],
        ),
        "login.after_attack" => (
            "Login from an address that attacked the site",
            Severity::High,
            &["attack.initial-access", "attack.t1078"],
        ),
        "bruteforce.stuffing" => (
            "Credential stuffing",
            Severity::High,
            &["attack.credential-access", "attack.t1110.004"],
        ),
        "ddos.client_flood" | "ddos.surge" => (
            "Request flood",
            Severity::High,
            &["attack.impact", "attack.t1498"],
        ),
        "scan.error_burst" => (
            "Content discovery scan",
            Severity::Medium,
            &["attack.reconnaissance", "attack.t1595.003"],
        ),
        "session.hijack" => (
            "Session used from a new network and browser",
            Severity::High,
            &["attack.credential-access", "attack.t1539"],
        ),
        "privesc.role_field" | "privesc.admin_probe" => (
            "Privilege escalation attempt",
            Severity::High,
            &["attack.privilege-escalation", "attack.t1068"],
        ),
        _ => (
            "Cross-site request forgery",
            Severity::Medium,
            &["attack.initial-access", "attack.t1189"],
        ),
    };
    let mut d = Detection::new(f.rule, title, severity, "web-behaviour");
    d.category = Some("web".into());
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.entity = ip.map(|ip| Entity::Ip { ip: ip.to_string() });
    d.summary = f.summary.clone();
    d.evidence = serde_json::json!({
        "rule": f.rule,
        "key": f.key,
        "count": f.count,
        "method": request.method,
        "path": request.path,
    });
    if let Some(user) = &f.user {
        d.evidence["user"] = serde_json::json!(user);
    }
    d
}
