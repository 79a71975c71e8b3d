//! The live stream: `GET /api/v1/stream?topics=alerts,detections` upgrades to a WebSocket
//! and pushes each change as it happens, as text frames `{"topic": …, "data": …}`.
//!
//! Topics: `alerts` (an alert opened, grew or changed status), `detections` (stored),
//! `incidents`, `metrics` (host metric samples, the server's own and the agents'),
//! `agents` (a sender shipped a batch). Every client reads from one bounded broadcast
//! ring; a client that falls [`BACKLOG`] messages behind, or does not take a frame within
//! [`WRITE_TIMEOUT`], is closed with code 1013 and the reason, so a slow reader costs
//! no memory beyond the ring. Browsers, which cannot set headers on a WebSocket, send
//! the API key as a subprotocol: `new WebSocket(url, ["watchpost", key])`.

pub mod websocket;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use websocket::{ClientFrame, ReadError, close};

/// What the stream offers.
pub const TOPICS: &[&str] = &[
    "alerts",
    "detections",
    "incidents",
    "actions",
    "metrics",
    "agents",
];
/// Messages a client may fall behind before it is closed.
pub const BACKLOG: usize = 1024;
/// Longest a client may take to accept one frame.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Clients connected at once, at most.
const MAX_CLIENTS: usize = 1000;
/// Clients one key (or, with authentication off, everyone) may have connected at once:
/// one leaked viewer key cannot take every slot.
pub const MAX_CLIENTS_PER_KEY: usize = MAX_CLIENTS / 8;
/// Frame opcodes written.
const TEXT: u8 = 0x1;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
/// A ping this often keeps idle connections (and proxies) awake and finds dead ones.
const PING_EVERY: Duration = Duration::from_secs(30);

/// One change, serialised once for every client.
#[derive(Debug)]
pub struct Message {
    pub topic: &'static str,
    pub text: String,
}

/// Where changes are published; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<Message>>,
    clients: Arc<AtomicUsize>,
    /// Clients connected per key id.
    per_key: Arc<std::sync::Mutex<HashMap<String, usize>>>,
}

impl Default for Hub {
    fn default() -> Hub {
        let (tx, _) = broadcast::channel(BACKLOG);
        Hub {
            tx,
            clients: Arc::new(AtomicUsize::new(0)),
            per_key: Default::default(),
        }
    }
}

impl Hub {
    /// Sends `data` to every client subscribed to `topic` (nothing when none listens).
    pub fn publish(&self, topic: &'static str, data: &impl Serialize) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let text = serde_json::json!({ "topic": topic, "data": data }).to_string();
        let _ = self.tx.send(Arc::new(Message { topic, text }));
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}

/// `GET /api/v1/stream`: checks the upgrade request and hands the connection to a task.
pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    let key = request
        .extensions()
        .get::<crate::auth::middleware::Principal>()
        .and_then(|p| p.key_id.clone())
        .unwrap_or_default();
    match upgrade(&state, &query, request, key) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn upgrade(
    state: &AppState,
    query: &HashMap<String, String>,
    mut request: Request,
    holder: String,
) -> Result<Response, ApiError> {
    let headers = request.headers();
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_websocket",
            "this endpoint is a WebSocket: send `Connection: Upgrade` and `Upgrade: websocket`",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_websocket",
            "only WebSocket version 13 is spoken (Sec-WebSocket-Version: 13)",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "not_a_websocket",
                "the Sec-WebSocket-Key header is missing",
            )
        })?;
    let accept = websocket::accept_value(key);
    let offered_protocol = has(header::SEC_WEBSOCKET_PROTOCOL, "watchpost");
    let topics = topics(query.get("topics").map(String::as_str))?;
    if state.hub.clients() >= MAX_CLIENTS {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            format!("{MAX_CLIENTS} streams are open; try again later"),
        ));
    }
    {
        let mut per_key = state.hub.per_key.lock().expect("not poisoned");
        let held = per_key.entry(holder.clone()).or_default();
        if *held >= MAX_CLIENTS_PER_KEY {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "this key has {MAX_CLIENTS_PER_KEY} streams open, its share; close one first"
                ),
            ));
        }
        *held += 1;
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let receiver = state.hub.tx.subscribe();
    let clients = state.hub.clients.clone();
    let per_key = state.hub.per_key.clone();
    clients.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => serve(TokioIo::new(upgraded), receiver, topics).await,
            Err(e) => tracing::debug!(error = %e, "stream upgrade failed"),
        }
        clients.fetch_sub(1, Ordering::Relaxed);
        let mut per_key = per_key.lock().expect("not poisoned");
        if let Some(held) = per_key.get_mut(&holder) {
            *held -= 1;
            if *held == 0 {
                per_key.remove(&holder);
            }
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let out: &mut HeaderMap = response.headers_mut();
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a header value"),
    );
    if offered_protocol {
        out.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("watchpost"),
        );
    }
    Ok(response)
}

/// The topics asked for (all when none is given), or which one is unknown.
fn topics(text: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(TOPICS.to_vec());
    };
    text.split(',')
        .map(|t| {
            TOPICS
                .iter()
                .copied()
                .find(|known| *known == t.trim())
                .ok_or_else(|| {
                    ApiError::invalid_parameter(
                        "topics",
                        format!("unknown topic `{t}`: expected {}", TOPICS.join(", ")),
                    )
                })
        })
        .collect()
}

/// Pushes messages to one client until it leaves, breaks the protocol or falls behind.
async fn serve<S>(io: S, mut messages: broadcast::Receiver<Arc<Message>>, topics: Vec<&'static str>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    // Frames are read on their own task: a read cut off half way would lose the frame.
    let (frames_tx, mut frames) = mpsc::channel(8);
    let reading = tokio::spawn(async move {
        loop {
            let frame = websocket::read_frame(&mut reader).await;
            let stop = frame.is_err() || matches!(frame, Ok(ClientFrame::Close));
            if frames_tx.send(frame).await.is_err() || stop {
                return;
            }
        }
    });
    let hello = serde_json::json!({"topic": "hello", "data": {"topics": topics}}).to_string();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let outcome = if send(&mut writer, TEXT, hello.as_bytes()).await.is_err() {
        None
    } else {
        loop {
            tokio::select! {
                message = messages.recv() => match message {
                    Ok(message) if topics.contains(&message.topic) => {
                        let written = send(&mut writer, TEXT, message.text.as_bytes()).await;
                        if let Err(why) = written {
                            break Some((close::TRY_AGAIN_LATER, why));
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        break Some((close::TRY_AGAIN_LATER, format!("too slow: {missed} messages behind; reconnect")));
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        break Some((close::NORMAL, "the server is stopping".into()));
                    }
                },
                frame = frames.recv() => match frame {
                    Some(Ok(ClientFrame::Ping(payload))) => {
                        if send(&mut writer, PONG, &payload).await.is_err() {
                            break None;
                        }
                    }
                    Some(Ok(ClientFrame::Close)) => break Some((close::NORMAL, String::new())),
                    Some(Ok(_)) => {}
                    Some(Err(ReadError::TooBig(n))) => break Some((close::TOO_BIG, format!("a {n}-byte frame is too big"))),
                    Some(Err(ReadError::Protocol(why))) => break Some((close::PROTOCOL_ERROR, why.into())),
                    Some(Err(ReadError::Io(_))) | None => break None,
                },
                _ = ping.tick() => {
                    if send(&mut writer, PING, b"").await.is_err() {
                        break None;
                    }
                }
            }
        }
    };
    if let Some((code, reason)) = outcome {
        if code != close::NORMAL {
            tracing::info!(code, reason = %reason, "closing a stream client");
        }
        let _ = tokio::time::timeout(
            WRITE_TIMEOUT,
            websocket::write_close(&mut writer, code, &reason),
        )
        .await;
    }
    reading.abort();
}

/// Writes one frame within [`WRITE_TIMEOUT`]; the reason to close when it fails.
async fn send<W>(writer: &mut W, opcode: u8, payload: &[u8]) -> Result<(), String>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    match tokio::time::timeout(
        WRITE_TIMEOUT,
        websocket::write_frame(writer, opcode, payload),
    )
    .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err(format!(
            "too slow: a frame was not taken within {} s",
            WRITE_TIMEOUT.as_secs()
        )),
    }
}
