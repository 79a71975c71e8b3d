//! A real `watchpost serve` process: started with settings as environment variables,
//! stopped cleanly or killed outright.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server.
pub struct Server {
    child: Child,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    /// From spawning to listening.
    pub started_in: Duration,
}

/// How to start servers: the binary and the settings every run shares.
#[derive(Clone)]
pub struct Launcher {
    pub binary: PathBuf,
}

impl Launcher {
    /// Starts `watchpost serve` in `dir` with `settings` (`("storage.data_dir", "…")`
    /// becomes `WATCHPOST_STORAGE__DATA_DIR`), waiting up to `patience` for it to listen.
    pub fn start(
        &self,
        dir: &Path,
        settings: &[(&str, String)],
        patience: Duration,
    ) -> anyhow::Result<Server> {
        self.spawn(dir, None, 0, settings, patience)
    }

    /// Like [`Launcher::start`] on a given port, so a sender finds a restarted server where
    /// it left it.
    pub fn start_on(
        &self,
        dir: &Path,
        port: u16,
        settings: &[(&str, String)],
        patience: Duration,
    ) -> anyhow::Result<Server> {
        self.spawn(dir, None, port, settings, patience)
    }

    /// Like [`Launcher::start`] with a configuration file (channels and routes).
    pub fn start_with_config(
        &self,
        dir: &Path,
        config: &Path,
        settings: &[(&str, String)],
        patience: Duration,
    ) -> anyhow::Result<Server> {
        self.spawn(dir, Some(config), 0, settings, patience)
    }

    fn spawn(
        &self,
        dir: &Path,
        config: Option<&Path>,
        port: u16,
        settings: &[(&str, String)],
        patience: Duration,
    ) -> anyhow::Result<Server> {
        let mut command = Command::new(&self.binary);
        command.current_dir(dir).args(["--log-format", "plain"]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        command
            .args(["serve", "--port", &port.to_string()])
            .env_remove("WATCHPOST_CONFIG")
            .env("WATCHPOST_API__ENABLE_AUTHENTICATION", "false")
            .env("WATCHPOST_API__ENABLE_RATE_LIMITING", "false")
            .env("WATCHPOST_MONITORING__ENABLED", "false")
            .env("WATCHPOST_MONITORING__PROCESS_EXECS", "false")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in settings {
            let name = format!("WATCHPOST_{}", key.to_uppercase().replacen('.', "__", 1));
            command.env(name, value);
        }
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let stderr = child.stderr.take().context("the server's stderr")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
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
        match rx.recv_timeout(patience) {
            Ok(base) => Ok(Server {
                child,
                base,
                logs,
                started_in: started.elapsed(),
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "the server did not listen within {patience:?}; its log ends:\n{}",
                    tail(&logs.lock().unwrap(), 20)
                )
            }
        }
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no shutdown, no last checkpoint.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and waits for the exit (queued events are written first).
    pub fn stop(mut self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        bail!("the server did not stop within two minutes of SIGTERM")
    }

    /// Whether a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}
