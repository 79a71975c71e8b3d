//! A request for a decision, checked and normalised into one.

use crate::Guards;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::net::IpAddr;
use watchpost_core::net::Cidr;
use watchpost_core::{Decision, DecisionScope};

/// The longest decision: a year. Longer bans outlive the reason for them.
pub const MAX_DURATION: Duration = Duration::days(365);
/// The decision types enforcers know: CrowdSec bouncers apply `ban` (and `captcha` where
/// they can show one).
const KINDS: &[&str] = &["ban", "captcha"];
const MAX_REASON_CHARS: usize = 500;

/// What someone asks for (the API's body, the CLI's flags, a playbook's action).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `ip` or `range`; read from `value` when absent (a `/` makes it a range).
    #[serde(default)]
    pub scope: Option<String>,
    /// The address or network.
    pub value: String,
    /// `ban` (default) or `captcha`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// How long: `4h`, `30m`, `1h30m`, `7d`.
    pub duration: String,
    /// Why, in the words of whoever asks.
    pub reason: String,
    /// Record it as "would have done": no enforcer applies it.
    #[serde(default)]
    pub simulated: bool,
}

/// Why a request was refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    pub field: &'static str,
    pub message: String,
    /// A guard refused it (loopback, own address, allowlist…), not a malformed request.
    pub guarded: bool,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        message: message.into(),
        guarded: false,
    }
}

/// Checks `request` against the limits and `guards` and makes the decision `origin` asks
/// for at `now` (its id is given when stored).
pub fn decide(
    request: &DecisionRequest,
    guards: &Guards,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let value = request.value.trim();
    if request
        .scope
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("username"))
    {
        return suspend(request, value, origin, now);
    }
    let target: Cidr = value.parse().map_err(|e: String| invalid("value", e))?;
    // An IPv4 address written as IPv6 (::ffff:203.0.113.7) is the IPv4 address.
    let target = match (target.network(), target.prefix()) {
        (IpAddr::V6(v6), 128) => match v6.to_ipv4_mapped() {
            Some(v4) => Cidr::from(IpAddr::V4(v4)),
            None => target,
        },
        _ => target,
    };
    let single = target.prefix() == if target.network().is_ipv4() { 32 } else { 128 };
    let scope = match request.scope.as_deref() {
        Some(s) => s
            .parse::<DecisionScope>()
            .map_err(|e| invalid("scope", e))?,
        None if single && !value.contains('/') => DecisionScope::Ip,
        None => DecisionScope::Range,
    };
    if scope == DecisionScope::Ip && !single {
        return Err(invalid(
            "value",
            format!("`{value}` is a network: give scope `range`, or one address"),
        ));
    }
    let checked = common_fields(request)?;
    if let Some(message) = guards.refusal(&target) {
        return Err(Refusal {
            field: "value",
            message,
            guarded: true,
        });
    }
    let value = match scope {
        DecisionScope::Ip => target.network().to_string(),
        DecisionScope::Range | DecisionScope::Username => target.to_string(),
    };
    Ok(checked.decision(scope, value, origin, now, request.simulated))
}

/// The type, duration and reason every decision has, once checked.
struct Checked<'a> {
    kind: &'a str,
    duration: Duration,
    reason: &'a str,
}

impl Checked<'_> {
    /// The decision on `value` in `scope`, new (`id` 0, not lifted).
    fn decision(
        &self,
        scope: DecisionScope,
        value: String,
        origin: &str,
        now: DateTime<Utc>,
        simulated: bool,
    ) -> Decision {
        Decision {
            id: 0,
            kind: self.kind.to_string(),
            scope,
            value,
            origin: origin.to_string(),
            reason: self.reason.to_string(),
            created_at: now,
            until: now + self.duration,
            simulated,
            deleted_at: None,
            deleted_by: None,
        }
    }
}

/// The type, duration and reason every decision has, checked.
fn common_fields(request: &DecisionRequest) -> Result<Checked<'_>, Refusal> {
    let kind = request.kind.as_deref().unwrap_or("ban");
    if !KINDS.contains(&kind) {
        return Err(invalid(
            "type",
            format!("`{kind}` is not a decision type: expected ban or captcha"),
        ));
    }
    let duration = crate::duration::parse(&request.duration).map_err(|e| invalid("duration", e))?;
    if duration < Duration::seconds(1) || duration > MAX_DURATION {
        return Err(invalid("duration", "between 1s and 365d"));
    }
    let reason = request.reason.trim();
    if reason.is_empty()
        || reason.chars().count() > MAX_REASON_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(invalid(
            "reason",
            format!("say why in 1 to {MAX_REASON_CHARS} printable characters"),
        ));
    }
    Ok(Checked {
        kind,
        duration,
        reason,
    })
}

/// The longest user name an account suspension takes.
const MAX_USER_CHARS: usize = 128;

/// A suspension of an application account: the value is the user name as the application
/// knows it (its guards, the protected accounts, are the caller's).
fn suspend(
    request: &DecisionRequest,
    user: &str,
    origin: &str,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    if user.is_empty()
        || user.chars().count() > MAX_USER_CHARS
        || user.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(invalid(
            "value",
            format!("a user name is 1 to {MAX_USER_CHARS} printable characters without spaces"),
        ));
    }
    let checked = common_fields(request)?;
    Ok(checked.decision(
        DecisionScope::Username,
        user.to_string(),
        origin,
        now,
        request.simulated,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: &str) -> DecisionRequest {
        DecisionRequest {
            value: value.into(),
            duration: "4h".into(),
            reason: "sqli".into(),
            ..DecisionRequest::default()
        }
    }

    #[test]
    fn values_are_normalised_and_scoped() {
        let now = Utc::now();
        let g = Guards::default();
        let d = decide(&request(" 2001:DB8::0001 "), &g, "cli", now).unwrap();
        assert_eq!(
            (d.scope, d.value.as_str()),
            (DecisionScope::Ip, "2001:db8::1")
        );
        assert_eq!(d.until - d.created_at, Duration::hours(4));
        let d = decide(&request("::ffff:203.0.113.7"), &g, "cli", now).unwrap();
        assert_eq!(d.value, "203.0.113.7");
        let d = decide(&request("203.0.113.77/24"), &g, "cli", now).unwrap();
        assert_eq!(
            (d.scope, d.value.as_str()),
            (DecisionScope::Range, "203.0.113.0/24")
        );
        let d = decide(&request("203.0.113.7/32"), &g, "cli", now).unwrap();
        assert_eq!(d.scope, DecisionScope::Range);
    }

    #[test]
    fn each_bad_field_is_named() {
        let now = Utc::now();
        let g = Guards::default();
        let field = |r: DecisionRequest| decide(&r, &g, "cli", now).unwrap_err().field;
        assert_eq!(field(request("not an address")), "value");
        assert_eq!(
            field(DecisionRequest {
                scope: Some("ip".into()),
                ..request("10.0.0.0/8")
            }),
            "value"
        );
        assert_eq!(
            field(DecisionRequest {
                scope: Some("user".into()),
                ..request("10.1.1.1")
            }),
            "scope"
        );
        assert_eq!(
            field(DecisionRequest {
                kind: Some("nuke".into()),
                ..request("10.1.1.1")
            }),
            "type"
        );
        assert_eq!(
            field(DecisionRequest {
                duration: "0s".into(),
                ..request("10.1.1.1")
            }),
            "duration"
        );
        assert_eq!(
            field(DecisionRequest {
                duration: "400d".into(),
                ..request("10.1.1.1")
            }),
            "duration"
        );
        assert_eq!(
            field(DecisionRequest {
                reason: " ".into(),
                ..request("10.1.1.1")
            }),
            "reason"
        );
        let guarded = decide(&request("127.0.0.1"), &g, "cli", now).unwrap_err();
        assert!(guarded.guarded && guarded.message.contains("loopback"));
        let mapped = decide(&request("::ffff:127.0.0.1"), &g, "cli", now).unwrap_err();
        assert!(mapped.guarded, "an IPv4-mapped loopback is loopback");
    }

    #[test]
    fn an_account_is_suspended_by_its_user_name() {
        let guards = Guards::default();
        let suspend = |user: &str| DecisionRequest {
            scope: Some("Username".into()),
            ..request(user)
        };
        let d = decide(&suspend("alice@example.com"), &guards, "t", Utc::now()).unwrap();
        assert_eq!(
            (d.scope, d.value.as_str()),
            (DecisionScope::Username, "alice@example.com")
        );
        // An address is a user name here, and no address guard applies to it.
        assert!(decide(&suspend("127.0.0.1"), &guards, "t", Utc::now()).is_ok());
        for bad in ["", "two words", "tab\tname", &"x".repeat(129)] {
            let refused = decide(&suspend(bad), &guards, "t", Utc::now()).unwrap_err();
            assert_eq!(refused.field, "value", "{bad:?}");
        }
    }
}
