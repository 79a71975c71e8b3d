//! Silences: "do not notify alerts like these until then", with who asked and why.

use crate::matcher::{LabelSet, Matcher, all_match, parse_all};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most matchers one silence may carry.
pub const MAX_SILENCE_MATCHERS: usize = 32;

/// A silence as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: Uuid,
    /// Matcher texts, as in routes: every one must hold.
    pub matchers: Vec<String>,
    #[serde(with = "watchpost_core::time::flexible")]
    pub starts_at: DateTime<Utc>,
    #[serde(with = "watchpost_core::time::flexible")]
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    #[serde(with = "watchpost_core::time::flexible")]
    pub created_at: DateTime<Utc>,
}

/// Where a silence stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    /// Checks a silence someone asks for; the error names the field.
    /// Checks a silence someone asks for; an error is `(field, what is wrong)`.
    pub fn validate(&self) -> Result<Vec<Matcher>, (String, String)> {
        let bad = |field: &str, message: String| Err((field.to_string(), message));
        if self.matchers.is_empty() {
            return bad("matchers", "a silence needs at least one matcher; one that matches everything would mute all alerts".into());
        }
        if self.matchers.len() > MAX_SILENCE_MATCHERS {
            return bad(
                "matchers",
                format!(
                    "{} given, at most {MAX_SILENCE_MATCHERS} allowed",
                    self.matchers.len()
                ),
            );
        }
        if self.ends_at <= self.starts_at {
            return bad("ends_at", "must be after starts_at".into());
        }
        if self.created_by.trim().is_empty() {
            return bad("created_by", "say who is silencing".into());
        }
        if self.comment.trim().is_empty() {
            return bad("comment", "say why (a ticket, a maintenance window)".into());
        }
        parse_all("matchers", &self.matchers)
    }

    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
}

/// A silence with its matchers compiled, as the pipeline holds it.
#[derive(Debug, Clone)]
pub struct ActiveSilence {
    pub silence: Silence,
    matchers: Vec<Matcher>,
}

impl ActiveSilence {
    pub fn new(silence: Silence) -> Result<ActiveSilence, String> {
        let matchers = silence
            .validate()
            .map_err(|(field, message)| format!("{field}: {message}"))?;
        Ok(ActiveSilence { silence, matchers })
    }

    /// Whether this silence mutes an alert with `labels` at `now`.
    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        self.silence.state(now) == SilenceState::Active && all_match(&self.matchers, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn silence(matchers: &[&str]) -> Silence {
        let now = Utc::now();
        Silence {
            id: Uuid::now_v7(),
            matchers: matchers.iter().map(|m| m.to_string()).collect(),
            starts_at: now,
            ends_at: now + Duration::hours(1),
            created_by: "ana".into(),
            comment: "maintenance".into(),
            created_at: now,
        }
    }

    #[test]
    fn a_silence_mutes_matching_alerts_only_while_active() {
        let s = silence(&["host=db-1"]);
        let start = s.starts_at;
        let a = ActiveSilence::new(s).unwrap();
        let db = LabelSet::from([("host".to_string(), "db-1".to_string())]);
        let web = LabelSet::from([("host".to_string(), "web-1".to_string())]);
        assert!(a.mutes(&db, start));
        assert!(!a.mutes(&web, start));
        assert!(!a.mutes(&db, start + Duration::hours(2)));
        assert!(!a.mutes(&db, start - Duration::seconds(1)));
    }

    #[test]
    fn bad_silences_name_the_field() {
        assert_eq!(silence(&[]).validate().unwrap_err().0, "matchers");
        let (field, message) = silence(&["a=~\"(\""]).validate().unwrap_err();
        assert!(
            field == "matchers[0]" && message.contains("invalid regex"),
            "{message}"
        );
        let mut s = silence(&["a=b"]);
        s.comment = " ".into();
        assert_eq!(s.validate().unwrap_err().0, "comment");
        let mut s = silence(&["a=b"]);
        s.ends_at = s.starts_at;
        assert_eq!(s.validate().unwrap_err().0, "ends_at");
    }
}
