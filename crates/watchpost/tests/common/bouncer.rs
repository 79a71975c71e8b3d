//! The real `crowdsec-firewall-bouncer` (Debian's package) run against a Watchpost server
//! in its nftables mode, in tables of the test's own.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The bouncer process; its nftables tables are removed when it is dropped.
pub struct Bouncer {
    child: Child,
    table: String,
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for family in ["ip", "ip6"] {
            let table = if family == "ip" {
                self.table.clone()
            } else {
                format!("{}6", self.table)
            };
            let _ = Command::new("nft")
                .args(["delete", "table", family, &table])
                .status();
        }
    }
}

pub fn nft_set(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "set", "ip", table, "crowdsec-blacklists"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Bouncer {
    /// Starts the bouncer on `base` with the bouncer key `key`, its sets in `table` (and
    /// `table`6), polling every second.
    pub fn start(dir: &Path, base: &str, key: &str, table: &str) -> Bouncer {
        let config = dir.join("bouncer.yaml");
        std::fs::write(
            &config,
            format!(
                "mode: nftables\npid_dir: {dir}\nupdate_frequency: 1s\ndaemonize: false\n\
                 log_mode: stdout\nlog_level: info\napi_url: {base}/\napi_key: {key}\n\
                 disable_ipv6: false\ndeny_action: DROP\ndeny_log: false\n\
                 supported_decisions_types:\n  - ban\n\
                 nftables:\n  ipv4:\n    enabled: true\n    set-only: false\n    table: {table}\n    chain: {table}-chain\n\
                 \x20 ipv6:\n    enabled: true\n    set-only: false\n    table: {table}6\n    chain: {table}6-chain\n\
                 prometheus:\n  enabled: false\n  listen_addr: 127.0.0.1\n  listen_port: 60601\n",
                dir = dir.display(),
            ),
        )
        .unwrap();
        Bouncer {
            child: Command::new("crowdsec-firewall-bouncer")
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start crowdsec-firewall-bouncer"),
            table: table.to_string(),
        }
    }
}
