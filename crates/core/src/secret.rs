//! [`Secret`]: a credential held in configuration (a password, a token, a signing key, a
//! request header's value). Its type is what marks it secret, not its key's name: it is
//! never shown by `Debug` (so never in a log line), and it serialises as
//! [`MASK`] inside [`masked`] (what `config show`, `GET /api/v1/config` and the
//! configuration page print) and as itself elsewhere (the file it is saved to).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::Cell;
use std::fmt;

/// What a secret is shown as.
pub const MASK: &str = "********";

thread_local! {
    static MASKING: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every [`Secret`] it serialises masked.
pub fn masked<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            MASKING.with(|m| m.set(self.0));
        }
    }
    let _restore = Restore(MASKING.with(|m| m.replace(true)));
    f()
}

/// See the module doc.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the code that sends it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !self.0.is_empty() && MASKING.with(Cell::get) {
            serializer.serialize_str(MASK)
        } else {
            serializer.serialize_str(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_masked_when_shown_and_kept_when_saved() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(********)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"hunter2\"");
        assert_eq!(
            masked(|| serde_json::to_string(&s).unwrap()),
            "\"********\""
        );
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            "\"hunter2\"",
            "restored"
        );
        assert_eq!(
            masked(|| serde_json::to_string(&Secret::default()).unwrap()),
            "\"\""
        );
        let back: Secret = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(back.expose(), "x");
    }
}
