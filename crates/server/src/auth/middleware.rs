//! The gate every request passes: the route's access rule, the caller's rate (per client
//! address, then per key), the caller's key and role, and the record of state-changing
//! calls.

use super::access::{self, Access, Role};
use super::keys::{self, KeyRing};
use super::rate_limit::RateLimiter;
use crate::error::ApiError;
use crate::guard::OriginCheck;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use watchpost_store::ApiCall;

/// How often a key's last-used time is written (not on every request).
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Keys whose last write is remembered; past this the memory starts over.
const MAX_TOUCHED: usize = 10_000;

/// Who made a request, as the handlers see it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The key's id; `None` with authentication off.
    pub key_id: Option<String>,
    pub name: String,
    pub role: Role,
}

impl Principal {
    /// How the record of calls names the caller: `ci (wpk_ab12…)`.
    pub fn actor(&self) -> String {
        match &self.key_id {
            Some(id) => format!("{} ({}{id})", self.name, keys::KEY_PREFIX),
            None => self.name.clone(),
        }
    }
}

/// The API keys' checker, shared by all requests.
pub struct Gate {
    ring: KeyRing,
    touched: Mutex<HashMap<String, Instant>>,
    limiter: RateLimiter,
}

impl Gate {
    pub fn new(ring: KeyRing) -> Gate {
        Gate {
            ring,
            touched: Mutex::new(HashMap::new()),
            limiter: RateLimiter::default(),
        }
    }

    /// Takes a request from `caller`'s allowance; the 429 to answer when there is none.
    fn over_rate(&self, caller: &str, per_minute: u32, setting: &str) -> Option<Response> {
        self.over_rate_error(caller, per_minute, setting)
            .map(IntoResponse::into_response)
    }

    /// Takes a login attempt from `ip`'s allowance (a minute's worth may come at once);
    /// the seconds to wait when there is none.
    pub(crate) fn over_login_rate(&self, ip: std::net::IpAddr, per_minute: u32) -> Option<u64> {
        self.limiter
            .take_with_burst(&format!("login:{ip}"), per_minute, 60.0)
            .err()
            .map(|wait| wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
    }

    /// Whether `what` about `ip` is due to be reported again: once a minute at most, so
    /// that a client hammering a refusal cannot turn each refusal into a stored record.
    pub(crate) fn report_due(&self, what: &str, ip: std::net::IpAddr) -> bool {
        self.limiter
            .take_with_burst(&format!("report:{what}:{ip}"), 1, 60.0)
            .is_ok()
    }

    /// [`Gate::over_rate`] as an error a handler returns.
    pub(crate) fn over_rate_error(
        &self,
        caller: &str,
        per_minute: u32,
        setting: &str,
    ) -> Option<ApiError> {
        self.limiter.take(caller, per_minute).err().map(|wait| {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "more than {per_minute} requests a minute ({setting}); retry in {seconds} s"
                ),
            )
            .with_details(serde_json::json!({ "retry_after_seconds": seconds }))
        })
    }

    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The caller named by the request's key (`X-API-Key`, `Authorization: Bearer`, the
    /// WebSocket subprotocol) or by the dashboard's session cookie, and whether it came
    /// from the cookie.
    async fn authenticate(
        &self,
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<(Principal, bool), ApiError> {
        let refused = |why: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
        let header_key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
            })
            // Browsers cannot set headers on a WebSocket: the key comes as a subprotocol.
            .or_else(|| {
                headers
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').map(str::trim).find(|p| p.starts_with("wpk_")))
            });
        if let Some(text) = header_key {
            return self.check_key(state, text).await.map(|p| (p, false));
        }
        let session = crate::dashboard::session::cookie_session(headers).ok_or_else(|| {
            refused("send an API key as `X-API-Key: wpk_…` or `Authorization: Bearer wpk_…`".into())
        })?;
        let ended = || {
            refused(
                "the login session ended (logged out, expired or its key revoked): log in again"
                    .into(),
            )
        };
        let session = state
            .store
            .get_session(&crate::dashboard::session::hash(session), Utc::now())
            .await
            .map_err(ApiError::store)?
            .ok_or_else(ended)?;
        let key = state
            .store
            .get_api_key(&session.key_id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(ended)?;
        self.live_key(state, key).await.map(|p| (p, true))
    }

    /// The caller a key's text names, when it is a live key.
    pub async fn check_key(&self, state: &AppState, text: &str) -> Result<Principal, ApiError> {
        let refused = |why: String| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
        let (id, secret) = keys::parse(text).map_err(|e| refused(e.to_string()))?;
        let unknown = || refused("no API key matches (it may have been revoked)".into());
        let key = state
            .store
            .get_api_key(id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(unknown)?;
        if !self.ring.verify(secret, &key) {
            return Err(unknown());
        }
        self.live_key(state, key).await
    }

    /// The caller a stored key stands for, unless it has expired.
    async fn live_key(
        &self,
        state: &AppState,
        key: watchpost_store::ApiKey,
    ) -> Result<Principal, ApiError> {
        let now = Utc::now();
        if let Some(expired) = key.expires_at.filter(|at| *at <= now) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!(
                    "the API key `{}` expired at {}",
                    key.name,
                    expired.to_rfc3339()
                ),
            ));
        }
        let role: Role = key.role.parse().map_err(|e: String| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt_key", e)
        })?;
        if self.due_for_touch(&key.id) {
            state
                .store
                .touch_api_key(&key.id, now)
                .await
                .map_err(ApiError::store)?;
        }
        Ok(Principal {
            key_id: Some(key.id),
            name: key.name,
            role,
        })
    }

    fn due_for_touch(&self, id: &str) -> bool {
        let mut touched = self.touched.lock().expect("not poisoned");
        if touched.get(id).is_some_and(|at| at.elapsed() < TOUCH_EVERY) {
            return false;
        }
        if touched.len() >= MAX_TOUCHED {
            touched.clear();
        }
        touched.insert(id.to_string(), Instant::now());
        true
    }
}

/// Checks the caller's role against the route's rule, runs the handler, and records the
/// call when it changes state (refusals of a known caller included).
pub async fn authorize(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = matched.map(|m| m.as_str().to_string()) else {
        // No route: the fallback answers 404.
        return next.run(request).await;
    };
    let method = request.method().clone();
    let access = match access::required(&method, &route) {
        // Health, readiness and scraping answer whatever the load.
        Some(Access::Public) => return next.run(request).await,
        Some(access) => access,
        None => return method_not_allowed(&method, &route),
    };
    let config = state.config.get();
    let api = &config.api;
    // Per address before anything else, senders' routes included: a flood of made-up
    // tokens costs a store lookup each.
    if api.enable_rate_limiting
        && let Some(refused) = state.gate.over_rate(
            &format!("ip:{}", peer.ip()),
            api.rate_limit_per_ip_per_minute,
            "api.rate_limit_per_ip_per_minute",
        )
    {
        return refused;
    }
    let (needed, page) = match access {
        Access::Role(role) => (role, false),
        Access::Page(role) => (role, true),
        // A sender's route checks its token itself.
        Access::Sender | Access::Public => return next.run(request).await,
    };
    let origin = request
        .extensions()
        .get::<OriginCheck>()
        .copied()
        .unwrap_or(OriginCheck::Absent);
    let upgrade = crate::guard::is_upgrade(request.headers());
    let principal = if api.enable_authentication {
        match state.gate.authenticate(&state, request.headers()).await {
            Ok((_, true))
                if (access::changes_state(&method) || upgrade)
                    && origin != OriginCheck::SameOrigin =>
            {
                // A browser sends the cookie by itself, to any port of this host: a
                // change or a live stream riding on it must come from the dashboard's
                // own origin.
                state.metrics.refusal("cross_origin", 1);
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "cross_origin",
                    "a change or a live stream carried by the login cookie must come from the \
                     dashboard's own origin (its Origin header names another, or none)",
                )
                .into_response();
            }
            Ok((principal, _)) => principal,
            Err(_) if page => return crate::dashboard::session::to_login(request.uri()),
            Err(e) => return e.into_response(),
        }
    } else {
        // Only ever on loopback (the configuration refuses anything else).
        Principal {
            key_id: None,
            name: "anonymous (authentication off)".into(),
            role: Role::Admin,
        }
    };
    let path = request.uri().path().to_string();
    let over_rate = match (&principal.key_id, api.enable_rate_limiting) {
        (Some(id), true) => state.gate.over_rate(
            &format!("key:{id}"),
            api.rate_limit_per_key_per_minute,
            "api.rate_limit_per_key_per_minute",
        ),
        _ => None,
    };
    let response = if let Some(refused) = over_rate {
        refused
    } else if principal.role < needed && page {
        crate::dashboard::forbidden(&principal, needed)
    } else if principal.role < needed {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{method} {route} needs the {} role; the key `{}` has {}",
                needed.as_str(),
                principal.name,
                principal.role.as_str()
            ),
        )
        .with_details(serde_json::json!({
            "required_role": needed.as_str(),
            "role": principal.role.as_str(),
        }))
        .into_response()
    } else {
        request.extensions_mut().insert(principal.clone());
        next.run(request).await
    };
    if access::changes_state(&method) {
        let call = ApiCall {
            id: uuid::Uuid::new_v4().to_string(),
            at: Utc::now(),
            actor: principal.actor(),
            role: principal.role.as_str().into(),
            method: method.to_string(),
            path,
            status: response.status().as_u16(),
            client_ip: Some(peer.ip().to_string()),
        };
        if let Err(e) = state.store.insert_api_call(&call).await {
            tracing::error!(error = %e, method = %call.method, path = %call.path, actor = %call.actor, "could not record an API call");
        }
    }
    response
}

/// The answer to a method the route does not take: 405 naming those it does.
fn method_not_allowed(method: &axum::http::Method, route: &str) -> Response {
    let allowed: Vec<&str> = access::ROUTES
        .iter()
        .filter(|(_, path, _)| *path == route)
        .map(|(m, _, _)| *m)
        .collect();
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{route} does not take {method}; it takes {}",
            allowed.join(", ")
        ),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&allowed.join(", ")) {
        response
            .headers_mut()
            .insert(axum::http::header::ALLOW, value);
    }
    response
}
