//! The wire format between a sender and the server, and the sender's token.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use watchpost_core::{Detection, Event};

/// Where batches go.
pub const INGEST_PATH: &str = "/api/v1/ingest";

/// Who sent a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderInfo {
    /// `agent` or `proxy`.
    pub kind: String,
    /// The sending program's version.
    pub version: String,
    /// The identity of the machine it runs on ([`watchpost_core::machine_id`]), so that a
    /// server on the same machine can leave that machine's process records to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
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
    #[error("the batch is larger than {0} bytes decompressed (api.max_body_bytes)")]
    TooLarge(usize),
    #[error("the batch holds more than {0} records (api.max_batch_events)")]
    TooManyRecords(usize),
    #[error("the body is not valid gzip: {0}")]
    Gzip(std::io::Error),
    #[error("the batch is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How much a server takes from one sender request.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Bytes after decompression.
    pub max_bytes: usize,
    /// Records in the batch.
    pub max_records: usize,
}

impl Batch {
    /// Reads a request body (gzip-compressed when `gzip`) within `limits`: decompression
    /// stops one byte past `max_bytes` (a gzip bomb costs no more than that), and records
    /// are counted as they are read, so a batch of too many small records is refused
    /// before it is built.
    pub fn decode(body: &[u8], gzip: bool, limits: BatchLimits) -> Result<Batch, BatchError> {
        let too_large = || BatchError::TooLarge(limits.max_bytes);
        let inflated;
        let json: &[u8] = if gzip {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(limits.max_bytes as u64 + 1)
                .read_to_end(&mut out)
                .map_err(BatchError::Gzip)?;
            inflated = out;
            &inflated
        } else {
            body
        };
        if json.len() > limits.max_bytes {
            return Err(too_large());
        }
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let batch = serde::de::DeserializeSeed::deserialize(
            bounded::BatchSeed(limits.max_records),
            &mut deserializer,
        )
        .map_err(|e| {
            if e.to_string().starts_with(bounded::TOO_MANY) {
                BatchError::TooManyRecords(limits.max_records)
            } else {
                BatchError::Json(e)
            }
        })?;
        deserializer.end()?;
        Ok(batch)
    }
}

/// Reading a batch while counting its records.
mod bounded {
    use super::{Batch, Record, SenderInfo};
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use std::fmt;

    /// How the error of a batch with too many records begins.
    pub(super) const TOO_MANY: &str = "too many records";

    pub(super) struct BatchSeed(pub usize);

    impl<'de> DeserializeSeed<'de> for BatchSeed {
        type Value = Batch;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Batch, D::Error> {
            d.deserialize_map(self)
        }
    }

    impl<'de> Visitor<'de> for BatchSeed {
        type Value = Batch;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a batch: {sender, sequence, records, dropped}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch, A::Error> {
            let (mut sender, mut sequence, mut records, mut dropped) = (None, None, None, 0);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "sender" => sender = Some(map.next_value::<SenderInfo>()?),
                    "sequence" => sequence = Some(map.next_value::<u64>()?),
                    "records" => records = Some(map.next_value_seed(RecordsSeed(self.0))?),
                    "dropped" => dropped = map.next_value::<u64>()?,
                    _ => {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
            }
            Ok(Batch {
                sender: sender.ok_or_else(|| de::Error::missing_field("sender"))?,
                sequence: sequence.ok_or_else(|| de::Error::missing_field("sequence"))?,
                records: records.ok_or_else(|| de::Error::missing_field("records"))?,
                dropped,
            })
        }
    }

    struct RecordsSeed(usize);

    impl<'de> DeserializeSeed<'de> for RecordsSeed {
        type Value = Vec<Record>;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Record>, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for RecordsSeed {
        type Value = Vec<Record>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
            let mut records = Vec::new();
            while let Some(record) = seq.next_element::<Record>()? {
                if records.len() == self.0 {
                    return Err(de::Error::custom(format!(
                        "{TOO_MANY}: more than {}",
                        self.0
                    )));
                }
                records.push(record);
            }
            Ok(records)
        }
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

    /// A new token for the sender `id` (its secret rotated, or enrolled again).
    pub fn renewed(id: &str) -> Token {
        Token {
            id: id.to_string(),
            secret: Token::generate().secret,
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

    fn batch_of(n: usize) -> Vec<u8> {
        let records: Vec<Record> = (0..n)
            .map(|_| {
                Record::Detection(Box::new(Detection::new(
                    "r",
                    "R",
                    watchpost_core::Severity::Low,
                    "host",
                )))
            })
            .collect();
        serde_json::to_vec(&Batch {
            sender: SenderInfo {
                kind: "agent".into(),
                version: "1".into(),
                machine_id: None,
            },
            sequence: 7,
            records,
            dropped: 0,
        })
        .unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn batches_are_read_within_their_limits() {
        let limits = BatchLimits {
            max_bytes: 1 << 20,
            max_records: 3,
        };
        let batch = Batch::decode(&batch_of(3), false, limits).unwrap();
        assert_eq!((batch.sequence, batch.records.len()), (7, 3));
        let batch = Batch::decode(&gzip(&batch_of(2)), true, limits).unwrap();
        assert_eq!(batch.records.len(), 2);
        assert!(matches!(
            Batch::decode(&batch_of(4), false, limits),
            Err(BatchError::TooManyRecords(3))
        ));
        // A gzip bomb: 64 MiB of zeros in a few dozen KiB, refused at the bound.
        let bomb = gzip(&vec![b' '; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert!(matches!(
            Batch::decode(&bomb, true, limits),
            Err(BatchError::TooLarge(_))
        ));
        assert!(matches!(
            Batch::decode(b"{\"sequence\": 1}", false, limits),
            Err(BatchError::Json(_))
        ));
        assert!(matches!(
            Batch::decode(&[batch_of(1), b"x".to_vec()].concat(), false, limits),
            Err(BatchError::Json(_))
        ));
    }

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
