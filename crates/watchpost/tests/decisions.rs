//! Decisions end to end: an analyst bans an address through the API; guards refuse
//! loopback, allowlisted, protected and the server's own addresses; a bouncer key reads the
//! CrowdSec decision stream and nothing else; and the real `crowdsec-firewall-bouncer`
//! (Debian's package) puts Watchpost's bans into its nftables sets and takes them out when
//! they are lifted or expire.

mod common;

use common::bouncer::{Bouncer, nft_set};
use common::{BIN, Server, create_token, eventually, free_port, get_json, http};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};

async fn decide(http: &reqwest::Client, server: &Server, body: Value) -> (u16, Value) {
    let response = http
        .post(server.url("/api/v1/decisions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn stream(http: &reqwest::Client, server: &Server, key: &str, query: &str) -> (u16, Value) {
    let response = http
        .get(server.url(&format!("/v1/decisions/stream{query}")))
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn with_config(dir: &Path, text: &str) -> Server {
    let config = dir.join("watchpost.toml");
    std::fs::write(&config, text).unwrap();
    Server::start_with(dir, &["--config", config.to_str().unwrap()])
}

/// A non-loopback IPv4 address of this machine, when it has one.
fn own_address() -> Option<String> {
    watchpost_response::own_addresses::read()
        .into_iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .map(|ip| ip.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_guarded_and_streamed_to_bouncer_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_config(
        dir.path(),
        "[response]\nallowlist = [\"198.51.100.0/24\"]\nprotected = [\"10.20.0.0/16\"]\n",
    );
    let http = http();

    // Guards: each refusal says what it protects.
    let mut refused = vec![
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("198.51.100.7", "allowlisted"),
        ("10.20.30.0/24", "protected"),
        ("0.0.0.0/0", "wider"),
    ];
    let own = own_address();
    if let Some(own) = &own {
        refused.push((own, "this server"));
    }
    for (value, why) in refused {
        let (status, body) = decide(
            &http,
            &server,
            json!({"value": value, "duration": "1h", "reason": "guard test"}),
        )
        .await;
        assert_eq!(status, 422, "{value}: {body}");
        assert_eq!(body["error"]["code"], "decision_refused");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{value}: {message}");
    }
    let (status, body) = decide(
        &http,
        &server,
        json!({"value": "203.0.113.7", "duration": "forever", "reason": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["parameter"], "duration", "{body}");

    // A ban: listed, enforced by the server's own web shield.
    let (status, made) = decide(
        &http,
        &server,
        json!({"value": "203.0.113.7", "duration": "4h", "reason": "SQL injection"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["in_force"], true);
    let id = made["id"].as_i64().unwrap();
    let (_, simulated) = decide(
        &http,
        &server,
        json!({"value": "203.0.113.8", "duration": "4h", "reason": "would have", "simulated": true}),
    )
    .await;
    assert_eq!(simulated["simulated"], true);
    let listed = get_json(&http, server.url("/api/v1/decisions?state=in_force")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    let verdict: Value = http
        .post(server.url("/api/v1/ids/analyze"))
        .json(&json!({"method": "GET", "path": "/", "client_ip": "203.0.113.7"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["decision"]["action"], "block", "{verdict}");

    // Keys: none, an agent's, then a bouncer's.
    let (status, body) = stream(&http, &server, "", "?startup=true").await;
    assert_eq!(status, 403);
    assert!(
        body["message"].is_string(),
        "CrowdSec clients read `message`: {body}"
    );
    let agent = create_token(dir.path(), "host-1", "agent");
    let (status, body) = stream(&http, &server, &agent, "?startup=true").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("wrong_sender_kind"))
    );
    let bouncer = create_token(dir.path(), "fw-1", "bouncer");
    let (status, body) = stream(&http, &server, &bouncer, "?startup=true").await;
    assert_eq!(status, 200, "{body}");
    let new = body["new"].as_array().unwrap();
    assert_eq!(new.len(), 1, "the simulated decision is not served: {body}");
    assert_eq!(new[0]["value"], "203.0.113.7");
    assert_eq!(new[0]["scope"], "Ip");
    assert_eq!(new[0]["type"], "ban");
    assert_eq!(new[0]["origin"], "watchpost");
    assert!(
        new[0]["duration"].as_str().unwrap().starts_with("3h59m"),
        "{body}"
    );
    let (_, quiet) = stream(&http, &server, &bouncer, "?startup=false").await;
    assert_eq!(quiet["deleted"], json!([]));

    // Live-mode lookups: an array, or null.
    let found: Value = http
        .get(server.url("/v1/decisions?ip=203.0.113.7"))
        .header("X-Api-Key", &bouncer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found[0]["value"], "203.0.113.7");
    let none = http
        .get(server.url("/v1/decisions?ip=192.0.2.1"))
        .header("X-Api-Key", &bouncer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(none, "null");

    // A bouncer key ships nothing.
    let shipped = http
        .post(server.url("/api/v1/ingest"))
        .bearer_auth(&bouncer)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), 403);

    // Lifted: the next poll says so, and the web shield lets the address through.
    let lifted = http
        .delete(server.url(&format!("/api/v1/decisions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 200);
    let (_, after) = stream(&http, &server, &bouncer, "?startup=false").await;
    assert_eq!(after["deleted"][0]["value"], "203.0.113.7", "{after}");
    let again = http
        .delete(server.url(&format!("/api/v1/decisions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let agents = get_json(&http, server.url("/api/v1/agents")).await;
    let fw = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "fw-1")
        .unwrap();
    assert!(
        fw["last_seen"].is_string(),
        "a bouncer's polls are recorded: {fw}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crowdsec_firewall_bouncer_enforces_watchpost_decisions() {
    let root = unsafe { libc::geteuid() } == 0;
    let present = Command::new("crowdsec-firewall-bouncer")
        .arg("-V")
        .output()
        .is_ok();
    if !root || !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs this test as root with crowdsec-firewall-bouncer installed"
        );
        eprintln!(
            "skipped: needs root and crowdsec-firewall-bouncer (apt-get install crowdsec-firewall-bouncer nftables)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let key = create_token(dir.path(), "firewall", "bouncer");
    let table = format!("wp_test_{}", std::process::id());
    let _bouncer = Bouncer::start(dir.path(), &server.base, &key, &table);
    let http = http();
    let (status, made) = decide(
        &http,
        &server,
        json!({"value": "203.0.113.77", "duration": "1h", "reason": "bouncer test"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    eventually("the ban is in the bouncer's nftables set", || async {
        nft_set(&table).contains("203.0.113.77")
    })
    .await;
    // The element carries the decision's time to live.
    assert!(
        nft_set(&table).contains("timeout 59m"),
        "{}",
        nft_set(&table)
    );

    let id = made["id"].as_i64().unwrap();
    http.delete(server.url(&format!("/api/v1/decisions/{id}")))
        .send()
        .await
        .unwrap();
    eventually("the lifted ban leaves the set", || async {
        !nft_set(&table).contains("203.0.113.77")
    })
    .await;

    // A short ban ends by itself.
    decide(
        &http,
        &server,
        json!({"value": "203.0.113.78", "duration": "4s", "reason": "short"}),
    )
    .await;
    eventually("the short ban is applied", || async {
        nft_set(&table).contains("203.0.113.78")
    })
    .await;
    eventually("the short ban expires", || async {
        !nft_set(&table).contains("203.0.113.78")
    })
    .await;
}

/// The proxy process, killed when dropped.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn through_proxy(http: &reqwest::Client, port: u16, client_ip: &str) -> u16 {
    match http
        .get(format!("http://127.0.0.1:{port}/products"))
        .header("X-Forwarded-For", client_ip)
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_enforces_the_servers_address_bans() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let token = create_token(dir.path(), "edge", "proxy");
    let port = free_port();
    let _proxy = Proxy(
        Command::new(BIN)
            .current_dir(dir.path())
            .args(["--log-format", "plain", "proxy"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // Nothing listens upstream: a request let through is answered 502.
            .args(["--upstream", &format!("http://127.0.0.1:{}", free_port())])
            .args(["--trusted-proxy", "127.0.0.1/32"])
            .args(["--server", &server.base, "--token", &token])
            .args(["--decisions-every", "1"])
            .args(["--spool", dir.path().join("spool").to_str().unwrap()])
            .env_remove("WATCHPOST_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = http();
    eventually("the proxy lets the client through", || async {
        through_proxy(&http, port, "203.0.113.50").await == 502
    })
    .await;
    let (status, made) = decide(
        &http,
        &server,
        json!({"value": "203.0.113.50", "duration": "1h", "reason": "credential stuffing"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    eventually("the proxy refuses the banned client", || async {
        through_proxy(&http, port, "203.0.113.50").await == 403
    })
    .await;
    assert_eq!(
        through_proxy(&http, port, "203.0.113.51").await,
        502,
        "others pass"
    );
    let id = made["id"].as_i64().unwrap();
    http.delete(server.url(&format!("/api/v1/decisions/{id}")))
        .send()
        .await
        .unwrap();
    eventually("the lifted ban no longer holds at the proxy", || async {
        through_proxy(&http, port, "203.0.113.50").await == 502
    })
    .await;
}
