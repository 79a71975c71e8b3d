//! The options `watchpost agent` and `watchpost proxy` share for shipping to a server, and
//! starting the shipper from them.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ShipArgs {
    /// The Watchpost server to ship to (`https://host:port`), spooling on disk while it is
    /// away.
    #[arg(long, requires = "token")]
    pub server: Option<String>,
    /// The sender token from `watchpost agent-token create`.
    #[arg(
        long,
        env = "WATCHPOST_TOKEN",
        requires = "server",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Where records wait for the server (default: `watchpost-agent-spool` or
    /// `watchpost-proxy-spool` in the working directory).
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// The most the spool keeps while the server is away, in MiB; past it the oldest
    /// records are dropped and counted.
    #[arg(long, default_value_t = 256)]
    pub spool_max_mib: u64,
}

impl ShipArgs {
    /// Starts shipping as a sender of `kind` (`agent`, `proxy`), or `None` without a server.
    pub fn start(&self, kind: &str) -> anyhow::Result<Option<watchpost_ship::Shipper>> {
        let (Some(server), Some(token)) = (&self.server, &self.token) else {
            return Ok(None);
        };
        let token =
            watchpost_ship::Token::parse(token).map_err(|e| anyhow::anyhow!("--token: {e}"))?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            anyhow::bail!("--server `{server}`: give a URL such as https://watchpost.example:8080");
        }
        let spool = self
            .spool
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("watchpost-{kind}-spool")));
        Ok(Some(watchpost_ship::Shipper::start(
            watchpost_ship::ShipperConfig {
                server: server.clone(),
                token,
                sender: watchpost_ship::SenderInfo {
                    kind: kind.into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    machine_id: watchpost_core::machine_id(),
                },
                spool_dir: spool,
                limits: watchpost_ship::SpoolLimits {
                    max_bytes: self.spool_max_mib << 20,
                    ..Default::default()
                },
                flush_interval: std::time::Duration::from_secs(1),
                max_backoff: std::time::Duration::from_secs(60),
            },
        )?))
    }
}
