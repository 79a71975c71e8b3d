//! The permission matrix: which role each route needs.

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// What a key may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but keys.
    Viewer,
    /// Also triages alerts, silences, posts events and asks for web verdicts.
    Analyst,
    /// Also manages API keys, changes the configuration and reads the record of API calls.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Analyst, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: expected viewer, analyst or admin"
            )),
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: liveness, readiness, Prometheus scraping.
    Public,
    /// A registered sender with its own token (the route checks it).
    Sender,
    /// An API key with at least this role.
    Role(Role),
    /// A dashboard page for at least this role: the key may also come from the login
    /// cookie, and a caller without one is sent to the login page.
    Page(Role),
}

use Access::{Public, Sender};
const VIEWER: Access = Access::Role(Role::Viewer);
const ANALYST: Access = Access::Role(Role::Analyst);
const ADMIN: Access = Access::Role(Role::Admin);
const VIEWER_PAGE: Access = Access::Page(Role::Viewer);
const ADMIN_PAGE: Access = Access::Page(Role::Admin);

/// `(method, route as registered, access)` for every route of the router.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Public),
    ("GET", "/api/openapi.json", Public),
    ("GET", "/api/docs", Public),
    ("GET", "/api/docs/init.js", Public),
    ("GET", "/api/docs/swagger-ui-bundle.js", Public),
    ("GET", "/api/docs/swagger-ui.css", Public),
    ("POST", watchpost_ship::INGEST_PATH, Sender),
    ("GET", "/api/v1/status", VIEWER),
    ("GET", "/api/v1/system/health", VIEWER),
    ("GET", "/api/v1/events", VIEWER),
    ("POST", "/api/v1/events", ANALYST),
    ("GET", "/api/v1/detections", VIEWER),
    ("POST", "/api/v1/ids/analyze", ANALYST),
    ("GET", "/api/v1/agents", VIEWER),
    ("POST", "/api/v1/senders", ADMIN),
    ("DELETE", "/api/v1/senders/{id}", ADMIN),
    ("POST", "/api/v1/senders/{id}/rotate", ADMIN),
    ("GET", "/api/v1/hosts", VIEWER),
    ("GET", "/api/v1/alerts", VIEWER),
    ("POST", "/api/v1/alerts/bulk", ANALYST),
    ("GET", "/api/v1/alerts/{id}", VIEWER),
    ("GET", "/api/v1/alerts/{id}/notifications", VIEWER),
    ("PUT", "/api/v1/alerts/{id}/status", ANALYST),
    ("GET", "/api/v1/notifications", VIEWER),
    ("POST", "/api/v1/notifications/{id}/resend", ANALYST),
    ("GET", "/api/v1/silences", VIEWER),
    ("POST", "/api/v1/silences", ANALYST),
    ("GET", "/api/v1/silences/{id}", VIEWER),
    ("DELETE", "/api/v1/silences/{id}", ANALYST),
    ("GET", "/api/v1/api-keys", ADMIN),
    ("POST", "/api/v1/api-keys", ADMIN),
    ("DELETE", "/api/v1/api-keys/{id}", ADMIN),
    ("GET", "/api/v1/api-calls", ADMIN),
    ("GET", "/api/v1/metrics", VIEWER),
    ("GET", "/api/v1/rules", VIEWER),
    ("POST", "/api/v1/rules/test", ANALYST),
    ("PUT", "/api/v1/rules/{id}", ANALYST),
    ("GET", "/api/v1/blocklist", VIEWER),
    ("POST", "/api/v1/blocklist", ANALYST),
    ("DELETE", "/api/v1/blocklist/{ip}", ANALYST),
    ("GET", "/api/v1/incidents", VIEWER),
    ("GET", "/api/v1/incidents/{id}", VIEWER),
    ("PATCH", "/api/v1/incidents/{id}", ANALYST),
    ("POST", "/api/v1/incidents/{id}/notes", ANALYST),
    ("POST", "/api/v1/incidents", ANALYST),
    ("POST", "/api/v1/incidents/{id}/alerts", ANALYST),
    (
        "DELETE",
        "/api/v1/incidents/{id}/alerts/{alert_id}",
        ANALYST,
    ),
    ("POST", "/api/v1/incidents/{id}/merge", ANALYST),
    ("GET", "/api/v1/suppressions", VIEWER),
    ("DELETE", "/api/v1/suppressions/{id}", ANALYST),
    ("POST", "/api/v1/suppressions/{id}/accept", ANALYST),
    ("POST", "/api/v1/suppressions/{id}/reject", ANALYST),
    ("GET", "/api/v1/actions", VIEWER),
    ("GET", "/api/v1/actions/{id}", VIEWER),
    ("POST", "/api/v1/actions/{id}/approve", ANALYST),
    ("POST", "/api/v1/actions/{id}/reject", ANALYST),
    ("POST", "/api/v1/actions/{id}/undo", ANALYST),
    // Agents take their host's actions with their sender token (the route checks it).
    ("GET", "/api/v1/agent/actions", Sender),
    ("POST", "/api/v1/agent/actions/{id}/result", Sender),
    ("GET", "/api/v1/decisions", VIEWER),
    ("POST", "/api/v1/decisions", ANALYST),
    ("DELETE", "/api/v1/decisions/{id}", ANALYST),
    // CrowdSec's Local API for bouncers: the route checks the bouncer key itself.
    ("GET", "/v1/decisions/stream", Sender),
    ("GET", "/v1/decisions", Sender),
    ("GET", "/api/v1/stream", VIEWER),
    ("GET", "/api/v1/statistics", VIEWER),
    ("GET", "/api/v1/dashboard/summary", VIEWER),
    ("GET", "/api/v1/config", VIEWER),
    ("PUT", "/api/v1/config", ADMIN),
];

/// The dashboard's routes (`crate::dashboard`): its pages, login and assets. Actions on
/// pages go through the API routes above, with the same roles.
pub const PAGES: &[(&str, &str, Access)] = &[
    ("GET", "/login", Public),
    ("POST", "/login", Public),
    ("POST", "/logout", Public),
    ("GET", "/assets/{file}", Public),
    ("GET", "/", VIEWER_PAGE),
    ("GET", "/alerts", VIEWER_PAGE),
    ("GET", "/alerts/{id}", VIEWER_PAGE),
    ("GET", "/incidents", VIEWER_PAGE),
    ("GET", "/incidents/{id}", VIEWER_PAGE),
    ("GET", "/hosts", VIEWER_PAGE),
    ("GET", "/hosts/{name}", VIEWER_PAGE),
    ("GET", "/events", VIEWER_PAGE),
    ("GET", "/rules", VIEWER_PAGE),
    ("GET", "/silences", VIEWER_PAGE),
    ("GET", "/blocklist", VIEWER_PAGE),
    ("GET", "/config", VIEWER_PAGE),
    ("GET", "/api-keys", ADMIN_PAGE),
    ("GET", "/senders", ADMIN_PAGE),
];

/// The access `method` on the registered route `path` needs; `None` for a route missing
/// from [`ROUTES`] and [`PAGES`] (refused: a new route must be given a rule).
pub fn required(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    ROUTES
        .iter()
        .chain(PAGES)
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, access)| *access)
}

/// Whether a method changes state (and so is recorded).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_route_has_a_rule_and_every_rule_a_route() {
        let source = [
            include_str!("../routes/mod.rs"),
            include_str!("../dashboard/mod.rs"),
        ]
        .concat();
        let mut registered = Vec::new();
        // `.route("/path", get(a).post(b))` → (GET, /path), (POST, /path).
        for chunk in source.split(".route(").skip(1) {
            let chunk = chunk.trim_start();
            let path = if let Some(rest) = chunk.strip_prefix('"') {
                rest.split('"').next().unwrap().to_string()
            } else {
                assert!(chunk.starts_with("watchpost_ship::INGEST_PATH"), "{chunk}");
                watchpost_ship::INGEST_PATH.to_string()
            };
            let end = chunk.find("\n        .").unwrap_or(chunk.len());
            for (name, method) in [
                ("get(", "GET"),
                ("post(", "POST"),
                ("put(", "PUT"),
                ("delete(", "DELETE"),
                ("patch(", "PATCH"),
            ] {
                if chunk[..end].contains(name) {
                    registered.push((method.to_string(), path.clone()));
                }
            }
        }
        let mut ruled: Vec<(String, String)> = ROUTES
            .iter()
            .chain(PAGES)
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        registered.sort();
        ruled.sort();
        assert_eq!(registered, ruled);
    }

    #[test]
    fn the_api_guide_lists_every_route_with_its_role() {
        let guide = include_str!("../../../../docs/api.md");
        for (method, path, access) in ROUTES {
            let needs = match access {
                Access::Public => "anyone",
                Access::Sender => "sender token",
                Access::Role(role) | Access::Page(role) => role.as_str(),
            };
            let row = format!("| `{method} {path}` | {needs} |");
            assert!(guide.contains(&row), "docs/api.md lacks {row}");
        }
    }

    #[test]
    fn roles_are_ordered_and_read_by_name() {
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("viewer, analyst or admin")
        );
        assert_eq!(
            required(&Method::HEAD, "/api/v1/alerts"),
            Some(Access::Role(Role::Viewer))
        );
        assert_eq!(required(&Method::PATCH, "/api/v1/alerts"), None);
    }
}
