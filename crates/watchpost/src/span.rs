//! Time spans as people write them on the command line: `90m`, `12h`, `7d`.

use chrono::Duration;

/// `90s`, `30m`, `12h`, `7d`, `2w`.
pub fn parse_span(text: &str) -> Result<Duration, String> {
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
    span.map(Duration::seconds)
        .ok_or_else(|| format!("`{text}` is out of range: 1 s to 366 days"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_write_them() {
        assert_eq!(parse_span("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_span("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_span("2w").unwrap(), Duration::weeks(2));
        assert!(parse_span("7").unwrap_err().contains("no unit"));
        assert!(parse_span("7y").unwrap_err().contains("not a unit"));
        assert!(parse_span("400d").unwrap_err().contains("out of range"));
    }
}
