//! The API's OpenAPI 3 description, built from the route table the server enforces
//! ([`crate::auth::access::ROUTES`]: every route, its method and the role it needs) and
//! the operation list below (summary, parameters, body, answers), served at
//! `/api/openapi.json`; Swagger UI, shipped in the binary, at `/api/docs`.
//!
//! A test checks that every route has an operation here and every operation a route.

use crate::auth::access::{Access, ROUTES};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// One operation: method, route, summary, query parameters, request body, success status.
pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub query: &'static [&'static str],
    /// The JSON body's schema, for operations that take one.
    pub body: Option<fn() -> Value>,
    pub success: u16,
}

const EVENT_QUERY: &[&str] = &[
    "from",
    "to",
    "host",
    "source",
    "category",
    "action",
    "source_ip",
    "user",
    "q",
    "limit",
    "cursor",
    "sort:timestamp",
];
const DETECTION_QUERY: &[&str] = &[
    "from",
    "to",
    "rule_id",
    "host",
    "source_ip",
    "detector",
    "min_severity",
    "q",
    "limit",
    "cursor",
    "sort:timestamp,severity",
];
const ALERT_QUERY: &[&str] = &[
    "from",
    "to",
    "status",
    "min_severity",
    "rule_id",
    "host",
    "source_ip",
    "q",
    "limit",
    "cursor",
    "sort:last_seen,first_seen,severity",
];

fn object() -> Value {
    json!({"type": "object"})
}
fn events_body() -> Value {
    json!({"type": "array", "maxItems": 10000, "items": {"type": "object"}})
}
fn analyze_body() -> Value {
    json!({"type": "object", "required": ["method", "path"], "properties": {
        "method": {"type": "string"}, "path": {"type": "string"}, "query": {"type": "string"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": "string"}, "client_ip": {"type": "string"},
        "response_status": {"type": "integer", "minimum": 100, "maximum": 599}}})
}
fn bulk_body() -> Value {
    json!({"type": "object", "required": ["ids", "status"], "properties": {
        "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 1000},
        "status": {"type": "string", "enum": ["acknowledged", "resolved", "firing", "false_positive"]},
        "by": {"type": "string"}, "reason": {"type": "string"}}})
}
fn status_body() -> Value {
    json!({"type": "object", "required": ["status"], "properties": {
        "status": {"type": "string", "enum": ["acknowledged", "resolved", "firing", "false_positive"]},
        "by": {"type": "string"}, "reason": {"type": "string"}}})
}
fn silence_body() -> Value {
    json!({"type": "object", "required": ["matchers", "comment"], "properties": {
        "matchers": {"type": "array", "items": {"type": "string"}},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "duration_minutes": {"type": "integer"},
        "created_by": {"type": "string"}, "comment": {"type": "string"}}})
}
fn key_body() -> Value {
    json!({"type": "object", "required": ["name", "role"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 100},
        "role": {"type": "string", "enum": ["viewer", "analyst", "admin"]},
        "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650}}})
}
fn enroll_body() -> Value {
    json!({"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 128},
        "kind": {"type": "string", "enum": ["agent", "proxy", "bouncer"]}}})
}
fn rotate_body() -> Value {
    json!({"type": "object", "properties": {
        "grace_minutes": {"type": "integer", "minimum": 0, "maximum": 10080}}})
}
fn incident_patch_body() -> Value {
    json!({"type": "object", "properties": {
        "status": {"type": "string", "enum": ["open", "investigating", "contained", "resolved", "closed"]},
        "assignee": {"type": "string", "maxLength": 100},
        "title": {"type": "string", "minLength": 1, "maxLength": 200}}})
}
fn note_body() -> Value {
    json!({"type": "object", "required": ["text"], "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": 4000}}})
}
fn new_incident_body() -> Value {
    json!({"type": "object", "required": ["title", "alert_ids"], "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "alert_ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "format": "uuid"}}}})
}
fn link_body() -> Value {
    json!({"type": "object", "required": ["alert_id"], "properties": {
        "alert_id": {"type": "string", "format": "uuid"}}})
}
fn merge_body() -> Value {
    json!({"type": "object", "required": ["incident_id"], "properties": {
        "incident_id": {"type": "string", "format": "uuid"}}})
}
fn acceptance_body() -> Value {
    json!({"type": "object", "properties": {
        "days": {"type": "integer", "minimum": 1, "maximum": 365},
        "review_days": {"type": "integer", "minimum": 1, "maximum": 365}}})
}
fn rejection_body() -> Value {
    json!({"type": "object", "properties": {
        "reason": {"type": "string", "maxLength": 500}}})
}
fn action_result_body() -> Value {
    json!({"type": "object", "required": ["ok", "message"], "properties": {
        "ok": {"type": "boolean"}, "message": {"type": "string"},
        "undo": {"description": "what undoing it needs (a path, a hash, a table)"}}})
}
fn decision_body() -> Value {
    json!({"type": "object", "required": ["value", "duration", "reason"], "properties": {
        "value": {"type": "string", "description": "an address or a network (CIDR)"},
        "duration": {"type": "string", "description": "4h, 30m, 1h30m, 7d (1s to 365d)"},
        "reason": {"type": "string", "minLength": 1, "maxLength": 500},
        "scope": {"type": "string", "enum": ["ip", "range", "username"]},
        "type": {"type": "string", "enum": ["ban", "captcha"]},
        "simulated": {"type": "boolean"}}})
}
fn block_body() -> Value {
    json!({"type": "object", "required": ["ip", "minutes", "reason"], "properties": {
        "ip": {"type": "string"}, "minutes": {"type": "integer", "minimum": 1, "maximum": 43200},
        "reason": {"type": "string", "minLength": 1, "maxLength": 500}}})
}
fn switch_body() -> Value {
    json!({"type": "object", "required": ["enabled"], "properties": {"enabled": {"type": "boolean"}}})
}
fn rule_test_body() -> Value {
    json!({"type": "object", "required": ["rule", "events"], "properties": {
        "rule": {"type": "string", "description": "Sigma YAML"},
        "events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "object"}}}})
}
fn config_body() -> Value {
    json!({"type": "object", "required": ["config"], "properties": {"config": {"type": "object"}}})
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    query: &'static [&'static str],
    body: Option<fn() -> Value>,
    success: u16,
) -> Op {
    Op {
        method,
        path,
        summary,
        query,
        body,
        success,
    }
}

/// Every operation of the API.
pub const OPERATIONS: &[Op] = &[
    op("GET", "/healthz", "Liveness", &[], None, 200),
    op(
        "GET",
        "/readyz",
        "Readiness: the store answers",
        &[],
        None,
        200,
    ),
    op("GET", "/metrics", "Prometheus exposition", &[], None, 200),
    op(
        "GET",
        "/api/openapi.json",
        "The OpenAPI description of the API",
        &[],
        None,
        200,
    ),
    op("GET", "/api/docs", "Swagger UI", &[], None, 200),
    op(
        "GET",
        "/api/docs/init.js",
        "Swagger UI: its start script",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/docs/swagger-ui-bundle.js",
        "Swagger UI: its code",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/docs/swagger-ui.css",
        "Swagger UI: its style",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/ingest",
        "A sender's batch (sender token, gzip)",
        &[],
        Some(object),
        200,
    ),
    op(
        "GET",
        "/api/v1/status",
        "Version, uptime, store, row counts",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/system/health",
        "Store (writes, damage, integrity check, WAL), ingest queue, notification backlog, disk, rules, configuration",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/events",
        "Search events, newest first",
        EVENT_QUERY,
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/events",
        "Ingest events (JSON array or NDJSON)",
        &[],
        Some(events_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/detections",
        "Search detections",
        DETECTION_QUERY,
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/ids/analyze",
        "A web request's verdict",
        &[],
        Some(analyze_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/agents",
        "Registered agents and proxies",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/hosts",
        "Hosts seen, latest figures, open alerts",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/alerts",
        "Search alerts",
        ALERT_QUERY,
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/alerts/bulk",
        "Change many alerts' status",
        &[],
        Some(bulk_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/alerts/{id}",
        "An alert, its trace and notifications",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/alerts/{id}/notifications",
        "Why an alert paged (or not)",
        &[],
        None,
        200,
    ),
    op(
        "PUT",
        "/api/v1/alerts/{id}/status",
        "Change an alert's status",
        &[],
        Some(status_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/notifications",
        "Notifications",
        &["status", "limit"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/notifications/{id}/resend",
        "Send a notification again",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/silences",
        "Silences in force or pending",
        &["all"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/silences",
        "Silence matching alerts",
        &[],
        Some(silence_body),
        201,
    ),
    op("GET", "/api/v1/silences/{id}", "A silence", &[], None, 200),
    op(
        "DELETE",
        "/api/v1/silences/{id}",
        "Expire a silence now",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/senders",
        "Enroll an agent or proxy, or a revoked one again (its token shown once)",
        &[],
        Some(enroll_body),
        201,
    ),
    op(
        "DELETE",
        "/api/v1/senders/{id}",
        "Revoke a sender's tokens at once",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/senders/{id}/rotate",
        "A new token for a sender; the old one works for a grace period",
        &[],
        Some(rotate_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/api-keys",
        "API keys (never the keys)",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/api-keys",
        "Make an API key (shown once)",
        &[],
        Some(key_body),
        201,
    ),
    op(
        "DELETE",
        "/api/v1/api-keys/{id}",
        "Revoke an API key",
        &[],
        None,
        204,
    ),
    op(
        "GET",
        "/api/v1/api-calls",
        "State-changing calls: who, what, when, where",
        &["limit"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/metrics",
        "A host metric's series",
        &["host", "metric", "from", "to", "step"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/stream",
        "Live changes (WebSocket upgrade)",
        &["topics"],
        None,
        101,
    ),
    op(
        "GET",
        "/api/v1/blocklist",
        "Blocked client addresses",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/blocklist",
        "Block an address",
        &[],
        Some(block_body),
        201,
    ),
    op(
        "DELETE",
        "/api/v1/blocklist/{ip}",
        "Lift a block",
        &[],
        None,
        204,
    ),
    op(
        "GET",
        "/api/v1/incidents",
        "Incidents, most recently updated first",
        &["status", "limit"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/incidents/{id}",
        "An incident with its attack chain, risk terms and timeline",
        &[],
        None,
        200,
    ),
    op(
        "PATCH",
        "/api/v1/incidents/{id}",
        "Change an incident's status, assignee or title",
        &[],
        Some(incident_patch_body),
        200,
    ),
    op(
        "POST",
        "/api/v1/incidents/{id}/notes",
        "Add a note to an incident's timeline",
        &[],
        Some(note_body),
        201,
    ),
    op(
        "POST",
        "/api/v1/incidents",
        "Open an incident by hand from alerts",
        &[],
        Some(new_incident_body),
        201,
    ),
    op(
        "POST",
        "/api/v1/incidents/{id}/alerts",
        "Link an alert to an incident",
        &[],
        Some(link_body),
        201,
    ),
    op(
        "DELETE",
        "/api/v1/incidents/{id}/alerts/{alert_id}",
        "Unlink an alert from an incident",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/incidents/{id}/merge",
        "Merge another incident into this one (the other is closed)",
        &[],
        Some(merge_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/suppressions",
        "Suppressions proposed by false positives, with replay counts and hits",
        &["status", "limit"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/suppressions/{id}/accept",
        "Accept a proposed suppression",
        &[],
        Some(acceptance_body),
        200,
    ),
    op(
        "POST",
        "/api/v1/suppressions/{id}/reject",
        "Reject a proposed suppression",
        &[],
        None,
        200,
    ),
    op(
        "DELETE",
        "/api/v1/suppressions/{id}",
        "End a suppression in force",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/actions",
        "Response actions, newest first (status: pending, queued, done…)",
        &["incident", "status", "host", "limit"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/actions/{id}",
        "A response action with its history and blast radius",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/actions/{id}/approve",
        "Approve a pending action: it is carried out or queued now",
        &[],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/actions/{id}/reject",
        "Turn a pending action down",
        &[],
        Some(rejection_body),
        200,
    ),
    op(
        "POST",
        "/api/v1/actions/{id}/undo",
        "Take a done action back (lift its ban, restore its file, unlock, end isolation)",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/agent/actions",
        "The actions queued for the calling agent's host (sender token), waiting up to `wait` seconds",
        &["wait"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/agent/actions/{id}/result",
        "An agent's report on an action it took (sender token)",
        &[],
        Some(action_result_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/decisions",
        "Decisions, newest first",
        &["limit", "state"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/decisions",
        "Ban an address or network for a while",
        &[],
        Some(decision_body),
        201,
    ),
    op(
        "DELETE",
        "/api/v1/decisions/{id}",
        "Lift a decision",
        &[],
        None,
        200,
    ),
    op(
        "GET",
        "/v1/decisions/stream",
        "Decision stream for CrowdSec bouncers (X-Api-Key: a bouncer key)",
        &[
            "startup",
            "scopes",
            "origins",
            "scenarios_containing",
            "scenarios_not_containing",
        ],
        None,
        200,
    ),
    op(
        "GET",
        "/v1/decisions",
        "Decisions covering an address, for CrowdSec bouncers (null when none)",
        &["ip", "range", "scope", "value", "type"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/rules",
        "Loaded rules",
        &["q", "level", "enabled", "limit", "cursor"],
        None,
        200,
    ),
    op(
        "POST",
        "/api/v1/rules/test",
        "Run a rule on pasted events",
        &[],
        Some(rule_test_body),
        200,
    ),
    op(
        "PUT",
        "/api/v1/rules/{id}",
        "Turn a rule off or on",
        &[],
        Some(switch_body),
        200,
    ),
    op(
        "GET",
        "/api/v1/statistics",
        "Counts over a range",
        &["from", "to", "bucket"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/dashboard/summary",
        "The overview's figures",
        &["window"],
        None,
        200,
    ),
    op(
        "GET",
        "/api/v1/config",
        "The configuration, secrets masked",
        &[],
        None,
        200,
    ),
    op(
        "PUT",
        "/api/v1/config",
        "Replace the configuration (validated)",
        &[],
        Some(config_body),
        200,
    ),
];

/// Statuses an operation may answer with besides its success, all with the error body.
const ERRORS: &[(u16, &str)] = &[
    (400, "Bad request: the parameter or body named in details"),
    (401, "No valid API key"),
    (403, "The key's role is below the one needed"),
    (404, "Not found"),
    (409, "Conflict"),
    (
        408,
        "The body was not sent in time (api.body_read_timeout_seconds)",
    ),
    (413, "Too large"),
    (
        415,
        "A change without an API key header must be sent as JSON",
    ),
    (
        421,
        "The Host header names a server this one is not (api.server_names)",
    ),
    (422, "Well-formed but invalid"),
    (429, "Over the rate limit (Retry-After)"),
    (503, "Store or ingest unavailable"),
];

fn parameter(name: &str) -> Value {
    // `sort:a,b`: the `sort` parameter taking `a`, `-a`, `b`, `-b`.
    if let Some(keys) = name.strip_prefix("sort:") {
        let values: Vec<String> = keys
            .split(',')
            .flat_map(|k| [k.to_string(), format!("-{k}")])
            .collect();
        return json!({"name": "sort", "in": "query", "required": false,
                      "description": "the order: a key ascending, or with `-` descending (the default is the first, descending)",
                      "schema": {"type": "string", "enum": values}});
    }
    let schema = match name {
        "from" | "to" => json!({"type": "string", "description": "RFC 3339 or epoch seconds"}),
        "limit" => json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        "wait" => json!({"type": "integer", "minimum": 0, "maximum": 30}),
        "all" | "enabled" | "startup" => {
            json!({"type": "string", "enum": ["true", "false"]})
        }
        "state" => json!({"type": "string", "enum": ["in_force", "all"]}),
        "status" => json!({"type": "string"}),
        "min_severity" | "level" => {
            json!({"type": "string", "enum": ["info", "low", "medium", "high", "critical"]})
        }
        _ => json!({"type": "string"}),
    };
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

/// What an operation's success answer is, by its route.
fn content_type(path: &str) -> &'static str {
    match path {
        "/metrics" => "application/openmetrics-text",
        "/api/docs" => "text/html",
        "/api/docs/init.js" | "/api/docs/swagger-ui-bundle.js" => "text/javascript",
        "/api/docs/swagger-ui.css" => "text/css",
        _ => "application/json",
    }
}

/// What an operation's JSON success answer is: an object, but for CrowdSec's lookup,
/// which answers an array of decisions or `null`.
fn success_schema(path: &str) -> Value {
    match path {
        "/v1/decisions" => {
            json!({"type": "array", "nullable": true, "items": {"type": "object"}})
        }
        _ => json!({"type": "object"}),
    }
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let access = ROUTES
            .iter()
            .find(|(m, p, _)| *m == op.method && *p == op.path)
            .map(|(_, _, a)| *a);
        let openapi_path = op.path.to_string();
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(op.query.iter().map(|q| parameter(q)));
        let mut responses = Map::new();
        responses.insert(
            op.success.to_string(),
            match (op.success, content_type(op.path)) {
                (204 | 101, _) => json!({"description": "Done"}),
                (_, "application/json") => {
                    json!({"description": "OK", "content": {"application/json": {"schema": success_schema(op.path)}}})
                }
                (_, other) => {
                    json!({"description": "OK", "content": {other: {"schema": {"type": "string"}}}})
                }
            },
        );
        for (status, description) in ERRORS {
            responses.insert(
                status.to_string(),
                json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        let mut operation = json!({
            "summary": op.summary,
            "operationId": format!("{}_{}", op.method.to_lowercase(), op.path.trim_matches('/').replace(['/', '{', '}', '-'], "_")),
            "parameters": parameters,
            "responses": responses,
        });
        match access {
            Some(Access::Role(role)) => {
                operation["security"] = json!([{"apiKey": []}, {"bearer": []}]);
                operation["x-required-role"] = json!(role.as_str());
            }
            Some(Access::Sender) if op.path.starts_with("/v1/") => {
                operation["security"] = json!([{"bouncerKey": []}]);
            }
            Some(Access::Sender) => {
                operation["security"] = json!([{"senderToken": []}]);
            }
            _ => operation["security"] = json!([]),
        }
        if let Some(body) = op.body {
            operation["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body()}}});
        }
        let entry = paths
            .entry(openapi_path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method.to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Watchpost API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Security monitoring, detection and alerting. Send an API key as X-API-Key or Authorization: Bearer; each operation names the role it needs in x-required-role (viewer < analyst < admin)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "senderToken": {"type": "http", "scheme": "bearer", "description": "A sender token (wps_…) from watchpost agent-token create"},
                "bouncerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "A bouncer key (wps_…) from watchpost agent-token create --kind bouncer"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}
                    }}
                }
            }
        }
    })
}

/// `GET /api/openapi.json`.
pub async fn openapi_json() -> axum::Json<Value> {
    axum::Json(document())
}

const SWAGGER_BUNDLE: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js.gz");
const SWAGGER_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css.gz");

/// `GET /api/docs`: Swagger UI on the document, from files in the binary.
pub async fn docs_page() -> Response {
    let html = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Watchpost API</title><link rel="stylesheet" href="/api/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body></html>"#;
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}

/// The page's own script (kept out of the HTML so that a strict content policy holds).
pub async fn docs_init() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        "window.ui = SwaggerUIBundle({url: '/api/openapi.json', dom_id: '#swagger-ui', persistAuthorization: true});\n",
    )
        .into_response()
}

pub async fn docs_bundle() -> Response {
    gzipped(SWAGGER_BUNDLE, "text/javascript; charset=utf-8")
}

pub async fn docs_css() -> Response {
    gzipped(SWAGGER_CSS, "text/css; charset=utf-8")
}

/// A file stored gzip-compressed, sent as such (every browser takes gzip).
fn gzipped(body: &'static [u8], content_type: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_operation_is_a_route() {
        let mut documented: Vec<(&str, &str)> =
            OPERATIONS.iter().map(|o| (o.method, o.path)).collect();
        let mut routes: Vec<(&str, &str)> = ROUTES.iter().map(|(m, p, _)| (*m, *p)).collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
        let doc = document();
        assert_eq!(doc["openapi"], "3.0.3");
        let alerts = &doc["paths"]["/api/v1/alerts/{id}/status"]["put"];
        assert_eq!(alerts["x-required-role"], "analyst");
        assert_eq!(alerts["parameters"][0]["in"], "path");
        assert!(alerts["requestBody"].is_object());
    }
}
