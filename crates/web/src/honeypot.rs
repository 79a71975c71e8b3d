//! Decoy routes: paths no legitimate client of the application asks for (`/.env`,
//! `/wp-login.php` on a site that is not WordPress). A hit is a zero-false-positive sign of
//! probing; it is answered with a believable page, recorded with the client's
//! fingerprint, and after `auto_block_threshold` hits the client is blocked.

use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Clients whose hits are counted at most; the counts are dropped when it is full.
const MAX_TRACKED: usize = 50_000;

/// The decoys served when none are configured.
pub const DEFAULT_DECOYS: &[&str] = &[
    "/admin",
    "/wp-admin",
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/phpmyadmin",
    "/server-status",
    "/xmlrpc.php",
    "/.aws/credentials",
    "/actuator/env",
];

/// What the honeypot answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoyResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// A `Location` header, for decoys that redirect.
    pub location: Option<&'static str>,
}

/// Who hit a decoy: what distinguishes one client from another beyond its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Header names in the order they were sent (tools have their own order).
    pub header_order: Vec<String>,
    pub accept_language: Option<String>,
    pub accept_encoding: Option<String>,
}

impl Fingerprint {
    pub fn of(ip: Option<IpAddr>, headers: &[(String, String)]) -> Fingerprint {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.chars().take(256).collect())
        };
        Fingerprint {
            ip,
            user_agent: get("user-agent"),
            header_order: headers
                .iter()
                .take(32)
                .map(|(n, _)| n.to_ascii_lowercase())
                .collect(),
            accept_language: get("accept-language"),
            accept_encoding: get("accept-encoding"),
        }
    }
}

/// A decoy hit.
#[derive(Debug, Clone)]
pub struct DecoyHit {
    pub path: String,
    pub response: DecoyResponse,
    pub fingerprint: Fingerprint,
    /// Hits from this client so far, this one included.
    pub hits: u32,
    /// Whether this hit reached the threshold and the client should now be blocked.
    pub block: bool,
}

/// The decoy routes and the hit counts per client.
#[derive(Debug)]
pub struct Honeypot {
    decoys: Vec<String>,
    auto_block_threshold: u32,
    hits: Mutex<HashMap<IpAddr, u32>>,
}

impl Honeypot {
    /// Decoys at `paths` (matched exactly, and as prefixes of deeper paths); a client is
    /// to be blocked at `auto_block_threshold` hits (0: never).
    pub fn new(paths: &[String], auto_block_threshold: u32) -> Honeypot {
        Honeypot {
            decoys: paths
                .iter()
                .map(|p| p.trim_end_matches('/').to_string())
                .collect(),
            auto_block_threshold,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// The decoy `path` falls on, if any.
    pub fn decoy(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let trimmed = path.trim_end_matches('/');
        self.decoys
            .iter()
            .find(|d| {
                trimmed.eq_ignore_ascii_case(d)
                    // Bytes, not a str slice: the path may hold any character, and a
                    // decoy's length need not fall on a character boundary of it.
                    || trimmed.len() > d.len()
                        && trimmed.as_bytes()[..d.len()].eq_ignore_ascii_case(d.as_bytes())
                        && trimmed.as_bytes()[d.len()] == b'/'
            })
            .map(String::as_str)
    }

    /// Records a request to a decoy route and says how to answer it; `None` when `path`
    /// is not a decoy.
    pub fn visit(
        &self,
        path: &str,
        ip: Option<IpAddr>,
        headers: &[(String, String)],
    ) -> Option<DecoyHit> {
        let decoy = self.decoy(path)?.to_string();
        let hits = match ip {
            Some(ip) => {
                let mut counts = self.hits.lock().unwrap_or_else(|p| p.into_inner());
                if counts.len() >= MAX_TRACKED && !counts.contains_key(&ip) {
                    counts.clear();
                }
                let n = counts.entry(ip).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            None => 1,
        };
        Some(DecoyHit {
            response: response_for(&decoy),
            path: decoy,
            fingerprint: Fingerprint::of(ip, headers),
            hits,
            block: self.auto_block_threshold > 0 && hits == self.auto_block_threshold,
        })
    }
}

/// A page that looks like the real thing, so that a scanner records a finding and moves
/// on instead of trying harder elsewhere. Every secret in it is fake.
fn response_for(decoy: &str) -> DecoyResponse {
    let html = |title: &str, form: &str| DecoyResponse {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: format!(
            "<!DOCTYPE html><html><head><title>{title}</title></head><body>{form}</body></html>"
        ),
        location: None,
    };
    let text = |body: &str| DecoyResponse {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
        location: None,
    };
    match decoy.to_ascii_lowercase().as_str() {
        "/wp-admin" => DecoyResponse {
            status: 302,
            content_type: "text/html; charset=utf-8",
            body: String::new(),
            location: Some("/wp-login.php?redirect_to=%2Fwp-admin%2F&reauth=1"),
        },
        "/wp-login.php" => html(
            "Log In &lsaquo; WordPress",
            r#"<form name="loginform" id="loginform" action="/wp-login.php" method="post"><p><label for="user_login">Username or Email Address</label><input type="text" name="log" id="user_login"></p><p><label for="user_pass">Password</label><input type="password" name="pwd" id="user_pass"></p><p class="submit"><input type="submit" name="wp-submit" value="Log In"></p></form>"#,
        ),
        "/phpmyadmin" => html(
            "phpMyAdmin",
            r#"<form method="post" action="index.php" name="login_form"><input type="text" name="pma_username"><input type="password" name="pma_password"><input type="submit" value="Go"></form>"#,
        ),
        "/.env" => text(
            "APP_ENV=production\nAPP_DEBUG=false\nAPP_KEY=base64:Wm9uZS1vZi1kZWNveS1ub3QtYS1yZWFsLWtleS0wMDA=\nDB_CONNECTION=mysql\nDB_HOST=10.0.12.5\nDB_DATABASE=app\nDB_USERNAME=app\nDB_PASSWORD=decoy-Jq7vR2pX\n",
        ),
        "/.git/config" => text(
            "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n[remote \"origin\"]\n\turl = git@git.internal:web/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n",
        ),
        "/.aws/credentials" => text(
            "[default]\naws_access_key_id = AKIADECOY0000EXAMPLE\naws_secret_access_key = decoy/ExampleOnlyNotARealSecret0000000000\n",
        ),
        "/server-status" => html(
            "Apache Status",
            "<h1>Apache Server Status</h1><dl><dt>Server Version: Apache/2.4.58 (Unix)</dt><dt>Server uptime: 12 days 4 hours</dt><dt>Total accesses: 1839204</dt></dl>",
        ),
        "/actuator/env" => DecoyResponse {
            status: 200,
            content_type: "application/json",
            body: r#"{"activeProfiles":["prod"],"propertySources":[{"name":"systemEnvironment","properties":{"SPRING_DATASOURCE_PASSWORD":{"value":"******"}}}]}"#.to_string(),
            location: None,
        },
        "/xmlrpc.php" => text("XML-RPC server accepts POST requests only."),
        _ => html(
            "Sign in",
            r#"<form method="post" action=""><input type="text" name="username"><input type="password" name="password"><button type="submit">Sign in</button></form>"#,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_path_is_matched_without_panicking() {
        let honeypot = Honeypot::new(
            &DEFAULT_DECOYS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            3,
        );
        // A multi-byte character where a decoy's length ends (found by fuzzing the API:
        // it panicked the request's task).
        assert_eq!(honeypot.decoy("EbcCD\u{d0}#9"), None);
        assert_eq!(honeypot.decoy("/admi\u{d0}n"), None);
        assert_eq!(honeypot.decoy("/.en\u{e9}v"), None);
        assert_eq!(honeypot.decoy("/.ENV/x"), Some("/.env"));
    }

    #[test]
    fn decoys_answer_count_and_call_for_a_block_at_the_threshold() {
        let pot = Honeypot::new(
            &DEFAULT_DECOYS
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            3,
        );
        assert_eq!(pot.decoy("/wp-login.php?x=1"), Some("/wp-login.php"));
        assert_eq!(pot.decoy("/.git/config"), Some("/.git/config"));
        assert_eq!(pot.decoy("/admin/users"), Some("/admin"));
        assert_eq!(pot.decoy("/administrator"), None);
        assert_eq!(pot.decoy("/blog/.env-setup"), None);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let headers = vec![
            ("User-Agent".to_string(), "zgrab/0.x".to_string()),
            ("Accept".to_string(), "*/*".to_string()),
        ];
        let first = pot.visit("/.env", Some(ip), &headers).unwrap();
        assert!(first.response.body.contains("DB_PASSWORD="));
        assert_eq!(first.fingerprint.header_order, vec!["user-agent", "accept"]);
        assert!(!first.block);
        assert!(!pot.visit("/wp-admin", Some(ip), &headers).unwrap().block);
        let third = pot.visit("/phpmyadmin", Some(ip), &headers).unwrap();
        assert_eq!(third.hits, 3);
        assert!(third.block);
        let redirect = pot.visit("/wp-admin/", None, &headers).unwrap();
        assert_eq!(
            (
                redirect.response.status,
                redirect.response.location.is_some()
            ),
            (302, true)
        );
    }
}
