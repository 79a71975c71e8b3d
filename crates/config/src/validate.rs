//! Checks that parsing alone cannot make: ranges, formats and relations between keys.

use crate::Config;
use std::net::IpAddr;

/// The categories web findings are filed under (the names `eval web` and detections use).
const WEB_CATEGORIES: &[&str] = &[
    "sqli",
    "xss",
    "path_traversal",
    "lfi",
    "rfi",
    "cmdi",
    "ldapi",
    "xxe",
    "ssrf",
    "ssti",
    "java_injection",
    "php_injection",
    "nosqli",
    "crlf",
    "mail_injection",
    "ssi",
    "file_upload",
    "scanner",
    "protocol",
    "session_fixation",
    "js_injection",
    "perl_injection",
];

/// A key whose value is not allowed, and what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub key: String,
    pub message: String,
}

/// Every violation in `config`, or `Ok` when there are none.
pub(crate) fn check(config: &Config) -> Result<(), Vec<Violation>> {
    let mut out = Vec::new();
    let mut bad = |key: &str, message: String| {
        out.push(Violation {
            key: key.to_string(),
            message,
        })
    };

    let m = &config.monitoring;
    if !(1..=86_400).contains(&m.monitor_interval) {
        bad(
            "monitoring.monitor_interval",
            format!(
                "{} is out of range: allowed 1 to 86400 seconds",
                m.monitor_interval
            ),
        );
    }
    for (key, value) in [
        ("monitoring.cpu_threshold", m.cpu_threshold),
        ("monitoring.memory_threshold", m.memory_threshold),
        ("monitoring.disk_threshold", m.disk_threshold),
    ] {
        if !(value > 0.0 && value <= 100.0) {
            bad(
                key,
                format!("{value} is out of range: allowed a percentage above 0 and at most 100"),
            );
        }
    }

    if m.agent_silent_after_seconds != 0 && m.agent_silent_after_seconds < 5 {
        bad(
            "monitoring.agent_silent_after_seconds",
            format!(
                "{} is too short: agents report every few seconds at best; allowed 0 (off) or at least 5",
                m.agent_silent_after_seconds
            ),
        );
    }

    let w = &config.web;
    if !(1..=4).contains(&w.paranoia) {
        bad(
            "web.paranoia",
            format!("{} is out of range: allowed 1 to 4", w.paranoia),
        );
    }
    if w.threshold == 0 {
        bad(
            "web.threshold",
            "0 would call every request an attack: allowed 1 or more".into(),
        );
    }
    let actions = ["detect", "block"];
    if !actions.contains(&w.action.as_str()) {
        bad(
            "web.action",
            format!("`{}` is not an action: allowed detect, block", w.action),
        );
    }
    if !(400..=599).contains(&w.block_status) {
        bad(
            "web.block_status",
            format!(
                "{} is out of range: allowed an error status, 400 to 599",
                w.block_status
            ),
        );
    }
    for (i, decoy) in w.decoys.iter().enumerate() {
        if !decoy.starts_with('/') {
            bad(
                &format!("web.decoys[{i}]"),
                format!("`{decoy}` is not a path: start it with /"),
            );
        }
    }
    for (i, route) in w.routes.iter().enumerate() {
        if !route.prefix.starts_with('/') {
            bad(
                &format!("web.routes[{i}].prefix"),
                format!("`{}` is not a path: start it with /", route.prefix),
            );
        }
        if let Some(action) = &route.action
            && !actions.contains(&action.as_str())
        {
            bad(
                &format!("web.routes[{i}].action"),
                format!("`{action}` is not an action: allowed detect, block"),
            );
        }
        for (j, exclusion) in route.exclusions.iter().enumerate() {
            for category in &exclusion.categories {
                if !WEB_CATEGORIES.contains(&category.as_str()) {
                    bad(
                        &format!("web.routes[{i}].exclusions[{j}].categories"),
                        format!(
                            "`{category}` is not a category: allowed {}",
                            WEB_CATEGORIES.join(", ")
                        ),
                    );
                }
            }
        }
    }

    if let Err(errors) = watchpost_alert::Policy::compile(&config.alerting) {
        for (key, message) in errors {
            bad(&key, message);
        }
    }

    let api = &config.api;
    if api.host != "localhost" && api.host.parse::<IpAddr>().is_err() {
        bad(
            "api.host",
            format!(
                "`{}` is not an IP address: use e.g. 127.0.0.1, 0.0.0.0, ::1 or localhost",
                api.host
            ),
        );
    }
    let loopback =
        api.host == "localhost" || api.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !api.enable_authentication && !loopback {
        bad(
            "api.enable_authentication",
            format!(
                "false is accepted only when the server listens on loopback, and api.host is `{}`: \
                 anyone who can reach it would have the run of the API; keep authentication on \
                 (API keys: `watchpost api-key create`) or listen on 127.0.0.1",
                api.host
            ),
        );
    }
    if api.tls_cert_file.is_some() != api.tls_key_file.is_some() {
        bad(
            "api.tls_cert_file",
            "give both api.tls_cert_file and api.tls_key_file for HTTPS, or neither".into(),
        );
    }
    for (key, value) in [
        (
            "api.rate_limit_per_key_per_minute",
            api.rate_limit_per_key_per_minute,
        ),
        (
            "api.rate_limit_per_ip_per_minute",
            api.rate_limit_per_ip_per_minute,
        ),
        (
            "api.rate_limit_per_sender_per_minute",
            api.rate_limit_per_sender_per_minute,
        ),
        (
            "api.login_attempts_per_minute",
            api.login_attempts_per_minute,
        ),
    ] {
        if !(1..=1_000_000).contains(&value) {
            bad(
                key,
                format!("{value} is out of range: allowed 1 to 1000000 requests a minute"),
            );
        }
    }
    if !(16..=1_000_000).contains(&api.max_connections) {
        bad(
            "api.max_connections",
            format!(
                "{} is out of range: allowed 16 to 1000000",
                api.max_connections
            ),
        );
    }
    if !(1..=api.max_connections.max(1)).contains(&api.max_connections_per_ip) {
        bad(
            "api.max_connections_per_ip",
            format!(
                "{} is out of range: allowed 1 to api.max_connections ({})",
                api.max_connections_per_ip, api.max_connections
            ),
        );
    }
    for (key, value) in [
        (
            "api.header_read_timeout_seconds",
            api.header_read_timeout_seconds,
        ),
        (
            "api.body_read_timeout_seconds",
            api.body_read_timeout_seconds,
        ),
        ("api.idle_timeout_seconds", api.idle_timeout_seconds),
    ] {
        if !(1..=3600).contains(&value) {
            bad(
                key,
                format!("{value} is out of range: allowed 1 to 3600 seconds"),
            );
        }
    }
    for (i, name) in api.server_names.iter().enumerate() {
        if name.is_empty() || name.contains(['/', ' ', '@', '?', '#']) {
            bad(
                &format!("api.server_names[{i}]"),
                format!(
                    "`{name}` is not a host name: expected a name or address, with an optional :port"
                ),
            );
        }
    }
    for (i, dir) in api.allowed_path_dirs.iter().enumerate() {
        if !dir.is_absolute() {
            bad(
                &format!("api.allowed_path_dirs[{i}]"),
                format!("`{}` is not an absolute path", dir.display()),
            );
        }
    }
    if !(1024..=1 << 30).contains(&api.max_body_bytes) {
        bad(
            "api.max_body_bytes",
            format!(
                "{} is out of range: allowed 1024 to 1073741824 bytes",
                api.max_body_bytes
            ),
        );
    }
    if !(1..=1_000_000).contains(&api.max_batch_events) {
        bad(
            "api.max_batch_events",
            format!(
                "{} is out of range: allowed 1 to 1000000",
                api.max_batch_events
            ),
        );
    }
    for (i, origin) in api.cors_origins.iter().enumerate() {
        let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.trim_end_matches('/').contains(['?', '#', ' '])
            && origin.splitn(4, '/').nth(3).is_none_or(str::is_empty);
        if !ok {
            bad(
                &format!("api.cors_origins[{i}]"),
                format!(
                    "`{origin}` is not an origin: expected scheme://host[:port], e.g. https://soc.example.com"
                ),
            );
        }
    }
    if api.enable_cors && api.cors_origins.is_empty() {
        bad(
            "api.cors_origins",
            "enable_cors is on but no origin is listed: name the origins allowed to call the API"
                .into(),
        );
    }

    let s = &config.storage;
    let url = s.database_url.trim();
    if !(url.is_empty()
        || url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        bad(
            "storage.database_url",
            format!(
                "`{}` is not supported: use postgres://USER@HOST/DB, sqlite://PATH, or leave it empty for SQLite in data_dir",
                crate::mask::mask_url(url)
            ),
        );
    }
    if s.data_dir.as_os_str().is_empty() {
        bad("storage.data_dir", "must not be empty".into());
    }
    if s.retention_days == 0 {
        bad(
            "storage.retention_days",
            "0 would delete events as they arrive: allowed 1 or more days".into(),
        );
    }
    if s.alert_retention_days < s.retention_days {
        bad(
            "storage.alert_retention_days",
            format!(
                "{} is shorter than retention_days ({}): alerts and incidents must be kept at least as long as events",
                s.alert_retention_days, s.retention_days
            ),
        );
    }
    if !(60..=7 * 86_400).contains(&s.retention_interval_seconds) {
        bad(
            "storage.retention_interval_seconds",
            format!(
                "{} is out of range: allowed 60 to 604800",
                s.retention_interval_seconds
            ),
        );
    }
    if s.min_free_mb > 1024 * 1024 {
        bad(
            "storage.min_free_mb",
            format!(
                "{} is out of range: allowed 0 to 1048576 (1 TiB)",
                s.min_free_mb
            ),
        );
    }
    if s.integrity_check_hours > 24 * 366 {
        bad(
            "storage.integrity_check_hours",
            format!(
                "{} is out of range: allowed 0 (never) to 8784 (a year)",
                s.integrity_check_hours
            ),
        );
    }
    for (key, list) in [
        ("response.allowlist", &config.response.allowlist),
        ("response.protected", &config.response.protected),
    ] {
        if list.len() > 10_000 {
            bad(key, format!("{} entries: at most 10000", list.len()));
        }
        for (i, entry) in list.iter().enumerate() {
            if let Err(e) = entry.parse::<watchpost_core::net::Cidr>() {
                bad(&format!("{key}[{i}]"), e);
            }
        }
    }
    let r = &config.response;
    if let Err(errors) = watchpost_playbook::compile_all(&r.playbooks) {
        for (key, e) in errors {
            bad(&key, e);
        }
    }
    for (kind, limit) in &r.budget_per_minute {
        let key = format!("response.budget_per_minute.{kind}");
        if let Err(e) = kind.parse::<watchpost_core::ActionKind>() {
            bad(&key, e);
        } else if *limit > 10_000 {
            bad(&key, format!("{limit} is out of range: allowed 0 to 10000"));
        }
    }
    if !(1..=24 * 60).contains(&r.breaker_minutes) {
        bad(
            "response.breaker_minutes",
            format!("{} is out of range: allowed 1 to 1440", r.breaker_minutes),
        );
    }
    if r.account_webhooks.len() > 20 {
        bad("response.account_webhooks", "at most 20".into());
    }
    for (i, hook) in r.account_webhooks.iter().enumerate() {
        if !(hook.url.starts_with("https://") || hook.url.starts_with("http://"))
            || hook.url.len() > 2048
        {
            bad(
                &format!("response.account_webhooks[{i}].url"),
                format!("`{}` is not an http(s) URL", hook.url),
            );
        }
    }
    if r.protected_accounts.len() > 1000 {
        bad("response.protected_accounts", "at most 1000".into());
    }
    let i = &config.incidents;
    if !(1..=7 * 24 * 60).contains(&i.window_minutes) {
        bad(
            "incidents.window_minutes",
            format!(
                "{} is out of range: allowed 1 to 10080 (a week)",
                i.window_minutes
            ),
        );
    }
    if i.open_at_severity
        .parse::<watchpost_core::Severity>()
        .is_err()
    {
        bad(
            "incidents.open_at_severity",
            format!(
                "`{}` is not a severity: expected info, low, medium, high or critical",
                i.open_at_severity
            ),
        );
    }
    if !(100..=1_000_000).contains(&i.max_indexed) {
        bad(
            "incidents.max_indexed",
            format!("{} is out of range: allowed 100 to 1000000", i.max_indexed),
        );
    }
    if i.critical_hosts.len() > 10_000 {
        bad("incidents.critical_hosts", "at most 10000".into());
    }
    if !(1..=3600).contains(&s.query_timeout_seconds) {
        bad(
            "storage.query_timeout_seconds",
            format!(
                "{} is out of range: allowed 1 to 3600",
                s.query_timeout_seconds
            ),
        );
    }

    if out.is_empty() { Ok(()) } else { Err(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        assert!(check(&Config::default()).is_ok());
        let mut c = Config::default();
        c.api.max_batch_events = 0;
        c.api.host = "my-server".into();
        c.api.enable_authentication = false;
        c.monitoring.cpu_threshold = 150.0;
        c.storage.alert_retention_days = 7;
        c.api.enable_cors = true;
        c.api.cors_origins = vec![
            "https://ok.example".into(),
            "ftp://x".into(),
            "https://x/path".into(),
        ];
        let keys: Vec<String> = check(&c).unwrap_err().into_iter().map(|v| v.key).collect();
        assert_eq!(
            keys,
            [
                "monitoring.cpu_threshold",
                "api.host",
                "api.enable_authentication",
                "api.max_batch_events",
                "api.cors_origins[1]",
                "api.cors_origins[2]",
                "storage.alert_retention_days"
            ]
        );
    }

    #[test]
    fn authentication_may_be_off_only_on_loopback() {
        let mut c = Config::default();
        c.api.enable_authentication = false;
        for host in ["127.0.0.1", "::1", "localhost", "127.0.0.2"] {
            c.api.host = host.into();
            assert!(check(&c).is_ok(), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.1.2.3"] {
            c.api.host = host.into();
            let refused = check(&c).unwrap_err();
            assert_eq!(refused[0].key, "api.enable_authentication");
            assert!(refused[0].message.contains(host), "{}", refused[0].message);
        }
    }
}
