//! An agent with `--respond` carries out the host actions the server queues for its host
//! (kill a process tree, quarantine a file, lock an account, isolate the host), over the
//! same link and token it ships with: it long-polls `GET /api/v1/agent/actions`, does each
//! action (or its undo) in order, and reports each result to
//! `POST /api/v1/agent/actions/{id}/result`.
//!
//! The server decides for which host an action is from the token, never from the request,
//! so an agent only ever sees its own host's actions.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use watchpost_core::{Action, ActionKind};
use watchpost_host::respond::HostActions;

/// How long one poll waits on the server for work.
const WAIT_SECONDS: u64 = 25;
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 4 << 20;

#[derive(Deserialize)]
struct Queued {
    items: Vec<Action>,
}

/// Follows the server's queue for this host until the process ends.
pub fn follow(server: String, token: String, quarantine_dir: PathBuf) {
    tokio::spawn(async move {
        let client = match watchpost_notify::http::client(Duration::from_secs(WAIT_SECONDS + 15)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "host actions will not be carried out: no HTTP client");
                return;
            }
        };
        let base = server.trim_end_matches('/').to_string();
        tracing::info!(quarantine = %quarantine_dir.display(), "carrying out the server's host actions");
        loop {
            match poll(&client, &base, &token).await {
                Ok(actions) => {
                    for action in actions {
                        let host_actions = HostActions {
                            quarantine_dir: quarantine_dir.clone(),
                            server: if action.kind == ActionKind::IsolateHost {
                                server_addresses(&base).await
                            } else {
                                Vec::new()
                            },
                        };
                        let id = action.id;
                        let result =
                            tokio::task::spawn_blocking(move || host_actions.carry_out(&action))
                                .await
                                .unwrap_or_else(|e| watchpost_core::ActionResult {
                                    ok: false,
                                    message: format!("the action panicked: {e}"),
                                    undo: serde_json::Value::Null,
                                });
                        tracing::info!(%id, ok = result.ok, message = %result.message, "host action carried out");
                        if let Err(e) = report(&client, &base, &token, id, &result).await {
                            tracing::warn!(%id, error = %e, "a host action's result could not be reported");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the server's host actions could not be read; retrying");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    });
}

async fn poll(client: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<Vec<Action>> {
    let response = client
        .get(format!("{base}/api/v1/agent/actions?wait={WAIT_SECONDS}"))
        .bearer_auth(token)
        .send()
        .await?;
    let body = crate::http_read::bounded_success(response, MAX_ANSWER_BYTES).await?;
    Ok(serde_json::from_slice::<Queued>(&body)?.items)
}

/// Reports a result; retried for a minute, since the action was done either way.
async fn report(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: uuid::Uuid,
    result: &watchpost_core::ActionResult,
) -> anyhow::Result<()> {
    let mut last = None;
    for attempt in 0..12u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        match client
            .post(format!("{base}/api/v1/agent/actions/{id}/result"))
            .bearer_auth(token)
            .json(result)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => return Ok(()),
            // Refused for good (the action was undone or rejected meanwhile).
            Ok(r) if r.status().is_client_error() => {
                anyhow::bail!("{}: {}", r.status(), r.text().await.unwrap_or_default())
            }
            Ok(r) => last = Some(anyhow::anyhow!("{}", r.status())),
            Err(e) => last = Some(e.into()),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("not reported")))
}

/// The server's addresses and port, which isolation keeps reachable.
async fn server_addresses(base: &str) -> Vec<SocketAddr> {
    let Ok(url) = reqwest::Url::parse(base) else {
        return Vec::new();
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Vec::new();
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            tracing::warn!(error = %e, %host, "the server's address could not be resolved");
            Vec::new()
        }
    }
}
