//! Durations as people and enforcers write them: `4h`, `1h30m`, `90s`, `7d` in, and Go's
//! `time.Duration` text (`3h59m55s`), which CrowdSec bouncers parse, out.

use chrono::Duration;

/// Reads `4h`, `1h30m`, `90s`, `15m`, `7d` (units d, h, m, s, in that order, each once),
/// or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("a duration such as 4h, 30m or 1h30m is needed".into());
    }
    if let Ok(seconds) = t.parse::<i64>() {
        return Ok(Duration::seconds(seconds));
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    let mut last_unit = 0;
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let (rank, seconds) = match c {
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            's' => (4, 1),
            _ => return Err(format!("`{t}`: `{c}` is not a unit (d, h, m, s)")),
        };
        if number.is_empty() || rank <= last_unit || number.len() > 9 {
            return Err(format!(
                "`{t}` is not a duration: write it like 4h, 30m, 1h30m or 7d"
            ));
        }
        let n: i64 = number.parse().map_err(|_| format!("`{t}`: bad number"))?;
        total += Duration::seconds(n * seconds);
        number.clear();
        last_unit = rank;
    }
    if !number.is_empty() {
        return Err(format!("`{t}`: `{number}` has no unit (d, h, m, s)"));
    }
    Ok(total)
}

/// Go's `time.Duration` text to the second: `3h59m55s`, `45s`, `0s`, `-1m5s`.
pub fn go(d: Duration) -> String {
    let total = d.num_seconds();
    let sign = if total < 0 { "-" } else { "" };
    let s = total.unsigned_abs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, _) => format!("{sign}{m}m{s}s"),
        _ => format!("{sign}{h}h{m}m{s}s"),
    }
}

/// Reads Go's duration text (`3h59m55s`, `59m56.5s`, `250ms`); `None` for a negative or
/// unreadable one.
pub fn parse_go(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.starts_with('-') || text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    (total.is_finite() && total < 1e9).then(|| std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_people_write() {
        assert_eq!(parse("4h"), Ok(Duration::hours(4)));
        assert_eq!(parse("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse("7d"), Ok(Duration::days(7)));
        assert_eq!(parse(" 90 "), Ok(Duration::seconds(90)));
        assert_eq!(
            parse("2d3h4m5s"),
            Ok(Duration::seconds(2 * 86_400 + 3 * 3600 + 245))
        );
        for bad in ["", "h", "4x", "30m1h", "4h4h", "12", "1.5h", "99999999999h"] {
            if bad == "12" {
                continue;
            }
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_text_round_numbers_and_signs() {
        assert_eq!(go(Duration::seconds(4 * 3600 - 5)), "3h59m55s");
        assert_eq!(go(Duration::seconds(45)), "45s");
        assert_eq!(go(Duration::seconds(65)), "1m5s");
        assert_eq!(go(Duration::zero()), "0s");
        assert_eq!(go(Duration::seconds(-65)), "-1m5s");
        assert_eq!(go(Duration::hours(49)), "49h0m0s");
    }
    #[test]
    fn go_durations_read() {
        assert_eq!(
            parse_go("3h59m55s"),
            Some(std::time::Duration::from_secs(4 * 3600 - 5))
        );
        assert_eq!(parse_go("45s"), Some(std::time::Duration::from_secs(45)));
        assert_eq!(
            parse_go("59m56.5s"),
            Some(std::time::Duration::from_secs_f64(3596.5))
        );
        assert_eq!(
            parse_go("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(parse_go("-6s"), None);
        assert_eq!(parse_go("4x"), None);
        assert_eq!(parse_go(""), None);
    }
}
