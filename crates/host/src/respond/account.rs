//! Locking a local account: its password locked and the account expired, so neither a
//! password nor a key logs it in; unlocked on undo unless it was locked before.

use super::{Outcome, run};

pub(super) fn lock(user: &str) -> Outcome {
    if user.is_empty() || user.starts_with('-') || user.contains(['/', ':', '\n']) {
        return Err(format!("`{user}` is not an account name"));
    }
    let uid = uid_of(user).ok_or_else(|| format!("no local account `{user}`"))?;
    if uid == 0 {
        return Err(format!("`{user}` is root: refused"));
    }
    let was_locked = password_locked(user);
    run("usermod", &["--lock", "--expiredate", "1", user])?;
    Ok((
        format!("account {user} (uid {uid}) locked and expired"),
        serde_json::json!({ "was_locked": was_locked }),
    ))
}

pub(super) fn unlock(user: &str, undo: &serde_json::Value) -> Outcome {
    if user.is_empty() || user.starts_with('-') {
        return Err(format!("`{user}` is not an account name"));
    }
    if undo.get("was_locked").and_then(|v| v.as_bool()) == Some(true) {
        run("usermod", &["--expiredate", "", user])?;
        return Ok((
            format!("account {user} no longer expired (its password was locked before)"),
            serde_json::Value::Null,
        ));
    }
    run("usermod", &["--unlock", "--expiredate", "", user])?;
    Ok((format!("account {user} unlocked"), serde_json::Value::Null))
}

/// Whether the account's password is locked now (`!` before the hash in /etc/shadow).
pub(super) fn password_locked(user: &str) -> bool {
    std::fs::read_to_string("/etc/shadow")
        .ok()
        .and_then(|shadow| {
            shadow.lines().find_map(|line| {
                let mut fields = line.split(':');
                (fields.next() == Some(user)).then(|| fields.next().unwrap_or("").starts_with('!'))
            })
        })
        .unwrap_or(false)
}

/// The uid of a local account, from /etc/passwd.
fn uid_of(user: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some(user)).then(|| fields.nth(1)?.parse().ok())?
        })
}
