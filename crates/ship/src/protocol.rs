//! The wire format between a sender and the server, and the sender's token.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use watchpost_core::{Detection, Event};

/// Where batches go.
pub const INGEST_PATH: &str = "/api/v1/ingest";

/// The largest batch a server accepts, decompressed.
pub const MAX_BATCH_BYTES: usize = 16 << 20;

/// Who sent a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderInfo {
    /// `agent` or `proxy`.
    pub kind: String,
    /// The sending program's version.
    pub version: String,
}

/// One thing a sender ships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Record {
    Event(Box<Event>),
    Detection(Box<Detection>),
}

/// What goes over the wire: the records of one spool segment, in the order they were
/// written. `sequence` numbers segments so the server's log shows gaps and repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub sender: SenderInfo,
    pub sequence: u64,
    pub records: Vec<Record>,
    /// Records the sender dropped so far because its spool was full.
    #[serde(default)]
    pub dropped: u64,
}

/// Why a body is not a batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("the batch is larger than {MAX_BATCH_BYTES} bytes decompressed")]
    TooLarge,
    #[error("the body is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("the batch is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Batch {
    /// Reads a request body (gzip-compressed when `gzip`), decompressing no more than
    /// [`MAX_BATCH_BYTES`]: a small body cannot expand into a large one unnoticed.
    pub fn decode(body: &[u8], gzip: bool) -> Result<Batch, BatchError> {
        if !gzip {
            if body.len() > MAX_BATCH_BYTES {
                return Err(BatchError::TooLarge);
            }
            return Ok(serde_json::from_slice(body)?);
        }
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_BATCH_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(BatchError::Gzip)?;
        if out.len() > MAX_BATCH_BYTES {
            return Err(BatchError::TooLarge);
        }
        Ok(serde_json::from_slice(&out)?)
    }
}

/// A sender's credential: `wps_<id>_<secret>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("a sender token reads wps_<id>_<secret>")]
    Malformed,
}

impl Token {
    /// A new token with a random id and a 256-bit random secret.
    pub fn generate() -> Token {
        let mut rng = rand::rng();
        let id: String = (0..12)
            .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
            .collect();
        let secret: [u8; 32] = rng.random();
        Token {
            id,
            secret: watchpost_core::hex(&secret),
        }
    }

    /// Reads `wps_<id>_<secret>`.
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let rest = text
            .trim()
            .strip_prefix("wps_")
            .ok_or(TokenError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(TokenError::Malformed)?;
        let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !plain(id) || !plain(secret) || secret.len() < 32 {
            return Err(TokenError::Malformed);
        }
        Ok(Token {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// Whether this token's secret is the one `hash` was made from. The comparison takes
    /// the same time wherever the hashes differ.
    pub fn matches(&self, hash: &str) -> bool {
        let ours = secret_hash(&self.secret);
        ours.len() == hash.len()
            && ours
                .bytes()
                .zip(hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "wps_{}_{}", self.id, self.secret)
    }
}

/// The SHA-256 of a secret, in hex: what the server stores. Secrets are 256 random bits,
/// so a plain hash cannot be reversed by guessing.
pub fn secret_hash(secret: &str) -> String {
    watchpost_core::hex(&Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_verify_against_their_hash() {
        let token = Token::generate();
        let text = token.to_string();
        assert!(text.starts_with("wps_"));
        let parsed = Token::parse(&text).unwrap();
        assert_eq!(parsed, token);
        let hash = secret_hash(&token.secret);
        assert!(parsed.matches(&hash));
        let other = Token::generate();
        assert!(!other.matches(&hash));
        for bad in [
            "",
            "wps_",
            "wps_abc",
            "xyz_abc_def",
            "wps_a_short",
            "wps_a-b_0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(Token::parse(bad), Err(TokenError::Malformed), "{bad}");
        }
    }
}
