//! `[[alerting.channels]]`: where notices go, and the checks each channel type needs.
//!
//! One flat table for every type keeps the file easy to write; [`ChannelConfig::problems`]
//! says which keys a type needs and refuses keys that mean nothing for it (a `smtp_host` on
//! a webhook is a mistake the operator wants to hear about).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use watchpost_core::Secret;

/// One notification channel. Which keys apply depends on `type`; the checks say which one
/// a type is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelConfig {
    /// The name routes use as their receiver.
    pub name: String,
    /// One of [`CHANNEL_TYPES`].
    #[serde(rename = "type")]
    pub kind: String,
    /// webhook, sms_gateway: where to POST; slack: the incoming-webhook URL; pagerduty: the
    /// Events API endpoint (defaults to PagerDuty's); twilio: the API base (defaults to
    /// `https://api.twilio.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// email: the SMTP server's name, which its certificate must carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_host: Option<String>,
    /// email: defaults to 587 with `starttls`, 465 with `tls`, 25 with `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_port: Option<u16>,
    /// email: `starttls` (the default; refuses a server that cannot upgrade), `tls`
    /// (implicit TLS, RFC 8314) or `none` (a relay on this host, without credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_security: Option<String>,
    /// email: the SMTP AUTH user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// email: the SMTP AUTH password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// email: the sender address; twilio: the sending number (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// email: recipient addresses; twilio, sms_gateway: recipient numbers (E.164).
    pub to: Vec<String>,
    /// twilio: the Account SID (`AC…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_sid: Option<String>,
    /// twilio: the auth token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<Secret>,
    /// twilio: a Messaging Service (`MG…`) to send from instead of `from`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_service_sid: Option<String>,
    /// syslog: the collector's `host:port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// syslog: `udp` (RFC 5426), `tcp` (RFC 6587 octet counting) or `tls` (RFC 5425).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// syslog: the facility name (`auth`, `authpriv`, `local0`…; default `authpriv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facility: Option<String>,
    /// email, syslog over TLS: a PEM file of CA certificates trusted besides the system's
    /// (an internal CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A template file (minijinja) for the message text: the email's text part, the Slack
    /// message, the SMS, the syslog MSG, PagerDuty's summary, the webhook's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<PathBuf>,
    /// email: a template file for the HTML part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_template: Option<PathBuf>,
    /// webhook: the key of the HMAC-SHA256 signature sent with every request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
    /// pagerduty: the integration's routing key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<Secret>,
    /// webhook: extra request headers. Their values are secrets (an `Authorization` or
    /// `X-API-Key` header is how many receivers authenticate).
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Notices about alerts below this severity are not sent here.
    pub min_severity: String,
    /// Attempts before a notice is dead-lettered (and handed to `fallback`); 0 (the
    /// default) leaves it to `retry_for_seconds`.
    pub max_attempts: u32,
    /// How long a notice is retried, from when it was made, before it is dead-lettered:
    /// outages last hours, so a day by default.
    pub retry_for_seconds: u64,
    /// The longest wait between two attempts (backoff doubles from 1 s up to it, ±20 %).
    pub max_backoff_seconds: u64,
    /// A channel failing this long raises an alert about itself through `fallback`.
    pub failing_alert_after_seconds: u64,
    /// The channel that gets a notice this one could not deliver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    pub timeout_seconds: u64,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        ChannelConfig {
            name: String::new(),
            kind: String::new(),
            url: None,
            smtp_host: None,
            smtp_port: None,
            smtp_security: None,
            username: None,
            password: None,
            from: None,
            to: Vec::new(),
            account_sid: None,
            auth_token: None,
            messaging_service_sid: None,
            address: None,
            transport: None,
            facility: None,
            ca_file: None,
            template: None,
            html_template: None,
            secret: None,
            routing_key: None,
            headers: Default::default(),
            min_severity: "info".into(),
            max_attempts: 0,
            retry_for_seconds: 86_400,
            max_backoff_seconds: 300,
            failing_alert_after_seconds: 300,
            fallback: None,
            timeout_seconds: 10,
        }
    }
}

/// The channel types a configuration may name (`desktop` needs a build with the
/// `desktop-notify` feature; the delivery worker says so when it is missing).
pub const CHANNEL_TYPES: &[&str] = &[
    "webhook",
    "slack",
    "pagerduty",
    "email",
    "twilio",
    "sms_gateway",
    "syslog",
    "desktop",
];

/// Syslog facility names and their codes (RFC 5424, table 1).
pub const SYSLOG_FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("ntp", 12),
    ("security", 13),
    ("console", 14),
    ("clock", 15),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// The optional keys each type reads; a key set outside its type's list is refused.
fn keys_of(kind: &str) -> &'static [&'static str] {
    match kind {
        "webhook" => &["url", "secret", "headers", "template"],
        "slack" => &["url", "template"],
        "pagerduty" => &["url", "routing_key", "template"],
        "email" => &[
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "username",
            "password",
            "from",
            "to",
            "ca_file",
            "template",
            "html_template",
        ],
        "twilio" => &[
            "url",
            "account_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "to",
            "template",
        ],
        "sms_gateway" => &["url", "secret", "headers", "to", "template"],
        "syslog" => &["address", "transport", "facility", "ca_file", "template"],
        "desktop" => &["template"],
        _ => &[],
    }
}

/// Whether `number` is an E.164 telephone number: `+` and 8 to 15 digits.
pub fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether `sid` is a Twilio identifier with this two-letter prefix and 32 hex digits.
fn is_twilio_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl ChannelConfig {
    /// The optional keys this table sets.
    fn keys_set(&self) -> Vec<&'static str> {
        let set = [
            ("url", self.url.is_some()),
            ("smtp_host", self.smtp_host.is_some()),
            ("smtp_port", self.smtp_port.is_some()),
            ("smtp_security", self.smtp_security.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("from", self.from.is_some()),
            ("to", !self.to.is_empty()),
            ("account_sid", self.account_sid.is_some()),
            ("auth_token", self.auth_token.is_some()),
            (
                "messaging_service_sid",
                self.messaging_service_sid.is_some(),
            ),
            ("address", self.address.is_some()),
            ("transport", self.transport.is_some()),
            ("facility", self.facility.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("template", self.template.is_some()),
            ("html_template", self.html_template.is_some()),
            ("secret", self.secret.is_some()),
            ("routing_key", self.routing_key.is_some()),
            ("headers", !self.headers.is_empty()),
        ];
        set.into_iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| k)
            .collect()
    }

    /// Problems with this channel, as `(key under the channel, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: &str, m: String| out.push((k.to_string(), m));
        if self.name.trim().is_empty() {
            bad("name", "a channel needs a name for routes to use".into());
        }
        if !CHANNEL_TYPES.contains(&self.kind.as_str()) {
            bad(
                "type",
                format!(
                    "`{}` is not a channel type: expected one of {}",
                    self.kind,
                    CHANNEL_TYPES.join(", ")
                ),
            );
        } else {
            let allowed = keys_of(&self.kind);
            for key in self.keys_set() {
                if !allowed.contains(&key) {
                    bad(
                        key,
                        format!(
                            "does not apply to type {}: it reads {}",
                            self.kind,
                            allowed.join(", ")
                        ),
                    );
                }
            }
        }
        let needs_url = matches!(self.kind.as_str(), "webhook" | "slack" | "sms_gateway");
        match &self.url {
            None if needs_url => bad("url", format!("required for type {}", self.kind)),
            Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                bad("url", format!("`{u}` is not an http:// or https:// URL"))
            }
            _ => {}
        }
        match self.kind.as_str() {
            "pagerduty" => match &self.routing_key {
                None => bad("routing_key", "required for type pagerduty".into()),
                Some(k) if k.expose().len() != 32 => bad(
                    "routing_key",
                    format!(
                        "is {} characters long; PagerDuty integration keys have 32",
                        k.expose().len()
                    ),
                ),
                _ => {}
            },
            "email" => self.email_problems(&mut bad),
            "twilio" => self.twilio_problems(&mut bad),
            "sms_gateway" => self.recipient_numbers(&mut bad),
            "syslog" => self.syslog_problems(&mut bad),
            _ => {}
        }
        if self
            .min_severity
            .parse::<watchpost_core::Severity>()
            .is_err()
        {
            bad(
                "min_severity",
                format!(
                    "`{}` is not a severity: expected info, low, medium, high or critical",
                    self.min_severity
                ),
            );
        }
        if self.max_attempts > 10_000 {
            bad(
                "max_attempts",
                format!(
                    "{} is out of range: allowed 0 (retry for retry_for_seconds) to 10000",
                    self.max_attempts
                ),
            );
        }
        if !(1..=30 * 86_400).contains(&self.retry_for_seconds) {
            bad(
                "retry_for_seconds",
                format!(
                    "{} is out of range: allowed 1 to 2592000 (30 days)",
                    self.retry_for_seconds
                ),
            );
        }
        if !(1..=3600).contains(&self.max_backoff_seconds) {
            bad(
                "max_backoff_seconds",
                format!(
                    "{} is out of range: allowed 1 to 3600",
                    self.max_backoff_seconds
                ),
            );
        }
        if !(1..=7 * 86_400).contains(&self.failing_alert_after_seconds) {
            bad(
                "failing_alert_after_seconds",
                format!(
                    "{} is out of range: allowed 1 to 604800",
                    self.failing_alert_after_seconds
                ),
            );
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            bad(
                "timeout_seconds",
                format!("{} is out of range: allowed 1 to 300", self.timeout_seconds),
            );
        }
        out
    }

    fn email_problems(&self, bad: &mut impl FnMut(&str, String)) {
        match self.smtp_host.as_deref() {
            None => bad("smtp_host", "required for type email".into()),
            Some(h) if h.trim().is_empty() || h.contains([' ', ':', '/']) => bad(
                "smtp_host",
                format!("`{h}` is not a host name (give the port in smtp_port)"),
            ),
            _ => {}
        }
        let security = self.smtp_security.as_deref().unwrap_or("starttls");
        if !["starttls", "tls", "none"].contains(&security) {
            bad(
                "smtp_security",
                format!("`{security}` is not allowed: expected starttls, tls or none"),
            );
        }
        if security == "none" && (self.username.is_some() || self.password.is_some()) {
            bad(
                "smtp_security",
                "`none` would send the credentials in clear: use starttls or tls".into(),
            );
        }
        if self.username.is_some() != self.password.is_some() {
            bad(
                if self.username.is_some() {
                    "password"
                } else {
                    "username"
                },
                "username and password go together".into(),
            );
        }
        match self.from.as_deref() {
            None => bad("from", "required for type email".into()),
            Some(a) if !a.contains('@') => bad("from", format!("`{a}` is not an address")),
            _ => {}
        }
        if self.to.is_empty() {
            bad("to", "required for type email: at least one address".into());
        }
        for (i, a) in self.to.iter().enumerate() {
            if !a.contains('@') {
                bad(&format!("to[{i}]"), format!("`{a}` is not an address"));
            }
        }
    }

    fn twilio_problems(&self, bad: &mut impl FnMut(&str, String)) {
        match self.account_sid.as_deref() {
            None => bad("account_sid", "required for type twilio".into()),
            Some(s) if !is_twilio_sid(s, "AC") => bad(
                "account_sid",
                format!("`{s}` is not an Account SID (AC and 32 hex digits)"),
            ),
            _ => {}
        }
        if self.auth_token.as_ref().is_none_or(Secret::is_empty) {
            bad("auth_token", "required for type twilio".into());
        }
        match (&self.from, &self.messaging_service_sid) {
            (None, None) => bad(
                "from",
                "type twilio needs `from` (a number) or `messaging_service_sid`".into(),
            ),
            (Some(f), _) if !is_e164(f) => bad(
                "from",
                format!("`{f}` is not an E.164 number (+ and 8 to 15 digits)"),
            ),
            (_, Some(m)) if !is_twilio_sid(m, "MG") => bad(
                "messaging_service_sid",
                format!("`{m}` is not a Messaging Service SID (MG and 32 hex digits)"),
            ),
            _ => {}
        }
        self.recipient_numbers(bad);
    }

    fn recipient_numbers(&self, bad: &mut impl FnMut(&str, String)) {
        if self.to.is_empty() {
            bad(
                "to",
                format!("required for type {}: at least one number", self.kind),
            );
        }
        for (i, n) in self.to.iter().enumerate() {
            if !is_e164(n) {
                bad(
                    &format!("to[{i}]"),
                    format!("`{n}` is not an E.164 number (+ and 8 to 15 digits)"),
                );
            }
        }
    }

    fn syslog_problems(&self, bad: &mut impl FnMut(&str, String)) {
        match self.address.as_deref() {
            None => bad("address", "required for type syslog (host:port)".into()),
            Some(a) => {
                let port = a.rsplit_once(':').map(|(h, p)| (h, p.parse::<u16>()));
                if !matches!(port, Some((h, Ok(p))) if !h.is_empty() && p > 0) {
                    bad("address", format!("`{a}` is not host:port"));
                }
            }
        }
        let transport = self.transport.as_deref().unwrap_or("udp");
        if !["udp", "tcp", "tls"].contains(&transport) {
            bad(
                "transport",
                format!("`{transport}` is not allowed: expected udp, tcp or tls"),
            );
        }
        if let Some(f) = &self.facility
            && !SYSLOG_FACILITIES.iter().any(|(name, _)| name == f)
        {
            let names: Vec<&str> = SYSLOG_FACILITIES.iter().map(|(n, _)| *n).collect();
            bad(
                "facility",
                format!(
                    "`{f}` is not a facility: expected one of {}",
                    names.join(", ")
                ),
            );
        }
    }
}
