//! The server's accept loop, for plain HTTP and HTTPS alike: each connection is served on
//! its own task (a TLS handshake first, within a time limit, so that a slow or broken
//! client holds up nobody), with request heads bounded in size, and upgrades (the live
//! stream's WebSocket) allowed. On shutdown the listener closes and open connections
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

/// A client must finish its TLS handshake within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers) read; a larger one is answered 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long open connections get to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener`, over TLS when `tls` is given, until `shutdown` completes,
/// then lets open connections finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
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
        let (acceptor, app, stopped) = (acceptor.clone(), app.clone(), stopped.clone());
        connections.spawn(async move {
            let Some(acceptor) = acceptor else {
                return connection(tcp, peer, app, stopped).await;
            };
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => connection(tls, peer, app, stopped).await,
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

/// Serves one connection's requests until it closes, or ends it gracefully on shutdown.
async fn connection<IO>(
    io: IO,
    peer: SocketAddr,
    app: Router,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let app = app.clone();
            async move {
                if head_bytes(&request) > MAX_HEAD_BYTES {
                    return Ok(head_too_large());
                }
                app.oneshot(request.map(axum::body::Body::new)).await
            }
        });
    // hyper's own bound on its read buffer keeps a connection's memory in check (it reads
    // up to twice this before giving up); the exact limit is checked above.
    let connection = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = stopped.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
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
