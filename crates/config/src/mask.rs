//! Hiding secrets when a configuration is shown (`config show`, `GET /api/v1/config`).

use serde_json::Value;

const MASK: &str = "********";

/// Whether a key names a secret: passwords, tokens, keys, secrets, credentials.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "credential",
        "private_key",
        "routing_key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Replaces secret values in place: values under secret-looking keys, and the password
/// part of any URL.
pub(crate) fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !v.is_null() && v.as_str() != Some("") {
                    *v = Value::String(MASK.into());
                } else {
                    mask_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        Value::String(s) if s.contains("://") => *s = mask_url(s),
        _ => {}
    }
}

/// Puts back, in an edited configuration, every value still masked as shown (`********`,
/// or a URL whose password is masked) from the configuration in force, so that a shown
/// configuration can be edited and saved without retyping its secrets.
pub fn unmask(edited: &mut Value, current: &Value) {
    match (edited, current) {
        (Value::Object(map), Value::Object(now)) => {
            for (key, v) in map.iter_mut() {
                if let Some(old) = now.get(key) {
                    unmask(v, old);
                }
            }
        }
        (Value::Array(items), Value::Array(now)) => {
            for (v, old) in items.iter_mut().zip(now) {
                unmask(v, old);
            }
        }
        (Value::String(s), Value::String(old))
            if s == MASK || (s.contains(MASK) && s.contains("://") && mask_url(old) == *s) =>
        {
            *s = old.clone();
        }
        _ => {}
    }
}

/// `scheme://user:password@host/…` with the password masked.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:{MASK}@{host}{}", &rest[authority_end..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_keys_and_url_passwords() {
        let mut v = serde_json::json!({
            "storage": {"database_url": "postgres://wp:hunter2@db:5432/wp"},
            "smtp": {"password": "p", "username": "u"},
            "webhooks": [{"secret": "s", "url": "https://x"}],
            "empty": {"token": ""}
        });
        mask_secrets(&mut v);
        assert_eq!(
            v["storage"]["database_url"],
            "postgres://wp:********@db:5432/wp"
        );
        assert_eq!(v["smtp"]["password"], MASK);
        assert_eq!(v["smtp"]["username"], "u");
        assert_eq!(v["webhooks"][0]["secret"], MASK);
        assert_eq!(v["webhooks"][0]["url"], "https://x");
        assert_eq!(v["empty"]["token"], "");
        assert_eq!(
            mask_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
    }
}
