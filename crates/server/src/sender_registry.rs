//! The senders allowed to ship to this server (agents and proxies) and their tokens:
//! enrolling, rotating, revoking and checking a token. The CLI (`watchpost agent-token`),
//! the API (`/api/v1/senders`) and the dashboard all go through here.
//!
//! A token is `wps_<id>_<secret>`; the store keeps the SHA-256 of the secret. Rotating
//! gives a new secret and keeps the old one valid for a grace period, so that the sender
//! can be given its new token without a gap; revoking ends both at once. A revoked
//! sender is enrolled again under the same name (and id, so the alerts it opened stay
//! its own) with a new token.

use chrono::{DateTime, Utc};
use watchpost_ship::Token;
use watchpost_store::{Sender, Store, StoreError};

/// The kinds of sender, and what each ships.
/// A bouncer ships nothing: its key reads the decision stream.
pub const KINDS: &[&str] = &["agent", "proxy", "bouncer"];
/// The longest grace period a rotation may give the old token.
pub const MAX_GRACE_MINUTES: u64 = 7 * 24 * 60;
/// The grace period when none is given.
pub const DEFAULT_GRACE_MINUTES: u64 = 60;

/// Why a registry operation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(
        "a sender of this kind named `{0}` is enrolled and not revoked: rotate its token, or revoke it before enrolling it again"
    )]
    Enrolled(String),
    #[error("no sender has the name or id `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    Unknown,
    Revoked,
}

impl TokenRefusal {
    /// What the sender is told.
    pub fn message(self) -> &'static str {
        match self {
            TokenRefusal::Malformed => {
                "a sender token reads `Authorization: Bearer wps_<id>_<secret>`"
            }
            TokenRefusal::Unknown => "no sender has this token (`watchpost agent-token create`)",
            TokenRefusal::Revoked => {
                "this sender's token was revoked; enroll it again (`watchpost agent-token create`)"
            }
        }
    }
}

/// Enrolls a sender and returns its token (shown once). A revoked sender of that name is
/// enrolled again with a new secret; an active one is refused.
pub async fn enroll(
    store: &dyn Store,
    name: &str,
    kind: &str,
) -> Result<(Sender, Token), RegistryError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(RegistryError::Invalid {
            field: "name",
            message: "give 1 to 128 printable characters".into(),
        });
    }
    if !KINDS.contains(&kind) {
        return Err(RegistryError::Invalid {
            field: "kind",
            message: format!("`{kind}` is not a sender kind: expected agent, proxy or bouncer"),
        });
    }
    let existing = store
        .list_senders()
        .await?
        .into_iter()
        // An agent and a proxy on one host share its name: the proxy's web alerts and the
        // agent's host alerts then name the same host, which is how an incident follows an
        // attack from the site into the machine.
        .find(|s| s.name == name && s.kind == kind);
    if let Some(mut sender) = existing {
        if sender.revoked_at.is_none() {
            return Err(RegistryError::Enrolled(name.to_string()));
        }
        let token = Token::renewed(&sender.id);
        sender.secret_hash = watchpost_ship::secret_hash(&token.secret);
        sender.previous_secret_hash = None;
        sender.previous_valid_until = None;
        sender.revoked_at = None;
        store.update_sender_credentials(&sender).await?;
        return Ok((sender, token));
    }
    let token = Token::generate();
    let sender = Sender::enrolled(
        &token.id,
        name,
        kind,
        watchpost_ship::secret_hash(&token.secret),
        Utc::now(),
    );
    store.insert_sender(&sender).await?;
    Ok((sender, token))
}

/// The sender with this id or name.
pub async fn find(store: &dyn Store, who: &str) -> Result<Sender, RegistryError> {
    if let Some(sender) = store.get_sender(who).await? {
        return Ok(sender);
    }
    let senders = store.list_senders().await?;
    let named: Vec<Sender> = senders.into_iter().filter(|s| s.name == who).collect();
    let live: Vec<&Sender> = named.iter().filter(|s| s.revoked_at.is_none()).collect();
    match (live.as_slice(), named.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [one]) => Ok(one.clone()),
        ([], []) => Err(RegistryError::NotFound(who.to_string())),
        _ => Err(RegistryError::Invalid {
            field: "sender",
            message: format!(
                "`{who}` names {} senders ({}): give the sender's id",
                named.len(),
                named
                    .iter()
                    .map(|s| format!("{} {}", s.kind, s.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// Gives a sender a new token; the old one stays valid for `grace_minutes`.
pub async fn rotate(
    store: &dyn Store,
    who: &str,
    grace_minutes: u64,
) -> Result<(Sender, Token), RegistryError> {
    if grace_minutes > MAX_GRACE_MINUTES {
        return Err(RegistryError::Invalid {
            field: "grace_minutes",
            message: format!("at most {MAX_GRACE_MINUTES} (a week)"),
        });
    }
    let mut sender = find(store, who).await?;
    if sender.revoked_at.is_some() {
        return Err(RegistryError::Invalid {
            field: "sender",
            message: format!("`{}` is revoked: enroll it again", sender.name),
        });
    }
    let token = Token::renewed(&sender.id);
    let grace = chrono::Duration::minutes(grace_minutes as i64);
    sender.previous_secret_hash = (grace_minutes > 0).then(|| sender.secret_hash.clone());
    sender.previous_valid_until = (grace_minutes > 0).then(|| Utc::now() + grace);
    sender.secret_hash = watchpost_ship::secret_hash(&token.secret);
    store.update_sender_credentials(&sender).await?;
    Ok((sender, token))
}

/// Revokes a sender's tokens at once (the current one and any in its grace period).
pub async fn revoke(store: &dyn Store, who: &str) -> Result<Sender, RegistryError> {
    let mut sender = find(store, who).await?;
    if sender.revoked_at.is_none() {
        sender.revoked_at = Some(Utc::now());
    }
    sender.previous_secret_hash = None;
    sender.previous_valid_until = None;
    store.update_sender_credentials(&sender).await?;
    Ok(sender)
}

/// The sender a bearer token names, when the token is live at `now`.
pub async fn authenticate(
    store: &dyn Store,
    bearer: &str,
    now: DateTime<Utc>,
) -> Result<Result<Sender, TokenRefusal>, StoreError> {
    let Ok(token) = Token::parse(bearer) else {
        return Ok(Err(TokenRefusal::Malformed));
    };
    let Some(sender) = store.get_sender(&token.id).await? else {
        return Ok(Err(TokenRefusal::Unknown));
    };
    Ok(check(&sender, &token, now).map(|()| sender))
}

/// Whether `token` is a live token of `sender` at `now`.
fn check(sender: &Sender, token: &Token, now: DateTime<Utc>) -> Result<(), TokenRefusal> {
    let current = token.matches(&sender.secret_hash);
    let in_grace = sender
        .previous_secret_hash
        .as_deref()
        .zip(sender.previous_valid_until)
        .is_some_and(|(hash, until)| now < until && token.matches(hash));
    match (current || in_grace, sender.revoked_at) {
        (false, _) => Err(TokenRefusal::Unknown),
        (true, Some(_)) => Err(TokenRefusal::Revoked),
        (true, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(token: &Token) -> Sender {
        let hash = watchpost_ship::secret_hash(&token.secret);
        Sender::enrolled(&token.id, "web-1", "agent", hash, Utc::now())
    }

    #[test]
    fn a_rotated_token_lives_out_its_grace_and_a_revoked_one_is_dead() {
        let old = Token::generate();
        let new = Token::renewed(&old.id);
        let now = Utc::now();
        let mut s = sender(&new);
        s.previous_secret_hash = Some(watchpost_ship::secret_hash(&old.secret));
        s.previous_valid_until = Some(now + chrono::Duration::minutes(5));
        assert_eq!(check(&s, &new, now), Ok(()));
        assert_eq!(check(&s, &old, now), Ok(()));
        let after = now + chrono::Duration::minutes(6);
        assert_eq!(check(&s, &old, after), Err(TokenRefusal::Unknown));
        assert_eq!(check(&s, &new, after), Ok(()));
        s.revoked_at = Some(now);
        assert_eq!(check(&s, &new, now), Err(TokenRefusal::Revoked));
        let stranger = Token::generate();
        assert_eq!(check(&s, &stranger, now), Err(TokenRefusal::Unknown));
    }
}
