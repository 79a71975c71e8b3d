//! Hiding secrets when a configuration is shown (`config show`, `GET /api/v1/config`).

use serde_json::Value;

use watchpost_core::secret::MASK;

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

/// A URL with what it carries of credentials masked: the password of
/// `scheme://user:password@host/…`, every query value (`?token=…&key=…`), and path parts
/// that are secrets (Slack's and Discord's webhook tokens, and any long random-looking
/// segment: webhook URLs often carry their credential in the path).
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}:{MASK}@{host}")
        }
        _ => authority.to_string(),
    };
    let after = &rest[authority_end..];
    let (before_fragment, fragment) = match after.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (after, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').collect();
    let masked_path: Vec<String> = segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            if secret_segment(&host, &segments, i) {
                MASK.to_string()
            } else {
                segment.to_string()
            }
        })
        .collect();
    let mut out = format!("{scheme}://{authority}{}", masked_path.join("/"));
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if !value.is_empty() => format!("{name}={MASK}"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Whether path segment `i` of a URL to `host` is a credential.
fn secret_segment(host: &str, segments: &[&str], i: usize) -> bool {
    let segment = segments[i];
    if segment.is_empty() {
        return false;
    }
    // hooks.slack.com/services/T…/B…/SECRET
    if host.ends_with("slack.com") && segments.get(1) == Some(&"services") && i == 4 {
        return true;
    }
    // discord.com/api/webhooks/ID/TOKEN
    if (host.ends_with("discord.com") || host.ends_with("discordapp.com"))
        && segments.get(2) == Some(&"webhooks")
        && i == 4
    {
        return true;
    }
    // Any long random-looking segment: letters and digits mixed, 24 characters or more.
    segment.len() >= 24
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && segment.bytes().any(|b| b.is_ascii_digit())
        && segment.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn urls_lose_their_query_values_and_secret_path_parts() {
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"),
            "https://hooks.slack.com/services/T000/B000/********"
        );
        assert_eq!(
            mask_url("https://discord.com/api/webhooks/123/abcDEF"),
            "https://discord.com/api/webhooks/123/********"
        );
        assert_eq!(
            mask_url("https://hooks.example.com/in?token=abc&team=ops&flag"),
            "https://hooks.example.com/in?token=********&team=********&flag"
        );
        assert_eq!(
            mask_url("https://x.example/hook/8f14e45fceea167a5a36dedd4bea2543/go"),
            "https://x.example/hook/********/go"
        );
        assert_eq!(
            mask_url("https://x.example/api/v1/alerts-receiver"),
            "https://x.example/api/v1/alerts-receiver"
        );
        // A masked URL round-trips through an edit.
        let old = json!({"url": "https://h.example/in?token=abc"});
        let mut edited = json!({"url": mask_url("https://h.example/in?token=abc")});
        unmask(&mut edited, &old);
        assert_eq!(edited, old);
    }
}
