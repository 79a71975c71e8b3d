//! `watchpost proxy`: the web shield as a reverse proxy in front of an application.

use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use watchpost_web::blocklist::Blocklist;
use watchpost_web::proxy::{Cidr, ProxyConfig};
use watchpost_web::{Action, Engine, Policy, Shield};

#[derive(Args)]
pub struct ProxyArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// The application, as http://host:port.
    #[arg(long)]
    pub upstream: String,
    /// Refuse attacks with 403 (default: detect, log and pass).
    #[arg(long)]
    pub block: bool,
    /// A proxy or load balancer in front of this one whose X-Forwarded-For is believed
    /// (an address or a network; repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<String>,
    /// Append detections to this file as JSON lines (default: standard output, unless
    /// they are shipped to a server).
    #[arg(long)]
    pub detections: Option<PathBuf>,
    #[command(flatten)]
    pub ship: crate::ship_args::ShipArgs,
    /// Seconds between reads of the server's decisions (with --server): its address bans
    /// are enforced here too (0: do not read them).
    #[arg(long, default_value_t = 10)]
    pub decisions_every: u64,
    /// Largest request body buffered for inspection and forwarded, in bytes.
    #[arg(long, default_value_t = watchpost_web::layer::DEFAULT_MAX_BUFFER)]
    pub max_body: usize,
    /// Serve no decoy routes.
    #[arg(long)]
    pub no_decoys: bool,
    /// Worker threads (0: one per core): caps the cores the proxy takes from an
    /// application on the same machine.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let upstream: http::Uri = args
        .upstream
        .parse()
        .map_err(|e| anyhow::anyhow!("--upstream `{}`: {e}", args.upstream))?;
    let trusted_proxies = args
        .trusted_proxies
        .iter()
        .map(|t| {
            t.parse::<Cidr>()
                .map_err(|e| anyhow::anyhow!("--trusted-proxy {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut policy = Policy {
        action: if args.block {
            Action::Block
        } else {
            Action::Detect
        },
        ..Policy::default()
    };
    if args.no_decoys {
        policy.decoys.clear();
    }
    let shield = Arc::new(Shield::new(
        Engine::default(),
        policy,
        Arc::new(Blocklist::default()),
    ));
    let shipper = args.ship.start("proxy")?;
    if let (Some(server), Some(token), true) = (
        &args.ship.server,
        &args.ship.token,
        args.decisions_every > 0,
    ) {
        crate::decisions_follow::follow(
            server.clone(),
            token.clone(),
            std::time::Duration::from_secs(args.decisions_every),
            shield.blocklist().clone(),
        );
    }
    let out: Option<Box<dyn Write + Send>> = match (&args.detections, &shipper) {
        (Some(path), _) => Some(Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )),
        (None, Some(_)) => None,
        (None, None) => Some(Box::new(std::io::stdout())),
    };
    let out = Arc::new(Mutex::new(out));
    let ship = shipper.clone();
    let reporter = Arc::new(move |detections: Vec<watchpost_core::Detection>| {
        if let Some(shipper) = &ship {
            for d in &detections {
                if let Err(e) = shipper.send(watchpost_ship::Record::Detection(Box::new(d.clone())))
                {
                    tracing::error!(error = %e, rule = %d.rule_id, "detection could not be spooled");
                }
            }
        }
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(out) = out.as_mut() {
            for d in detections {
                if let Ok(line) = serde_json::to_string(&d) {
                    let _ = writeln!(out, "{line}");
                }
            }
            let _ = out.flush();
        }
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, upstream = %upstream, block = args.block, "proxy ready");
    let config = ProxyConfig {
        upstream,
        trusted_proxies,
        max_buffer: args.max_body,
    };
    watchpost_web::proxy::serve(listener, config, shield, reporter, shutdown_signal()).await?;
    if let Some(shipper) = &shipper {
        // What is still spooled ships on the next start.
        shipper.flush()?;
        shipper.stop();
    }
    tracing::info!("proxy stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
