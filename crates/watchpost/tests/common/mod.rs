//! Runs the real `watchpost` binary for end-to-end tests.

#![allow(dead_code)] // each test file uses a different part of this helper

pub mod bouncer;
pub mod browser;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_watchpost");

/// A `watchpost serve` process with its stderr captured.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// What it printed on standard output.
    pub printed: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `watchpost serve --port 0` in `dir` and waits until it listens.
    pub fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    /// Like [`Server::start`] with global flags (`--config FILE`) before the subcommand.
    pub fn start_with(dir: &Path, global: &[&str]) -> Server {
        Server::spawn(dir, global, 0)
    }

    /// Like [`Server::start`] on a given port, so that a restart keeps the address.
    pub fn start_on(dir: &Path, port: u16) -> Server {
        Server::spawn(dir, &[], port)
    }

    /// Like [`Server::start`], recording the host's process execs (off in the other
    /// helpers: every test runs processes, which would land in every server's store).
    pub fn start_recording_execs(dir: &Path) -> Server {
        Server::spawn_with(dir, &[], 0, true, false, &[])
    }

    /// Like [`Server::start`] with API authentication on, as a server runs by default
    /// (the other helpers turn it off, which the server allows on loopback, so that tests
    /// of other features need no keys; `tests/api_auth.rs` tests authentication).
    pub fn start_authenticated(dir: &Path) -> Server {
        Server::spawn_with(dir, &[], 0, false, true, &[])
    }

    /// Like [`Server::start_authenticated`] with settings given as environment variables
    /// (`WATCHPOST_API__RATE_LIMIT_PER_KEY_PER_MINUTE`, ...).
    pub fn start_authenticated_with(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::spawn_with(dir, &[], 0, false, true, env)
    }

    /// Like [`Server::start_authenticated`] with global flags (`--config FILE`).
    pub fn start_authenticated_with_flags(dir: &Path, global: &[&str]) -> Server {
        Server::spawn_with(dir, global, 0, false, true, &[])
    }

    /// The admin key the server made at its first start.
    pub fn admin_key(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("watchpost-data/admin-api-key"))
            .expect("the admin key file")
            .trim()
            .to_string()
    }

    fn spawn(dir: &Path, global: &[&str], port: u16) -> Server {
        Server::spawn_with(dir, global, port, false, false, &[])
    }

    fn spawn_with(
        dir: &Path,
        global: &[&str],
        port: u16,
        execs: bool,
        authentication: bool,
        env: &[(&str, &str)],
    ) -> Server {
        let mut child = Command::new(BIN)
            .current_dir(dir)
            .args(["--log-format", "plain"])
            .args(global)
            .args(["serve", "--port", &port.to_string()])
            .env_remove("WATCHPOST_CONFIG")
            .env("WATCHPOST_MONITORING__PROCESS_EXECS", execs.to_string())
            .env(
                "WATCHPOST_API__ENABLE_AUTHENTICATION",
                authentication.to_string(),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn watchpost");
        let stdout = child.stdout.take().expect("stdout");
        let printed = Arc::new(Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line
                    .find("listening on http://")
                    .or_else(|| line.find("listening on https://"))
                {
                    let addr = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            base,
            logs,
            printed,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the API answers to `GET path` with the API key `key`, as JSON.
    pub async fn get_json_as(&self, key: &str, path: &str) -> serde_json::Value {
        http()
            .get(self.url(path))
            .header("x-api-key", key)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// The server's Prometheus exposition.
    pub async fn metrics_text(&self) -> String {
        http()
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("the metrics")
    }

    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for the tests. The build's one TLS provider (ring) is installed first:
/// reqwest is built without its own.
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// GETs `url` and reads the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> serde_json::Value {
    http.get(url)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON answer")
}

/// Runs the binary to completion with `args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env_remove("WATCHPOST_CONFIG")
        .output()
        .expect("run watchpost")
}

/// Registers a sender with `watchpost agent-token create` in `dir` and returns its token.
pub fn create_token(dir: &Path, name: &str, kind: &str) -> String {
    let created = run(
        dir,
        &["agent-token", "create", "--name", name, "--kind", kind],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.starts_with("wps_"), "{token}");
    token
}

/// Polls `check` every 50 ms for up to ten seconds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn data_db(dir: &Path) -> PathBuf {
    dir.join("watchpost-data").join("watchpost.db")
}
