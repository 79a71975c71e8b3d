//! `watchpost alerts ack|resolve|reopen|false-positive ID` and `watchpost alerts silence
//! add|list|expire`: the same decisions as the API, made through the running server's API
//! so that its pipeline hears of them at once (acknowledged notices go out, escalation
//! stops, a silence holds the next notice).
//!
//! The server is `--server URL`, `WATCHPOST_SERVER`, or the address `[api]` of the
//! configuration listens on. The API key is `--api-key`, `WATCHPOST_API_KEY`, or the first
//! admin key the server wrote to its data directory when that file is readable (on the
//! server's own machine, as its user).

use anyhow::Context;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServerArg {
    /// The server's base URL (default: the configuration's `[api]` address).
    #[arg(long, env = "WATCHPOST_SERVER")]
    pub server: Option<String>,
    /// An API key with the analyst role (default: the server's first admin key, read from
    /// its data directory when readable).
    #[arg(long, env = "WATCHPOST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// The server to talk to and the key to show it.
pub(crate) struct Target {
    pub base: String,
    key: Option<String>,
}

#[derive(clap::Args)]
pub struct TriageArgs {
    /// The alerts' ids (up to 1,000; several go in one bulk request).
    #[arg(required = true, num_args = 1..=1000)]
    pub ids: Vec<String>,
    /// Why, recorded in the alert's history.
    #[arg(long)]
    pub reason: Option<String>,
    /// Who decides (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(clap::Subcommand)]
pub enum SilenceCommand {
    /// Silence the alerts that match every --matcher for a while.
    Add {
        /// A matcher as in routes: `host="ws-9"`, `rule=~"lnx\..*"`, `severity!="info"`.
        #[arg(long = "matcher", required = true)]
        matchers: Vec<String>,
        /// How long, in minutes.
        #[arg(long, default_value_t = 60)]
        minutes: i64,
        /// Why (a change ticket, say); required so that the next person knows.
        #[arg(long)]
        comment: String,
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Silences in force or pending (with --all, also those ended in the last 7 days).
    List {
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// End a silence now.
    Expire {
        id: String,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// The server to talk to and the API key to send it.
pub(crate) fn target(config: &Option<PathBuf>, server: &ServerArg) -> anyhow::Result<Target> {
    let key = match &server.api_key {
        Some(key) => Some(key.trim().to_string()),
        None => crate::cli::load_config(config, Vec::new())
            .ok()
            .and_then(|handle| {
                let file = handle
                    .get()
                    .data_dir()
                    .join(watchpost_server::auth::ADMIN_KEY_FILE);
                std::fs::read_to_string(file).ok()
            })
            .map(|text| text.trim().to_string()),
    };
    Ok(Target {
        base: base_url(config, server)?,
        key,
    })
}

/// The base URL of the server to talk to.
fn base_url(config: &Option<PathBuf>, server: &ServerArg) -> anyhow::Result<String> {
    if let Some(url) = &server.server {
        return Ok(url.trim_end_matches('/').to_string());
    }
    let handle = crate::cli::load_config(config, Vec::new())?;
    let api = &handle.get().api;
    let host = match api.host.as_str() {
        "0.0.0.0" | "localhost" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    if api.port == 0 {
        anyhow::bail!("the configuration lets the server pick its port: give --server URL");
    }
    let scheme = if api.tls_cert_file.is_some() {
        "https"
    } else {
        "http"
    };
    Ok(format!("{scheme}://{host}:{}", api.port))
}

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into())
}

/// Sends `request` with the key and returns the JSON answer, or the server's error in
/// its own words.
pub(crate) async fn call(
    request: reqwest::RequestBuilder,
    target: &Target,
) -> anyhow::Result<Value> {
    let request = match &target.key {
        Some(key) => request.header("x-api-key", key),
        None => request,
    };
    let base = &target.base;
    let response = request.send().await.with_context(|| {
        format!("cannot reach the server at {base} (is `watchpost serve` running? --server URL)")
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        let message = body["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| body.to_string());
        anyhow::bail!("the server refused (HTTP {}): {message}", status.as_u16());
    }
    Ok(body)
}

pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    watchpost_notify::http::client(std::time::Duration::from_secs(30)).map_err(anyhow::Error::msg)
}

/// Changes alerts' status: `acknowledged`, `resolved`, `firing` or `false_positive`. One
/// id goes through `PUT /alerts/{id}/status`, several through `POST /alerts/bulk` (every id
/// checked before anything changes); the exit status is 1 when any alert was not found.
pub async fn triage(
    config: &Option<PathBuf>,
    status: &str,
    args: &TriageArgs,
) -> anyhow::Result<ExitCode> {
    let target = target(config, &args.server)?;
    let base = &target.base;
    let http = client()?;
    if let [id] = args.ids.as_slice() {
        let body = json!({"status": status, "by": who(&args.by), "reason": args.reason});
        let answer = call(
            http.put(format!("{base}/api/v1/alerts/{id}/status"))
                .json(&body),
            &target,
        )
        .await?;
        let alert = &answer["alert"];
        println!(
            "{} is {}: {}",
            alert["id"].as_str().unwrap_or(id),
            alert["status"].as_str().unwrap_or("?"),
            alert["title"].as_str().unwrap_or("")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let body = json!({"ids": args.ids, "status": status, "by": who(&args.by),
                      "reason": args.reason});
    let answer = call(
        http.post(format!("{base}/api/v1/alerts/bulk")).json(&body),
        &target,
    )
    .await?;
    let mut missing = 0;
    for r in answer["results"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or("?");
        match r["status"].as_str() {
            Some(s) => println!("{id} is {s}"),
            None => {
                missing += 1;
                println!("{id}: {}", r["error"].as_str().unwrap_or("not changed"));
            }
        }
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn silence(
    config: &Option<PathBuf>,
    command: &SilenceCommand,
) -> anyhow::Result<ExitCode> {
    let http = client()?;
    match command {
        SilenceCommand::Add {
            matchers,
            minutes,
            comment,
            by,
            server,
        } => {
            let target = target(config, server)?;
            let base = &target.base;
            let body = json!({"matchers": matchers, "duration_minutes": minutes,
                              "created_by": who(by), "comment": comment});
            let made = call(
                http.post(format!("{base}/api/v1/silences")).json(&body),
                &target,
            )
            .await?;
            println!(
                "silence {} until {}",
                made["silence"]["id"].as_str().unwrap_or("?"),
                made["silence"]["ends_at"].as_str().unwrap_or("?")
            );
        }
        SilenceCommand::List { all, server } => {
            let target = target(config, server)?;
            let base = &target.base;
            let list = call(
                http.get(format!("{base}/api/v1/silences?all={all}")),
                &target,
            )
            .await?;
            println!(
                "{:<36} {:<8} {:<20} {:<12} matchers · comment",
                "id", "state", "ends", "by"
            );
            for item in list["items"].as_array().into_iter().flatten() {
                let s = &item["silence"];
                let matchers: Vec<&str> = s["matchers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!(
                    "{:<36} {:<8} {:<20} {:<12} {} · {}",
                    s["id"].as_str().unwrap_or(""),
                    item["state"].as_str().unwrap_or(""),
                    s["ends_at"].as_str().unwrap_or("").get(..19).unwrap_or(""),
                    s["created_by"].as_str().unwrap_or(""),
                    matchers.join(", "),
                    s["comment"].as_str().unwrap_or("")
                );
            }
        }
        SilenceCommand::Expire { id, server } => {
            let target = target(config, server)?;
            let base = &target.base;
            call(http.delete(format!("{base}/api/v1/silences/{id}")), &target).await?;
            println!("silence {id} expired");
        }
    }
    Ok(ExitCode::SUCCESS)
}
