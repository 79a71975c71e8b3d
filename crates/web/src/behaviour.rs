//! Behaviour over many requests, per client address, session and user: brute force and
//! credential stuffing on login routes, floods against a learned baseline, error bursts
//! from scanners, session ids that change hands, privilege escalation attempts, and
//! cross-site request forgery.
//!
//! Everything is counted in sliding windows held in bounded maps: each map keeps at most
//! [`MAX_KEYS`] keys, and windows older than their span are dropped as time moves on.
//! Time is passed in (milliseconds), so that tests replay sequences deterministically.

use crate::Request;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

/// Keys (addresses, sessions, users) tracked per map.
pub const MAX_KEYS: usize = 100_000;

/// What the behaviour checks look for. Every threshold counts within its window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BehaviourConfig {
    /// Login routes: a request whose path starts with one of these and whose response is
    /// a failure status is a failed login.
    pub login_paths: Vec<String>,
    /// Response statuses that mean a failed login.
    pub login_failure_statuses: Vec<u16>,
    /// Form or JSON fields naming the user in a login request.
    pub user_fields: Vec<String>,
    pub login_window_seconds: u64,
    /// Failed logins from one address.
    pub failures_per_ip: u32,
    /// Failed logins for one user.
    pub failures_per_user: u32,
    /// Distinct users tried from one address (credential stuffing).
    pub users_per_ip: u32,
    /// Requests from one address in the flood window.
    pub flood_per_ip: u32,
    pub flood_window_seconds: u64,
    /// All requests in the flood window, as a multiple of the learned baseline.
    pub surge_factor: f64,
    /// …and at least this many (a quiet site doubling is not an attack).
    pub surge_minimum: u32,
    /// 404/403 responses to one address in the scan window.
    pub errors_per_ip: u32,
    pub scan_window_seconds: u64,
    /// The cookie holding the session id.
    pub session_cookie: String,
    /// Path prefixes only administrators use.
    pub admin_paths: Vec<String>,
    /// Denied (401/403) admin requests from one address or session.
    pub admin_denials: u32,
    /// Origins allowed to send state-changing requests; empty: the request's own `Host`.
    pub allowed_origins: Vec<String>,
    /// Headers and fields that carry an anti-CSRF token.
    pub csrf_tokens: Vec<String>,
    /// Check state-changing requests for CSRF.
    pub csrf: bool,
}

impl Default for BehaviourConfig {
    fn default() -> Self {
        BehaviourConfig {
            login_paths: vec![
                "/login".into(),
                "/signin".into(),
                "/api/login".into(),
                "/auth".into(),
            ],
            login_failure_statuses: vec![401, 403],
            user_fields: vec![
                "username".into(),
                "user".into(),
                "email".into(),
                "login".into(),
                "log".into(),
            ],
            login_window_seconds: 300,
            failures_per_ip: 10,
            failures_per_user: 5,
            users_per_ip: 10,
            flood_per_ip: 300,
            flood_window_seconds: 10,
            surge_factor: 5.0,
            surge_minimum: 2000,
            errors_per_ip: 30,
            scan_window_seconds: 60,
            session_cookie: "session".into(),
            admin_paths: vec!["/admin".into(), "/api/admin".into(), "/manage".into()],
            admin_denials: 3,
            allowed_origins: Vec::new(),
            csrf_tokens: vec![
                "x-csrf-token".into(),
                "x-xsrf-token".into(),
                "csrf_token".into(),
                "csrfmiddlewaretoken".into(),
                "_csrf".into(),
                "authenticity_token".into(),
                "__requestverificationtoken".into(),
            ],
            csrf: true,
        }
    }
}

/// A behaviour that crossed its threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BehaviourFinding {
    /// `bruteforce.ip`, `bruteforce.user`, `bruteforce.stuffing`, `ddos.client_flood`,
    /// `ddos.surge`, `scan.error_burst`, `session.hijack`, `privesc.role_field`,
    /// `privesc.admin_probe`, `csrf.cross_origin`.
    pub rule: &'static str,
    pub summary: String,
    /// The address, session or user concerned.
    pub key: String,
    pub count: u64,
    /// The application account the request logged in as, when the finding is about it
    /// (a login that succeeded for an attacker).
    pub user: Option<String>,
}

/// Event times in a sliding window, capped at what the threshold needs.
#[derive(Debug, Default)]
struct Window {
    times: VecDeque<u64>,
    /// Set once the threshold fired, so that a burst is reported once per window.
    fired_at: Option<u64>,
}

impl Window {
    /// Adds an event at `now`; true when the count reaches `threshold` (once per window).
    fn add(&mut self, now: u64, span: u64, threshold: u32) -> bool {
        self.times.push_back(now);
        while self.times.front().is_some_and(|t| *t + span < now) {
            self.times.pop_front();
        }
        while self.times.len() > threshold as usize {
            self.times.pop_front();
        }
        if self.fired_at.is_some_and(|f| f + span < now) {
            self.fired_at = None;
        }
        if self.times.len() >= threshold as usize && self.fired_at.is_none() {
            self.fired_at = Some(now);
            return true;
        }
        false
    }

    fn last(&self) -> u64 {
        self.times.back().copied().unwrap_or(0)
    }
}

/// A map of windows with a bound on its keys.
#[derive(Debug, Default)]
struct Windows(HashMap<String, Window>);

impl Windows {
    fn add(&mut self, key: &str, now: u64, span: u64, threshold: u32) -> Option<u64> {
        if !self.0.contains_key(key) && self.0.len() >= MAX_KEYS {
            self.0.retain(|_, w| w.last() + span >= now);
            if self.0.len() >= MAX_KEYS {
                self.0.clear();
            }
        }
        let w = self.0.entry(key.to_string()).or_default();
        let fired = w.add(now, span, threshold.max(1));
        fired.then_some(w.times.len() as u64)
    }
}

/// Where a session was first seen from.
#[derive(Debug, Clone)]
struct SessionOrigin {
    prefix: String,
    user_agent: String,
    reported: bool,
}

#[derive(Debug, Default)]
struct State {
    login_ip: Windows,
    login_user: Windows,
    /// Address → users tried, with the time of the last try.
    users_by_ip: HashMap<String, (HashSet<String>, u64)>,
    flood: Windows,
    errors: Windows,
    admin: Windows,
    sessions: HashMap<String, SessionOrigin>,
    /// Address → when it last attacked (an attack detection or a decoy hit), so that a
    /// login it then gets through is noticed.
    attacked: HashMap<String, u64>,
    /// Requests in the current flood window, the window's start, and the learned
    /// baseline (requests per window).
    global_count: u64,
    global_start: u64,
    baseline: Option<f64>,
    surge_reported: bool,
}

/// The behaviour tracker, shared by every request.
#[derive(Debug, Default)]
pub struct Behaviour {
    config: BehaviourConfig,
    state: Mutex<State>,
}

impl Behaviour {
    pub fn new(config: BehaviourConfig) -> Behaviour {
        Behaviour {
            config,
            state: Mutex::new(State::default()),
        }
    }

    pub fn config(&self) -> &BehaviourConfig {
        &self.config
    }

    /// The largest number of keys any one of the tracker's maps holds now.
    pub fn largest_map(&self) -> usize {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        [
            s.login_ip.0.len(),
            s.login_user.0.len(),
            s.users_by_ip.len(),
            s.flood.0.len(),
            s.errors.0.len(),
            s.admin.0.len(),
            s.sessions.len(),
            s.attacked.len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// Remembers that `ip` attacked at `now_ms` (for [`Behaviour::on_response`]'s check of
    /// a login that follows).
    pub fn attacked(&self, ip: Option<IpAddr>, now_ms: u64) {
        let Some(ip) = ip else { return };
        let span = self.config.login_window_seconds * 1000;
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let key = ip.to_string();
        if !s.attacked.contains_key(&key) && s.attacked.len() >= MAX_KEYS {
            s.attacked.retain(|_, at| *at + span >= now_ms);
            if s.attacked.len() >= MAX_KEYS {
                s.attacked.clear();
            }
        }
        s.attacked.insert(key, now_ms);
    }

    /// Checks made when a request arrives: floods, session reuse, role fields, CSRF.
    pub fn on_request(
        &self,
        request: &Request,
        ip: Option<IpAddr>,
        now_ms: u64,
    ) -> Vec<BehaviourFinding> {
        let c = &self.config;
        let mut out = Vec::new();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let flood_span = c.flood_window_seconds * 1000;
        if let Some(ip) = ip
            && let Some(n) = s
                .flood
                .add(&ip.to_string(), now_ms, flood_span, c.flood_per_ip)
        {
            out.push(finding(
                "ddos.client_flood",
                ip.to_string(),
                n,
                format!("{n} requests from {ip} within {} s", c.flood_window_seconds),
            ));
        }
        // Global rate against a baseline learned window by window (an exponentially
        // weighted mean, which a surge itself only slowly raises).
        if now_ms >= s.global_start + flood_span {
            let finished = s.global_count as f64;
            s.baseline = Some(match s.baseline {
                None => finished,
                Some(b) => 0.9 * b + 0.1 * finished,
            });
            s.global_start = now_ms;
            s.global_count = 0;
            s.surge_reported = false;
        }
        s.global_count += 1;
        if let Some(baseline) = s.baseline
            && !s.surge_reported
            && s.global_count >= u64::from(c.surge_minimum)
            && s.global_count as f64 >= c.surge_factor * baseline.max(1.0)
        {
            s.surge_reported = true;
            out.push(finding(
                "ddos.surge",
                "all clients".into(),
                s.global_count,
                format!(
                    "{} requests within {} s against a baseline of {baseline:.0}",
                    s.global_count, c.flood_window_seconds
                ),
            ));
        }
        if let Some(session) = cookie(request, &c.session_cookie) {
            let prefix = ip.map(network_prefix).unwrap_or_default();
            let agent = request.header("user-agent").unwrap_or_default().to_string();
            if !s.sessions.contains_key(session) && s.sessions.len() >= MAX_KEYS {
                s.sessions.clear();
            }
            let origin = s
                .sessions
                .entry(session.to_string())
                .or_insert(SessionOrigin {
                    prefix: prefix.clone(),
                    user_agent: agent.clone(),
                    reported: false,
                });
            if !origin.reported
                && !prefix.is_empty()
                && origin.prefix != prefix
                && origin.user_agent != agent
            {
                origin.reported = true;
                out.push(finding(
                    "session.hijack",
                    short(session),
                    2,
                    format!(
                        "session first used from {} ({}) now used from {prefix} ({agent})",
                        origin.prefix, origin.user_agent
                    ),
                ));
            }
        }
        drop(s);
        if let Some(field) = role_field(request) {
            out.push(finding(
                "privesc.role_field",
                ip.map(|i| i.to_string()).unwrap_or_default(),
                1,
                format!("the request sets `{field}` to an administrative value"),
            ));
        }
        if c.csrf
            && let Some(problem) = self.csrf_problem(request)
        {
            out.push(finding(
                "csrf.cross_origin",
                ip.map(|i| i.to_string()).unwrap_or_default(),
                1,
                problem,
            ));
        }
        out
    }

    /// Checks made once the response status is known: failed logins, error bursts,
    /// denied administrative requests.
    pub fn on_response(
        &self,
        request: &Request,
        ip: Option<IpAddr>,
        status: u16,
        now_ms: u64,
    ) -> Vec<BehaviourFinding> {
        let c = &self.config;
        let mut out = Vec::new();
        let path = request.path.as_str();
        let ip_key = ip.map(|i| i.to_string()).unwrap_or_default();
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let login_span = c.login_window_seconds * 1000;
        let is_login = c.login_paths.iter().any(|p| path.starts_with(p.as_str()));
        // A login that succeeds from an address that attacked the site within the window:
        // the probing found a way in, or stolen credentials are being used.
        if is_login
            && (200..400).contains(&status)
            && !c.login_failure_statuses.contains(&status)
            && let Some(at) = s.attacked.get(&ip_key)
            && *at + login_span >= now_ms
        {
            let user = login_user(request, &c.user_fields);
            out.push(BehaviourFinding {
                user: user.clone(),
                ..finding(
                    "login.after_attack",
                    ip_key.clone(),
                    1,
                    format!(
                        "a login{} succeeded from {ip_key}, which attacked the site within the last {} s",
                        user.map(|u| format!(" as `{u}`")).unwrap_or_default(),
                        c.login_window_seconds
                    ),
                )
            });
            s.attacked.remove(&ip_key);
        }
        if is_login && c.login_failure_statuses.contains(&status) {
            if let Some(n) = s
                .login_ip
                .add(&ip_key, now_ms, login_span, c.failures_per_ip)
            {
                out.push(finding(
                    "bruteforce.ip",
                    ip_key.clone(),
                    n,
                    format!(
                        "{n} failed logins from {ip_key} within {} s",
                        c.login_window_seconds
                    ),
                ));
            }
            if let Some(user) = login_user(request, &c.user_fields) {
                if let Some(n) = s
                    .login_user
                    .add(&user, now_ms, login_span, c.failures_per_user)
                {
                    out.push(finding(
                        "bruteforce.user",
                        user.clone(),
                        n,
                        format!(
                            "{n} failed logins for `{user}` within {} s",
                            c.login_window_seconds
                        ),
                    ));
                }
                if !s.users_by_ip.contains_key(&ip_key) && s.users_by_ip.len() >= MAX_KEYS {
                    s.users_by_ip
                        .retain(|_, (_, last)| *last + login_span >= now_ms);
                    if s.users_by_ip.len() >= MAX_KEYS {
                        s.users_by_ip.clear();
                    }
                }
                let (users, last) = s.users_by_ip.entry(ip_key.clone()).or_default();
                if *last + login_span < now_ms {
                    users.clear();
                }
                *last = now_ms;
                // Bounded: past the threshold the set stops growing.
                if users.len() < c.users_per_ip as usize {
                    users.insert(user);
                    if users.len() == c.users_per_ip as usize {
                        out.push(finding(
                            "bruteforce.stuffing",
                            ip_key.clone(),
                            users.len() as u64,
                            format!(
                                "{} different users tried from {ip_key} within {} s",
                                users.len(),
                                c.login_window_seconds
                            ),
                        ));
                    }
                }
            }
        }
        if matches!(status, 403 | 404)
            && let Some(n) = s.errors.add(
                &ip_key,
                now_ms,
                c.scan_window_seconds * 1000,
                c.errors_per_ip,
            )
        {
            out.push(finding(
                "scan.error_burst",
                ip_key.clone(),
                n,
                format!(
                    "{n} not-found or forbidden responses to {ip_key} within {} s",
                    c.scan_window_seconds
                ),
            ));
        }
        let is_admin = c.admin_paths.iter().any(|p| path.starts_with(p.as_str()));
        if is_admin && matches!(status, 401 | 403) {
            let key = cookie(request, &c.session_cookie)
                .map(short)
                .unwrap_or(ip_key);
            if let Some(n) =
                s.admin
                    .add(&key, now_ms, c.scan_window_seconds * 1000, c.admin_denials)
            {
                out.push(finding(
                    "privesc.admin_probe",
                    key.clone(),
                    n,
                    format!("{n} administrative requests denied to {key}"),
                ));
            }
        }
        out
    }

    /// Why a state-changing request looks forged: it carries cookies (so the browser
    /// authenticates it), no anti-CSRF token, and an Origin or Referer from elsewhere or
    /// none at all.
    fn csrf_problem(&self, request: &Request) -> Option<String> {
        if !matches!(
            request.method.to_ascii_uppercase().as_str(),
            "POST" | "PUT" | "PATCH" | "DELETE"
        ) {
            return None;
        }
        request.header("cookie")?;
        let tokens = &self.config.csrf_tokens;
        let has_token = request
            .headers
            .iter()
            .any(|(n, _)| tokens.iter().any(|t| t.eq_ignore_ascii_case(n)))
            || tokens.iter().any(|t| {
                request.body.contains(&format!("{t}="))
                    || request.body.contains(&format!("\"{t}\""))
            });
        if has_token {
            return None;
        }
        let host = request.header("host").unwrap_or_default();
        let allowed = |origin: &str| {
            let origin_host = origin
                .split("://")
                .nth(1)
                .unwrap_or(origin)
                .split('/')
                .next()
                .unwrap_or_default();
            if self.config.allowed_origins.is_empty() {
                !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
            } else {
                self.config.allowed_origins.iter().any(|a| {
                    a.trim_end_matches('/')
                        .eq_ignore_ascii_case(origin.trim_end_matches('/'))
                        || a.split("://")
                            .nth(1)
                            .is_some_and(|h| h.eq_ignore_ascii_case(origin_host))
                })
            }
        };
        match (request.header("origin"), request.header("referer")) {
            (Some(origin), _) if origin != "null" => (!allowed(origin))
                .then(|| format!("{} from origin {origin} without a token", request.method)),
            (_, Some(referer)) => (!allowed(referer))
                .then(|| format!("{} from {referer} without a token", request.method)),
            _ => Some(format!(
                "{} with cookies, no Origin, no Referer and no token",
                request.method
            )),
        }
    }
}

fn finding(rule: &'static str, key: String, count: u64, summary: String) -> BehaviourFinding {
    BehaviourFinding {
        rule,
        summary,
        key,
        count,
        user: None,
    }
}

/// A session id shortened for reports (the id itself is a credential).
fn short(session: &str) -> String {
    let head: String = session.chars().take(8).collect();
    format!("session {head}…")
}

/// The /24 of an IPv4 address or the /48 of an IPv6 one: where a client is, allowing for
/// address changes inside one network.
fn network_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .header("cookie")?
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The user a login request names, from a form or JSON body.
fn login_user(request: &Request, fields: &[String]) -> Option<String> {
    let body = request.body.trim_start();
    if body.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        return fields
            .iter()
            .find_map(|f| value.get(f.as_str()).and_then(|v| v.as_str()))
            .map(|u| u.chars().take(128).collect::<String>().to_lowercase());
    }
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| fields.iter().any(|f| f == n))
        .map(|(_, v)| {
            crate::decode::url_decode(v, true)
                .chars()
                .take(128)
                .collect::<String>()
                .to_lowercase()
        })
}

/// A body field that grants privileges (`role=admin`, `"is_admin": true`): mass
/// assignment of a field the application should set itself.
fn role_field(request: &Request) -> Option<String> {
    const FIELDS: &[&str] = &[
        "role",
        "roles",
        "is_admin",
        "isadmin",
        "admin",
        "is_superuser",
        "superuser",
        "is_staff",
        "user_type",
        "usertype",
        "account_type",
        "privilege",
        "privileges",
        "permissions",
        "group",
        "groups",
        "access_level",
        "level",
    ];
    const VALUES: &[&str] = &[
        "admin",
        "administrator",
        "root",
        "superuser",
        "superadmin",
        "true",
        "1",
        "staff",
        "owner",
        "sysadmin",
    ];
    if !matches!(
        request.method.to_ascii_uppercase().as_str(),
        "POST" | "PUT" | "PATCH"
    ) {
        return None;
    }
    let granted = |name: &str, value: &str| {
        let name = name.to_ascii_lowercase();
        let name = name
            .rsplit(['[', '.'])
            .next()
            .unwrap_or(&name)
            .trim_end_matches(']');
        FIELDS.contains(&name) && VALUES.contains(&value.trim().to_ascii_lowercase().as_str())
    };
    let body = request.body.trim_start();
    if body.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        let map = value.as_object()?;
        return map.iter().find_map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str())
                    .find(|s| VALUES.contains(&s.to_ascii_lowercase().as_str()))
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            granted(k, &text).then(|| k.clone())
        });
    }
    body.split('&').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        let n = crate::decode::url_decode(n, true);
        let v = crate::decode::url_decode(v, true);
        granted(&n, &v).then_some(n)
    })
}
