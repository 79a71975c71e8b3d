//! Timestamps: UTC everywhere, stored as integer milliseconds, accepted in the spellings
//! that log sources use.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Milliseconds since the Unix epoch, the storage form of every timestamp.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`]; out-of-range values clamp to the epoch rather than panic.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The current time truncated to milliseconds, the precision Watchpost stores.
pub fn now_millis() -> DateTime<Utc> {
    from_millis(Utc::now().timestamp_millis())
}

/// Parses RFC 3339 (`2026-11-22T10:00:00Z`, with offset or fractional seconds), the
/// space-separated form many logs use (`2026-11-22 10:00:00.123`, read as UTC), or a
/// number of epoch seconds / milliseconds (values above 10^11 are taken as milliseconds).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    if let Ok(number) = text.parse::<f64>() {
        return from_epoch_number(number);
    }
    None
}

fn from_epoch_number(number: f64) -> Option<DateTime<Utc>> {
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    let millis = if number > 1e11 {
        number
    } else {
        number * 1000.0
    };
    Utc.timestamp_millis_opt(millis as i64).single()
}

/// Serde adapter: writes RFC 3339 (as many fraction digits as needed), reads any form [`parse_timestamp`] takes.
pub mod flexible {
    use super::*;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(text) => parse_timestamp(&text).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid timestamp `{text}`: expected RFC 3339 or epoch seconds/milliseconds"
                ))
            }),
            Raw::Number(n) => from_epoch_number(n)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid epoch timestamp {n}"))),
        }
    }
}

/// Like [`flexible`] for optional timestamps.
pub mod flexible_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => flexible::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "flexible")] DateTime<Utc>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_spellings() {
        let expected = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        for text in [
            "2026-11-22T10:00:00Z",
            "2026-11-22T11:00:00+01:00",
            "2026-11-22 10:00:00",
            "2026-11-22T10:00:00.000",
            "1795341600",
            "1795341600000",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("-5"), None);
        assert_eq!(from_millis(to_millis(expected)), expected);
    }
}
