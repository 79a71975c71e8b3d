//! API key text, issue and verification.

use super::Role;
use anyhow::Context;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use sha2::Sha256;
use std::path::Path;
use watchpost_store::ApiKey;

/// What every API key starts with (sender tokens start with `wps_`).
pub const KEY_PREFIX: &str = "wpk_";
/// The file holding the server secret the key HMACs are made with.
pub const SECRET_FILE: &str = "api-key-secret";
const ID_LEN: usize = 12;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A key just made: its text (shown once) and what is stored.
pub struct NewKey {
    pub text: String,
    pub record: ApiKey,
}

/// Makes and checks keys with the server secret.
pub struct KeyRing {
    secret: [u8; 32],
}

impl KeyRing {
    /// The key ring of the data directory `data_dir`, its secret made on first use.
    pub fn open(data_dir: &Path) -> anyhow::Result<KeyRing> {
        let path = data_dir.join(SECRET_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                watchpost_store::private_dir(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                let secret: [u8; 32] = rand::rng().random();
                let text = watchpost_core::hex(&secret);
                write_private(&path, &text)?;
                text
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let bytes = watchpost_core::hex::unhex(text.trim())
            .filter(|b| b.len() == 32)
            .with_context(|| {
                format!(
                    "{} must hold 64 hex digits (the server's API key secret)",
                    path.display()
                )
            })?;
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes);
        Ok(KeyRing { secret })
    }

    /// A new key for `name` with `role`, valid until `expires_at` (forever when `None`).
    pub fn issue(&self, name: &str, role: Role, expires_at: Option<DateTime<Utc>>) -> NewKey {
        let mut rng = rand::rng();
        let id: String = (0..ID_LEN)
            .map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())]))
            .collect();
        let secret_bytes: [u8; 32] = rng.random();
        let secret = watchpost_core::hex(&secret_bytes);
        NewKey {
            text: format!("{KEY_PREFIX}{id}_{secret}"),
            record: ApiKey {
                id,
                name: name.to_string(),
                role: role.as_str().to_string(),
                secret_hmac: self.mac(&secret),
                created_at: Utc::now(),
                expires_at,
                last_used_at: None,
            },
        }
    }

    /// Whether `secret` is the secret of `key`, compared in constant time.
    pub fn verify(&self, secret: &str, key: &ApiKey) -> bool {
        let ours = self.mac(secret);
        ours.len() == key.secret_hmac.len()
            && ours
                .bytes()
                .zip(key.secret_hmac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    fn mac(&self, secret: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret).expect("any key length");
        mac.update(secret.as_bytes());
        watchpost_core::hex(&mac.finalize().into_bytes())
    }
}

/// The id and secret of a key's text (`wpk_<id>_<secret>`), or why it is not one.
pub fn parse(text: &str) -> Result<(&str, &str), &'static str> {
    if text.starts_with("wps_") {
        return Err(
            "this is a sender token (wps_…), which only ships events; the API takes an API key (wpk_…)",
        );
    }
    let rest = text
        .trim()
        .strip_prefix(KEY_PREFIX)
        .ok_or("an API key reads wpk_<id>_<secret>")?;
    let (id, secret) = rest
        .split_once('_')
        .ok_or("an API key reads wpk_<id>_<secret>")?;
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !plain(id) || !plain(secret) || id.len() > 64 || secret.len() > 128 {
        return Err("an API key reads wpk_<id>_<secret>");
    }
    Ok((id, secret))
}

/// Writes `text` to `path`, readable and writable by the owner only.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: make it private too.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_verifies_against_its_record_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::open(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = ring.issue("ci", Role::Analyst, None);
        let (id, secret) = parse(&key.text).unwrap();
        assert_eq!(id, key.record.id);
        assert!(ring.verify(secret, &key.record));
        assert!(
            !key.record.secret_hmac.contains(secret),
            "never stored in clear"
        );
        let other = ring.issue("ci", Role::Analyst, None);
        let (_, other_secret) = parse(&other.text).unwrap();
        assert!(!ring.verify(other_secret, &key.record));
        // The same data directory gives the same ring; another does not.
        assert!(
            KeyRing::open(dir.path())
                .unwrap()
                .verify(secret, &key.record)
        );
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(
            !KeyRing::open(elsewhere.path())
                .unwrap()
                .verify(secret, &key.record)
        );
    }

    #[test]
    fn malformed_keys_and_sender_tokens_say_what_is_wrong() {
        assert!(parse("wps_abc_def").unwrap_err().contains("sender token"));
        assert!(parse("hello").unwrap_err().contains("wpk_"));
        assert!(parse("wpk_abc").is_err());
        assert!(parse("wpk_a-b_c").is_err());
    }
}
