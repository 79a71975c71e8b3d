//! The rules the server runs: `GET /api/v1/rules` (filter `q`, `level`, `enabled`;
//! `limit`, `cursor`), `PUT /api/v1/rules/{id}` (`{"enabled": false}` turns a rule off
//! for every event from now on, recorded with who did it), and `POST /api/v1/rules/test`
//! (a rule's YAML and events in, which events it matches out; nothing stored).

use super::json_body;
use crate::auth::middleware::Principal;
use crate::error::ApiError;
use crate::params::Params;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use watchpost_core::Event;

/// Most rules in one page.
const MAX_PAGE: usize = 1000;
/// Largest rule text tested.
const MAX_RULE_BYTES: usize = 64 * 1024;
/// Most events one test runs on.
const MAX_TEST_EVENTS: usize = 1000;

pub async fn list(
    State(state): State<AppState>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::new(raw);
    let q = p.text("q").map(|q| q.to_lowercase());
    let level = p.severity("level")?;
    let enabled = match p.text("enabled").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "enabled",
                format!("`{other}` is not true or false"),
            ));
        }
    };
    let limit = p.limit("limit")?.map_or(100, |n| n as usize).min(MAX_PAGE);
    let cursor = p.text("cursor");
    p.finish()?;
    let matching: Vec<_> = state
        .detection
        .rules()
        .into_iter()
        .filter(|r| cursor.as_ref().is_none_or(|c| r.id > *c))
        .filter(|r| level.is_none_or(|l| r.level == l))
        .filter(|r| enabled.is_none_or(|e| r.enabled == e))
        .filter(|r| {
            q.as_ref().is_none_or(|q| {
                r.title.to_lowercase().contains(q) || r.id.to_lowercase().contains(q)
            })
        })
        .take(limit + 1)
        .collect();
    let next_cursor = (matching.len() > limit).then(|| matching[limit - 1].id.clone());
    // How often people marked each rule's alerts false positives.
    let false_positives = state
        .suppressions
        .false_positives_by_rule()
        .await
        .map_err(ApiError::store)?;
    let items: Vec<Value> = matching
        .into_iter()
        .take(limit)
        .map(|r| {
            let marked = false_positives.get(&r.id).copied().unwrap_or(0);
            let mut v = json!(r);
            v["false_positives"] = json!(marked);
            v
        })
        .collect();
    Ok(Json(json!({ "items": items, "next_cursor": next_cursor })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSwitch {
    enabled: bool,
}

pub async fn switch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    principal: Option<Extension<Principal>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let input: RuleSwitch = json_body(&body, "{\"enabled\": true|false}")?;
    let Some(mut rule) = state.detection.rules().into_iter().find(|r| r.id == id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no loaded rule has the id `{id}`"),
        ));
    };
    let by = principal.map_or_else(|| "anonymous".to_string(), |p| p.actor());
    state
        .store
        .set_rule_enabled(&id, input.enabled, &by)
        .await
        .map_err(ApiError::store)?;
    load_disabled(&state).await?;
    rule.enabled = input.enabled;
    Ok(Json(json!({ "rule": rule })))
}

/// Puts the store's list of rules turned off in force.
pub async fn load_disabled(state: &AppState) -> Result<(), ApiError> {
    let off = state
        .store
        .disabled_rules()
        .await
        .map_err(ApiError::store)?;
    state
        .detection
        .set_disabled(off.into_iter().map(|r| r.rule_id));
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// The rule, as Sigma YAML.
    rule: String,
    /// Events, ECS (as `POST /api/v1/events` takes them).
    events: Vec<Value>,
}

pub async fn test(body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let input: RuleTest = json_body(&body, "{\"rule\": YAML, \"events\": [...]}")?;
    if input.rule.len() > MAX_RULE_BYTES {
        return Err(ApiError::invalid_parameter(
            "rule",
            format!("longer than {MAX_RULE_BYTES} bytes"),
        ));
    }
    if input.events.is_empty() || input.events.len() > MAX_TEST_EVENTS {
        return Err(ApiError::invalid_parameter(
            "events",
            format!("give 1 to {MAX_TEST_EVENTS} events"),
        ));
    }
    let mut set = watchpost_sigma::RuleSet::default();
    let compiled = set
        .add_yaml(&input.rule, "rule")
        .map(|()| set.compile())
        .map_err(|e| e.to_string())
        .and_then(|compiled| match compiled.errors().first() {
            Some(e) => Err(e.to_string()),
            None if compiled.rules().is_empty() => Err("the text holds no rule".into()),
            None => Ok(compiled),
        })
        .map_err(|why| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", why)
                .with_details(json!({ "parameter": "rule" }))
        })?;
    let mut results = Vec::with_capacity(input.events.len());
    for (index, raw) in input.events.into_iter().enumerate() {
        let event = Event::from_json(raw)
            .map_err(|e| ApiError::invalid_parameter(&format!("events[{index}]"), e.to_string()))?;
        let flat = watchpost_logs::flatten_event(&event);
        let matched: Vec<Value> = compiled
            .matches(&flat)
            .iter()
            .map(|m| json!({"rule_id": m.rule.id, "title": m.rule.title}))
            .collect();
        results.push(json!({"index": index, "matched": !matched.is_empty(), "rules": matched}));
    }
    Ok(Json(json!({ "results": results })))
}
