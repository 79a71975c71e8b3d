//! The server's accept loop, for plain HTTP and HTTPS alike: each connection is served on
//! its own task (a TLS handshake first, within a time limit, so that a slow or broken
//! client holds up nobody), with request heads bounded in size, and upgrades (the live
//! stream's WebSocket) allowed. Connections are counted and capped ([`Connections`]);
//! one that takes too long to send a request head, or to send a body, or waits too long
//! for its next request, is closed. On shutdown the listener closes and open connections
//! finish their requests, for a while.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::ServiceExt;

use crate::connections::{Admitted, Connections};

/// The bounds on connections, from `[api]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    pub fn from_config(api: &watchpost_config::ApiConfig) -> Limits {
        Limits {
            max_connections: crate::connections::fit_to_descriptors(api.max_connections),
            max_connections_per_ip: api.max_connections_per_ip,
            header_read_timeout: Duration::from_secs(api.header_read_timeout_seconds),
            body_read_timeout: Duration::from_secs(api.body_read_timeout_seconds),
            idle_timeout: Duration::from_secs(api.idle_timeout_seconds),
        }
    }
}

/// A client must finish its TLS handshake within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) read; a larger one is answered 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long an evicted or overstaying connection gets to finish writing an answer.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// How long open connections get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener`, over TLS when `tls` is given, until `shutdown` completes,
/// then lets open connections finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: Limits,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let table = Connections::new(limits.max_connections, limits.max_connections_per_ip);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = table.admit(peer.ip()) else {
            // Every connection in the way is in the middle of a request: refuse this one.
            metrics.refusal("connection_cap", 1);
            drop(tcp);
            continue;
        };
        let (acceptor, app, stopped) = (acceptor.clone(), app.clone(), stopped.clone());
        connections.spawn(async move {
            let Some(acceptor) = acceptor else {
                return connection(tcp, peer, app, stopped, admitted, limits).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => connection(tls, peer, app, stopped, admitted, limits).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
        // Finished connections are reaped as we go, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(())
}

/// Serves one connection's requests until it closes, it is evicted or overstays a
/// timeout, or ends it gracefully on shutdown.
async fn connection<IO>(
    io: IO,
    peer: SocketAddr,
    app: Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
    admitted: Admitted,
    limits: Limits,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slot = admitted.slot.clone();
    let service_slot = slot.clone();
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            let slot = service_slot.clone();
            slot.begin();
            async move {
                if head_bytes(&request) > MAX_HEAD_BYTES {
                    slot.end();
                    return Ok(head_too_large());
                }
                let request = request.map(|body| {
                    axum::body::Body::new(Deadline::new(body, limits.body_read_timeout))
                });
                let response = app.oneshot(request).await;
                slot.end();
                response
            }
        });
    // hyper's own bound on its read buffer keeps a connection's memory in check (it reads
    // up to twice this before giving up); the exact limit is checked above.
    let connection = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    loop {
        // Sleep until this connection would overstay its time to send a request (while
        // it is busy, look again a head-read timeout later), not on a fixed tick.
        let look_again = match slot.waiting() {
            Some((waited, served)) => {
                let limit = if served {
                    limits.idle_timeout
                } else {
                    limits.header_read_timeout
                };
                if waited >= limit {
                    tracing::debug!(%peer, "connection closed: no request within its time");
                    break;
                }
                limit - waited
            }
            None => limits.header_read_timeout,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopped.changed() => {
                // Shutting down: the request in flight finishes (the accept loop bounds
                // the wait for all connections).
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
                return;
            }
            () = slot.evicted.notified() => {
                tracing::debug!(%peer, "connection closed to make room for another");
                break;
            }
            () = tokio::time::sleep(look_again) => {}
        }
    }
    // Evicted or overstayed: no request is in progress, at most an answer still being
    // read. A moment to finish it, then the socket goes (a half-sent head would
    // otherwise hold it as long as its sender likes).
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
    drop(admitted);
}

/// Why reading a request body failed: it did not arrive within
/// `api.body_read_timeout_seconds` (handlers answer 408).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time (api.body_read_timeout_seconds)")]
pub struct BodyTimeout;

/// A request body that must arrive whole within a time: past it, reading fails with
/// [`BodyTimeout`] and the connection's slot is no longer held by a client sending one
/// byte a minute.
struct Deadline<B> {
    inner: B,
    expires: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> Deadline<B> {
    fn new(inner: B, within: Duration) -> Deadline<B> {
        Deadline {
            inner,
            expires: Box::pin(tokio::time::sleep(within)),
        }
    }
}

impl<B> http_body::Body for Deadline<B>
where
    B: http_body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<axum::body::Bytes>, Self::Error>>> {
        use std::future::Future;
        use std::task::Poll;
        if let Poll::Ready(frame) = std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.expires.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The size of a request's head as sent: request line and header lines.
fn head_bytes<B>(request: &hyper::Request<B>) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len()
        + 1;
    request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + ": ".len() + value.len() + "\r\n".len())
        .sum::<usize>()
        + line
}

fn head_too_large() -> axum::response::Response {
    use axum::response::IntoResponse;
    crate::error::ApiError::new(
        axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "head_too_large",
        format!("the request line and headers exceed {MAX_HEAD_BYTES} bytes"),
    )
    .into_response()
}
