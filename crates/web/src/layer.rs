//! The tower [`Layer`] that puts the shield in front of any tower service (an axum
//! `Router`, a hyper service): each request is buffered (bounded), inspected, and passed,
//! refused or answered by the honeypot; detections go to a reporter the application
//! chooses (a channel to the Watchpost server, a log).
//!
//! ```no_run
//! use std::sync::Arc;
//! use watchpost_web::{Engine, Policy, Shield, blocklist::Blocklist, layer::WatchpostLayer};
//! let shield = Shield::new(Engine::default(), Policy::default(), Arc::new(Blocklist::default()));
//! let layer = WatchpostLayer::new(Arc::new(shield), Arc::new(|detections| {
//!     for d in detections { eprintln!("{}", d.summary); }
//! }));
//! // axum: Router::new().route(...).layer(layer)
//! ```

use crate::Request;
use crate::accounts::{Suspensions, UserOf};
use crate::shield::{Decision, Shield};
use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use watchpost_core::Detection;

/// Receives the detections of each request.
pub type Reporter = Arc<dyn Fn(Vec<Detection>) + Send + Sync>;
/// Finds the client's address in a request.
pub type ClientIp = Arc<dyn Fn(&http::request::Parts) -> Option<IpAddr> + Send + Sync>;

/// Largest body buffered for inspection and forwarded; larger requests are refused (413).
pub const DEFAULT_MAX_BUFFER: usize = 8 << 20;

/// The layer.
#[derive(Clone)]
pub struct WatchpostLayer {
    shield: Arc<Shield>,
    reporter: Reporter,
    client_ip: ClientIp,
    max_buffer: usize,
    /// The user a request is made as, and the accounts suspended.
    accounts: Option<(UserOf, Arc<Suspensions>)>,
}

impl WatchpostLayer {
    /// A layer reporting to `reporter`, taking the client address from a
    /// [`SocketAddr`] request extension (what a server puts there for its connections).
    pub fn new(shield: Arc<Shield>, reporter: Reporter) -> WatchpostLayer {
        WatchpostLayer {
            shield,
            reporter,
            client_ip: Arc::new(|parts: &http::request::Parts| {
                parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
            }),
            max_buffer: DEFAULT_MAX_BUFFER,
            accounts: None,
        }
    }

    /// Refuses (403) every request of a suspended account; `user_of` finds the user a
    /// request is made as (the application knows how: its session, its token).
    pub fn with_accounts(
        mut self,
        user_of: UserOf,
        suspensions: Arc<Suspensions>,
    ) -> WatchpostLayer {
        self.accounts = Some((user_of, suspensions));
        self
    }

    /// Reads the client address another way (a framework's connection info, a trusted
    /// proxy's header).
    pub fn with_client_ip(mut self, client_ip: ClientIp) -> WatchpostLayer {
        self.client_ip = client_ip;
        self
    }

    pub fn with_max_buffer(mut self, bytes: usize) -> WatchpostLayer {
        self.max_buffer = bytes;
        self
    }
}

impl<S> tower::Layer<S> for WatchpostLayer {
    type Service = WatchpostService<S>;

    fn layer(&self, inner: S) -> WatchpostService<S> {
        WatchpostService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the layer wraps around another.
#[derive(Clone)]
pub struct WatchpostService<S> {
    inner: S,
    layer: WatchpostLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<http::Request<B>> for WatchpostService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    RB: From<String> + Send + 'static,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let limited = http_body_util::Limited::new(body, layer.max_buffer);
            let bytes = match limited.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let too_large = e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some();
                    let status = if too_large { 413 } else { 400 };
                    return Ok(plain(status, format!("request body: {e}\n"), None));
                }
            };
            if let Some((user_of, suspensions)) = &layer.accounts
                && let Some(user) = user_of(&parts)
                && suspensions.suspended(&user).is_some()
            {
                return Ok(plain(403, "this account is suspended\n".into(), None));
            }
            let ip = (layer.client_ip)(&parts);
            let profile = profile(&parts, &bytes);
            let outcome = layer.shield.check(&profile, ip);
            if !outcome.detections.is_empty() {
                (layer.reporter)(outcome.detections);
            }
            match outcome.decision {
                Decision::Pass => {
                    let request = http::Request::from_parts(parts, B::from(bytes));
                    let response = inner.call(request).await?;
                    let after =
                        layer
                            .shield
                            .after_response(&profile, ip, response.status().as_u16());
                    if !after.is_empty() {
                        (layer.reporter)(after);
                    }
                    Ok(response)
                }
                Decision::Block { status, body } => {
                    Ok(plain(status, body, Some(&outcome.request_id)))
                }
                Decision::Decoy(decoy) => {
                    let mut response = http::Response::builder()
                        .status(decoy.status)
                        .header(http::header::CONTENT_TYPE, decoy.content_type);
                    if let Some(location) = decoy.location {
                        response = response.header(http::header::LOCATION, location);
                    }
                    Ok(response
                        .body(RB::from(decoy.body))
                        .unwrap_or_else(|_| plain(500, String::new(), None)))
                }
            }
        })
    }
}

/// The request as the shield sees it.
pub fn profile(parts: &http::request::Parts, body: &[u8]) -> Request {
    Request {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: crate::decode::bytes_to_text(body),
    }
}

fn plain<RB: From<String>>(
    status: u16,
    body: String,
    request_id: Option<&str>,
) -> http::Response<RB> {
    let mut response = http::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if let Some(id) = request_id {
        response = response.header("x-request-id", id);
    }
    response
        .body(RB::from(body))
        .expect("a status and plain headers always build")
}
