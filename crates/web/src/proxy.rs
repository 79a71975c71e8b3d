//! `watchpost proxy`: the shield as a reverse proxy in front of any HTTP application.
//!
//! Each request body is buffered (bounded) for inspection, then forwarded; responses stream
//! back as they come. Upgrades (WebSockets) are inspected on their handshake and then
//! passed through byte for byte. `X-Forwarded-For`/`-Proto`/`-Host` are set for the
//! upstream; forwarded headers that arrive are believed only from configured proxies.

use crate::layer::{Reporter, profile};
use crate::shield::{Decision, Shield};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

pub use watchpost_core::net::Cidr;

/// How the proxy runs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// `http://host:port` of the application (a path prefix is kept in front of every path).
    pub upstream: http::Uri,
    /// Proxies (load balancers) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Largest request body buffered and forwarded; larger ones get 413.
    pub max_buffer: usize,
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

struct Proxy {
    config: ProxyConfig,
    shield: Arc<Shield>,
    reporter: Reporter,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Serves connections from `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: ProxyConfig,
    shield: Arc<Shield>,
    reporter: Reporter,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    if config.upstream.scheme_str() != Some("http") || config.upstream.authority().is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("upstream `{}`: expected http://host:port", config.upstream),
        ));
    }
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let proxy = Arc::new(Proxy {
        config,
        shield,
        reporter,
        client,
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, Infallible>(proxy.handle(request, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
}

/// Hop-by-hop headers: about one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Proxy {
    async fn handle(
        &self,
        mut request: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> http::Response<ProxyBody> {
        let client_ip = self.client_ip(request.headers(), peer.ip());
        let upgrade = is_upgrade(request.headers());
        let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut request));
        let (parts, body) = request.into_parts();
        let bytes = if upgrade {
            Bytes::new()
        } else {
            match Limited::new(body, self.config.max_buffer).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let too_large = e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some();
                    return text(
                        if too_large { 413 } else { 400 },
                        format!("request body: {e}\n"),
                        None,
                    );
                }
            }
        };
        let inspected = profile(&parts, &bytes);
        let outcome = self.shield.check(&inspected, Some(client_ip));
        if !outcome.detections.is_empty() {
            (self.reporter)(outcome.detections);
        }
        match outcome.decision {
            Decision::Block { status, body } => {
                return text(status, body, Some(&outcome.request_id));
            }
            Decision::Decoy(decoy) => {
                let mut response = text(decoy.status, decoy.body, None);
                if let Ok(v) = HeaderValue::from_str(decoy.content_type) {
                    response.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                if let Some(location) = decoy.location {
                    response
                        .headers_mut()
                        .insert(header::LOCATION, HeaderValue::from_static(location));
                }
                return response;
            }
            Decision::Pass => {}
        }
        let forwarded = match self.upstream_request(&parts, bytes, peer.ip(), upgrade) {
            Ok(r) => r,
            Err(e) => return text(400, format!("{e}\n"), None),
        };
        let mut response = match self.client.request(forwarded).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, upstream = %self.config.upstream, "upstream request failed");
                return text(502, "upstream unavailable\n".into(), None);
            }
        };
        let after =
            self.shield
                .after_response(&inspected, Some(client_ip), response.status().as_u16());
        if !after.is_empty() {
            (self.reporter)(after);
        }
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_side) = on_upgrade {
                let upstream_side = hyper::upgrade::on(&mut response);
                tokio::spawn(async move {
                    match (client_side.await, upstream_side.await) {
                        (Ok(client), Ok(upstream)) => {
                            let mut client = TokioIo::new(client);
                            let mut upstream = TokioIo::new(upstream);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                        (c, u) => tracing::debug!(
                            client = c.is_ok(),
                            upstream = u.is_ok(),
                            "upgrade failed"
                        ),
                    }
                });
            }
            let (parts, _) = response.into_parts();
            return http::Response::from_parts(parts, empty());
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        http::Response::from_parts(parts, body.boxed())
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not one.
    fn trusted(&self, ip: IpAddr) -> bool {
        self.config.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted(ip);
        if !trusted(peer) {
            return peer;
        }
        let chain: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|p| p.trim().parse().ok())
            .collect();
        chain
            .into_iter()
            .rev()
            .find(|ip| !trusted(*ip))
            .unwrap_or(peer)
    }

    fn upstream_request(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        peer: IpAddr,
        upgrade: bool,
    ) -> Result<http::Request<Full<Bytes>>, http::Error> {
        let base = self.config.upstream.path().trim_end_matches('/');
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(
                self.config
                    .upstream
                    .authority()
                    .map_or("localhost", |a| a.as_str()),
            )
            .path_and_query(format!("{base}{path_and_query}"))
            .build()?;
        let mut headers = parts.headers.clone();
        strip_hop_by_hop(&mut headers, upgrade);
        // Each proxy appends the address its connection came from. A chain from an
        // untrusted peer could be forged, so it is replaced.
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(chain) if self.trusted(peer) => format!("{chain}, {peer}"),
            _ => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        if let Some(host) = parts.headers.get(header::HOST).cloned() {
            headers.insert(HeaderName::from_static("x-forwarded-host"), host);
        }
        let mut request = http::Request::builder()
            .method(parts.method.clone())
            .uri(uri)
            .body(Full::new(body))?;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
}

/// Removes hop-by-hop headers and those the `Connection` header names; an upgrade keeps
/// `Connection: upgrade` and `Upgrade`.
fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && t != "upgrade")
        .collect();
    let names = HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str));
    for name in names {
        if keep_upgrade && (name == "connection" || name == "upgrade") {
            continue;
        }
        headers.remove(name);
    }
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

fn text(status: u16, body: String, request_id: Option<&str>) -> http::Response<ProxyBody> {
    let mut response = http::Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let lan: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(lan.contains("10.1.2.3".parse().unwrap()));
        assert!(!lan.contains("11.0.0.1".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("example".parse::<Cidr>().is_err());
    }
}
