//! `watchpost proxy --server --token` shipping its detections to `watchpost serve`: a token
//! registered with `agent-token create`, detections delivered and listed, the sender seen
//! with its version, detections spooled while the server is down and delivered in order
//! once it is back, and a wrong token refused.

mod common;

use common::{BIN, Server, create_token, eventually, free_port, get_json, http, run};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_proxy(dir: &Path, port: u16, server: &str, token: &str) -> Proxy {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["--log-format", "plain", "proxy"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        // Nothing listens upstream: attacks are still inspected and reported (and answered 502).
        .args(["--upstream", &format!("http://127.0.0.1:{}", free_port())])
        .args(["--server", server, "--token", token])
        .args(["--spool", dir.join("spool").to_str().unwrap()])
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn proxy");
    Proxy(child)
}

/// Table names that tell the test's attacks apart.
const MARKERS: &[&str] = &["first", "second", "third", "fourth"];

async fn attack(http: &reqwest::Client, port: u16, marker: &str) {
    // Retried until the proxy listens.
    for _ in 0..200 {
        let url = format!(
            "http://127.0.0.1:{port}/search?q=1%27%20union%20select%20password%20from%20{marker}--"
        );
        if http.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("proxy did not answer");
}

async fn shipped_markers(http: &reqwest::Client, server: &Server) -> Vec<String> {
    let Ok(response) = http
        .get(server.url("/api/v1/detections?limit=500"))
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or_default();
    let mut markers: Vec<(String, String)> = body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["detector"] == "web")
        .filter_map(|d| {
            let text = d.to_string();
            let marker = MARKERS
                .iter()
                .find(|m| text.contains(&format!("from {m}--")))?;
            Some((d["id"].as_str()?.to_string(), marker.to_string()))
        })
        .collect();
    // Ids are time-ordered (UUID v7): sorting by id gives the order the proxy saw them.
    markers.sort();
    markers.dedup_by(|a, b| a.1 == b.1);
    markers.into_iter().map(|(_, m)| m).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_ships_detections_and_spools_while_the_server_is_away() {
    let dir = tempfile::tempdir().unwrap();
    let server_port = free_port();
    let mut server = Server::start_on(dir.path(), server_port);
    let token = create_token(dir.path(), "edge", "proxy");

    let proxy_port = free_port();
    let _proxy = start_proxy(dir.path(), proxy_port, &server.base, &token);
    let http = http();
    attack(&http, proxy_port, "first").await;
    eventually("the first detection reaches the server", || async {
        shipped_markers(&http, &server).await == ["first"]
    })
    .await;
    let agents: Value = get_json(&http, server.url("/api/v1/agents")).await;
    let edge = &agents["items"][0];
    assert_eq!(edge["name"], "edge");
    assert_eq!(edge["kind"], "proxy");
    assert_eq!(edge["version"], env!("CARGO_PKG_VERSION"));
    assert!(edge["last_seen"].is_string(), "{agents}");
    assert!(edge.get("secret_hash").is_none(), "the hash is never shown");

    // The server goes away: detections wait in the spool.
    assert!(server.terminate().success());
    for marker in ["second", "third", "fourth"] {
        attack(&http, proxy_port, marker).await;
    }
    eventually("the detections are spooled", || async {
        std::fs::read_dir(dir.path().join("spool"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            })
            .unwrap_or(false)
    })
    .await;

    // Back on the same address: everything arrives, in order.
    let server = Server::start_on(dir.path(), server_port);
    eventually("the spooled detections reach the server", || async {
        shipped_markers(&http, &server).await == ["first", "second", "third", "fourth"]
    })
    .await;

    // A token the server does not know is refused with a reason.
    let refused = http
        .post(server.url("/api/v1/ingest"))
        .bearer_auth("wps_nobody_0123456789abcdef0123456789abcdef")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_token");
}

#[test]
fn token_names_are_unique_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &["agent-token", "create", "--name", "web-1"]);
    assert!(first.status.success());
    let again = run(dir.path(), &["agent-token", "create", "--name", "web-1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is enrolled and not revoked"));
    let listed = run(dir.path(), &["agent-token", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("web-1") && text.contains("never"), "{text}");
    // The proxy in front of web-1's application is web-1 too (its alerts and the agent's
    // then name one host); by name alone the two are ambiguous.
    let proxy = run(
        dir.path(),
        &[
            "agent-token",
            "create",
            "--name",
            "web-1",
            "--kind",
            "proxy",
        ],
    );
    assert!(
        proxy.status.success(),
        "{}",
        String::from_utf8_lossy(&proxy.stderr)
    );
    let ambiguous = run(dir.path(), &["agent-token", "revoke", "web-1"]);
    assert!(!ambiguous.status.success());
    let said = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(
        said.contains("names 2 senders") && said.contains("give the sender's id"),
        "{said}"
    );
}
