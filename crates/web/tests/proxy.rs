//! `watchpost proxy` in front of real loopback upstreams: forwarding, forwarded headers,
//! blocking, decoys, streamed responses, upgrades passed through, and an upstream that is
//! down.

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use watchpost_core::Detection;
use watchpost_web::blocklist::Blocklist;
use watchpost_web::proxy::{ProxyConfig, serve};
use watchpost_web::shield::{Action, RoutePolicy};
use watchpost_web::{Engine, Policy, Shield};

/// An HTTP client for the tests. The build's one TLS provider (ring) is installed first:
/// reqwest is built without its own.
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn upstream() -> SocketAddr {
    let app = Router::new()
        .route(
            "/headers",
            get(|headers: axum::http::HeaderMap| async move {
                let get = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                format!(
                    "xff={}|proto={}|fhost={}|conn={}",
                    get("x-forwarded-for"),
                    get("x-forwarded-proto"),
                    get("x-forwarded-host"),
                    get("proxy-connection")
                )
            }),
        )
        .route("/api/echo", post(|body: Bytes| async move { body }))
        .route("/big", get(|| async { vec![b'x'; 1 << 20] }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// An upstream that accepts any upgrade and then echoes bytes back.
async fn upgrade_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |mut req: hyper::Request<hyper::body::Incoming>| async move {
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            if let Ok(upgraded) = on.await {
                                let mut io = hyper_util::rt::TokioIo::new(upgraded);
                                let mut buf = [0u8; 64];
                                while let Ok(n) = io.read(&mut buf).await {
                                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        });
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(101)
                                .header("connection", "upgrade")
                                .header("upgrade", "echo")
                                .body(http_body_util::Empty::<Bytes>::new())
                                .unwrap(),
                        )
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

struct Running {
    base: String,
    addr: SocketAddr,
    detections: Arc<Mutex<Vec<Detection>>>,
}

async fn proxy(upstream: SocketAddr, trusted: &[&str]) -> Running {
    let policy = Policy {
        routes: vec![RoutePolicy {
            prefix: "/api/".into(),
            action: Some(Action::Block),
            exclusions: Vec::new(),
        }],
        ..Policy::default()
    };
    let shield = Arc::new(Shield::new(
        Engine::default(),
        policy,
        Arc::new(Blocklist::default()),
    ));
    let detections = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&detections);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ProxyConfig {
        upstream: format!("http://{upstream}").parse().unwrap(),
        trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        max_buffer: 1 << 20,
    };
    tokio::spawn(async move {
        serve(
            listener,
            config,
            shield,
            Arc::new(move |d: Vec<Detection>| sink.lock().unwrap().extend(d)),
            std::future::pending(),
        )
        .await
        .unwrap()
    });
    Running {
        base: format!("http://{addr}"),
        addr,
        detections,
    }
}

#[tokio::test]
async fn forwards_inspects_blocks_and_streams() {
    let up = upstream().await;
    let p = proxy(up, &[]).await;
    let http = http();

    let echo = http
        .get(format!("{}/headers?x=1", p.base))
        .header("x-forwarded-for", "198.51.100.1")
        .header("proxy-connection", "keep-alive")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    // A chain from an untrusted client is replaced; hop-by-hop headers are dropped.
    let text = echo.text().await.unwrap();
    assert_eq!(
        text,
        format!("xff=127.0.0.1|proto=http|fhost={}|conn=", p.addr)
    );

    let body = "{\"comment\": \"fits well; would buy again\"}";
    let ok = http
        .post(format!("{}/api/echo", p.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), body);

    let blocked = http
        .post(format!("{}/api/echo", p.base))
        .body("q=1%27%20union%20select%20password%20from%20users--")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
    assert!(blocked.headers().contains_key("x-request-id"));
    {
        let found = p.detections.lock().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule_id, "sqli.union_select");
    }

    let decoy = http.get(format!("{}/.env", p.base)).send().await.unwrap();
    assert_eq!(decoy.status(), 200);
    assert!(decoy.text().await.unwrap().contains("APP_KEY="));

    let big = http.get(format!("{}/big", p.base)).send().await.unwrap();
    assert_eq!(big.bytes().await.unwrap().len(), 1 << 20);

    let too_big = http
        .post(format!("{}/api/echo", p.base))
        .body(vec![b'a'; (1 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
}

#[tokio::test]
async fn forwarded_headers_are_believed_only_from_trusted_proxies() {
    let up = upstream().await;
    let p = proxy(up, &["127.0.0.1/32"]).await;
    let http = http();
    let echo = http
        .get(format!("{}/headers", p.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(
        echo.text().await.unwrap().split('|').next().unwrap(),
        "xff=203.0.113.9, 127.0.0.1"
    );
    // The client behind the trusted proxy is the one inspected and reported.
    http.get(format!("{}/.git/config", p.base))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    let found = p.detections.lock().unwrap();
    assert_eq!(found[0].evidence["fingerprint"]["ip"], "203.0.113.9");
}

#[tokio::test]
async fn upgrades_pass_through_and_a_dead_upstream_is_a_502() {
    let up = upgrade_upstream().await;
    let p = proxy(up, &[]).await;
    let mut stream = tokio::net::TcpStream::connect(p.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"ping over the tunnel").await.unwrap();
    let mut echoed = vec![0u8; 20];
    stream.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, b"ping over the tunnel");

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let p = proxy(dead, &[]).await;
    let resp = reqwest::get(format!("{}/anything", p.base)).await.unwrap();
    assert_eq!(resp.status(), 502);
}

/// An upstream that counts the connections it accepts and answers one request on each
/// (then hangs up without saying so) or keeps every connection open.
async fn counting_upstream(one_request_per_connection: bool) -> (SocketAddr, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            *count.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        request.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                        if one_request_per_connection {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Sends `count` GETs one after another on one client connection; returns the statuses.
async fn on_one_connection(proxy: SocketAddr, count: usize) -> Vec<String> {
    let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..count {
        let request = format!("GET /item/{i} HTTP/1.1\r\nHost: shop.example\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let mut buf = [0u8; 1024];
        while !response.ends_with(b"\r\n\r\nok") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the proxy closed the connection after {i} responses");
            response.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&response).to_string();
        statuses.push(head.lines().next().unwrap_or_default().to_string());
    }
    statuses
}

#[tokio::test]
async fn kept_upstream_connections_are_reused_and_closed_ones_reopened() {
    let ok = vec!["HTTP/1.1 200 OK".to_string(); 5];

    let (kept, accepted) = counting_upstream(false).await;
    let p = proxy(kept, &[]).await;
    assert_eq!(on_one_connection(p.addr, 5).await, ok);
    assert_eq!(*accepted.lock().unwrap(), 1);

    // The application hangs up after each response, without `Connection: close`: every
    // request still gets through, on a new connection.
    let (closing, accepted) = counting_upstream(true).await;
    let p = proxy(closing, &[]).await;
    assert_eq!(on_one_connection(p.addr, 5).await, ok);
    assert_eq!(*accepted.lock().unwrap(), 5);
}
