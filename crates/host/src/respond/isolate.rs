//! Network isolation with nftables: one table of Watchpost's own, dropping every packet in
//! and out but loopback and the agent's link to its server, removed whole on undo.
//!
//! Connections already open are cut too (no "established" exception): the attacker's
//! reverse shell is exactly such a connection.

use super::{Outcome, run};
use std::net::SocketAddr;

/// The nftables table isolation lives in (family `inet`).
pub const ISOLATION_TABLE: &str = "watchpost_isolation";

pub(super) fn isolate(server: &[SocketAddr]) -> Outcome {
    if server.is_empty() {
        return Err(
            "the server's address is not known: isolating would cut the agent off, refused".into(),
        );
    }
    let mut keep = String::new();
    for addr in server {
        let family = if addr.is_ipv4() { "ip" } else { "ip6" };
        let (ip, port) = (addr.ip(), addr.port());
        keep.push_str(&format!(
            "    add rule inet {ISOLATION_TABLE} output {family} daddr {ip} tcp dport {port} accept\n\
                 add rule inet {ISOLATION_TABLE} input {family} saddr {ip} tcp sport {port} accept\n"
        ));
    }
    // One transaction: the table appears whole or not at all.
    let script = format!(
        "add table inet {ISOLATION_TABLE}\n\
         delete table inet {ISOLATION_TABLE}\n\
         add table inet {ISOLATION_TABLE}\n\
         add chain inet {ISOLATION_TABLE} input {{ type filter hook input priority -300 ; policy drop ; }}\n\
         add chain inet {ISOLATION_TABLE} output {{ type filter hook output priority -300 ; policy drop ; }}\n\
         add rule inet {ISOLATION_TABLE} input iif lo accept\n\
         add rule inet {ISOLATION_TABLE} output oif lo accept\n\
         {keep}"
    );
    let file = std::env::temp_dir().join(format!("watchpost-isolate-{}.nft", std::process::id()));
    std::fs::write(&file, script).map_err(|e| format!("{}: {e}", file.display()))?;
    let applied = run("nft", &["-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    applied?;
    let kept: Vec<String> = server.iter().map(ToString::to_string).collect();
    Ok((
        format!(
            "isolated: every packet dropped but loopback and the link to {} (nftables table inet {ISOLATION_TABLE})",
            kept.join(", ")
        ),
        serde_json::json!({ "table": ISOLATION_TABLE, "kept": kept }),
    ))
}

pub(super) fn release() -> Outcome {
    run("nft", &["delete", "table", "inet", ISOLATION_TABLE])?;
    Ok((
        format!("isolation lifted (table inet {ISOLATION_TABLE} deleted)"),
        serde_json::Value::Null,
    ))
}
