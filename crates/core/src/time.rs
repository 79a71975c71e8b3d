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

/// A span as people write it, `90s`, `30m`, `12h`, `7d`, `2w`: on the command line, and
/// in Sigma correlation timespans. From 1 s to 366 days.
pub fn parse_span(text: &str) -> Result<chrono::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: use s, m, h, d or w (e.g. 7d)"))?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(format!("`{unit}` is not a unit: use s, m, h, d or w")),
    };
    let span = n
        .checked_mul(seconds)
        .filter(|s| *s > 0 && *s <= 366 * 86_400);
    span.map(chrono::Duration::seconds)
        .ok_or_else(|| format!("`{text}` is out of range: 1 s to 366 days"))
}

/// Serde adapter: writes RFC 3339 (as many fraction digits as needed), reads any form [`parse_timestamp`] takes.
pub mod flexible {
    use super::*;

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(parse_span("7d").unwrap(), chrono::Duration::days(7));
        assert_eq!(parse_span("90m").unwrap(), chrono::Duration::minutes(90));
        assert_eq!(parse_span("2w").unwrap(), chrono::Duration::weeks(2));
        assert!(parse_span("7").unwrap_err().contains("no unit"));
        assert!(parse_span("7y").unwrap_err().contains("not a unit"));
        assert!(parse_span("400d").unwrap_err().contains("out of range"));
    }

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
