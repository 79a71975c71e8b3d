//! Host actions that change the system, as root: an account locked (password and expiry)
//! and unlocked; a host isolated by an nftables table that keeps only loopback and the
//! server's link, then released. Isolation runs in a network namespace of its own (on one
//! thread), so the machine running the tests keeps its network whatever happens.

use std::process::Command;
use watchpost_core::{Action, ActionKind, ActionState, ActionTarget};
use watchpost_host::respond::{HostActions, ISOLATION_TABLE};

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() == 0 };
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the host tests as root"
        );
        eprintln!("skipped: needs root");
    }
    root
}

fn actions() -> HostActions {
    HostActions {
        quarantine_dir: std::env::temp_dir().join("wp-host-actions-quarantine"),
        server: vec!["192.0.2.10:8080".parse().unwrap()],
    }
}

fn action(kind: ActionKind, target: ActionTarget) -> Action {
    Action::new(kind, target, "test", "host action test")
}

/// A throwaway local account, removed when dropped.
struct Account(&'static str);

impl Drop for Account {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(self.0).status();
    }
}

fn shadow_field(user: &str, index: usize) -> String {
    std::fs::read_to_string("/etc/shadow")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .and_then(|l| l.split(':').nth(index))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_account_is_locked_and_unlocked() {
    if !root() {
        return;
    }
    let _ = Command::new("userdel").arg("wp-lock-test").status();
    let made = Command::new("useradd")
        .args([
            "--no-create-home",
            "--password",
            "$6$salt$abcdefghij",
            "wp-lock-test",
        ])
        .status()
        .expect("useradd");
    assert!(made.success());
    let _account = Account("wp-lock-test");
    let target = ActionTarget::Account {
        host: "this".into(),
        user: "wp-lock-test".into(),
    };
    let mut lock = action(ActionKind::LockAccount, target);
    let result = actions().carry_out(&lock);
    assert!(result.ok, "{}", result.message);
    assert!(
        shadow_field("wp-lock-test", 1).starts_with('!'),
        "password locked"
    );
    assert_eq!(shadow_field("wp-lock-test", 7), "1", "account expired");
    // Undo (as the server asks it: the same action, undoing, with the result it recorded).
    lock.result = Some(result);
    lock.state = ActionState::Running;
    lock.undoing = true;
    let undone = actions().carry_out(&lock);
    assert!(undone.ok, "{}", undone.message);
    assert!(
        !shadow_field("wp-lock-test", 1).starts_with('!'),
        "password unlocked"
    );
    assert_eq!(shadow_field("wp-lock-test", 7), "", "no expiry");
    // Root is never locked, whatever asks.
    let refused = actions().carry_out(&action(
        ActionKind::LockAccount,
        ActionTarget::Account {
            host: "this".into(),
            user: "root".into(),
        },
    ));
    assert!(
        !refused.ok && refused.message.contains("root"),
        "{}",
        refused.message
    );
}

fn nft_table() -> Option<String> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", ISOLATION_TABLE])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn isolation_keeps_loopback_and_the_server_and_is_lifted() {
    if !root() {
        return;
    }
    if Command::new("nft").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI installs nftables");
        eprintln!("skipped: needs nft");
        return;
    }
    std::thread::spawn(|| {
        // SAFETY: unshare on this thread alone; nothing else runs on it.
        let unshared = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(unshared, 0, "a network namespace of its own");
        let mut isolate = action(
            ActionKind::IsolateHost,
            ActionTarget::Host {
                host: "this".into(),
            },
        );
        let result = actions().carry_out(&isolate);
        assert!(result.ok, "{}", result.message);
        let table = nft_table().expect("the isolation table");
        for needed in [
            "policy drop",
            "iif \"lo\" accept",
            "oif \"lo\" accept",
            "ip daddr 192.0.2.10 tcp dport 8080 accept",
            "ip saddr 192.0.2.10 tcp sport 8080 accept",
        ] {
            assert!(table.contains(needed), "{needed} missing from\n{table}");
        }
        assert!(
            !table.contains("established"),
            "open connections are cut too"
        );
        isolate.result = Some(result);
        isolate.undoing = true;
        let released = actions().carry_out(&isolate);
        assert!(released.ok, "{}", released.message);
        assert!(nft_table().is_none(), "the table is gone");
        // Without the server's address it refuses rather than cut the agent off.
        let blind = HostActions {
            server: Vec::new(),
            ..actions()
        };
        let refused = blind.carry_out(&action(
            ActionKind::IsolateHost,
            ActionTarget::Host {
                host: "this".into(),
            },
        ));
        assert!(
            !refused.ok && refused.message.contains("refused"),
            "{}",
            refused.message
        );
        assert!(nft_table().is_none());
    })
    .join()
    .unwrap();
}
