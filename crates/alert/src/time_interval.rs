//! Named time intervals (`[[alerting.time_intervals]]`): business hours, nights, weekends,
//! in a time zone, to mute a route or to keep it active only then.

use crate::config::{TimeIntervalConfig, TimeRangeConfig};
use chrono::{DateTime, Utc};
use jiff::tz::TimeZone;

/// A compiled named interval: it holds when any of its ranges holds.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    pub name: String,
    ranges: Vec<TimeRange>,
}

#[derive(Debug, Clone)]
struct TimeRange {
    /// Monday = 0; empty holds every day.
    weekdays: Vec<(u8, u8)>,
    /// Minutes since midnight, end excluded.
    times: Vec<(u16, u16)>,
    /// Days of the month, negative from the end (-1 = last).
    days_of_month: Vec<(i8, i8)>,
    /// 1 = January.
    months: Vec<(u8, u8)>,
    zone: TimeZone,
}

const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    /// Compiles `config`; an error is the key under the interval (`intervals[0].times[1]`)
    /// and what is wrong there.
    pub fn compile(config: &TimeIntervalConfig) -> Result<TimeInterval, (String, String)> {
        if config.name.trim().is_empty() {
            return Err(("name".into(), "a time interval needs a name".into()));
        }
        let ranges = config
            .intervals
            .iter()
            .enumerate()
            .map(|(i, r)| {
                TimeRange::compile(r)
                    .map_err(|(key, message)| (format!("intervals[{i}].{key}"), message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TimeInterval {
            name: config.name.clone(),
            ranges,
        })
    }

    /// Whether `at` falls inside this interval.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.ranges.iter().any(|r| r.contains(at))
    }
}

impl TimeRange {
    /// Compiles one range; an error is the key under the range and what is wrong there.
    fn compile(c: &TimeRangeConfig) -> Result<TimeRange, (String, String)> {
        let at = |key: String| move |message: String| (key, message);
        let weekdays = c
            .weekdays
            .iter()
            .enumerate()
            .map(|(i, w)| span(w, |s| named(s, &WEEKDAYS, 0)).map_err(at(format!("weekdays[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let months = c
            .months
            .iter()
            .enumerate()
            .map(|(i, m)| {
                span(m, |s| {
                    named(s, &MONTHS, 1).or_else(|_| number_in(s, 1, 12).map(|n| n as u8))
                })
                .map_err(at(format!("months[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let days_of_month = c
            .days_of_month
            .iter()
            .enumerate()
            .map(|(i, d)| {
                span(d, |s| {
                    let n = number_in(s, -31, 31)?;
                    if n == 0 {
                        return Err("day 0 does not exist: use 1 to 31 or -1 to -31".into());
                    }
                    Ok(n as i8)
                })
                .map_err(at(format!("days_of_month[{i}]")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let times = c
            .times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let start = minute_of_day(&t.start).map_err(at(format!("times[{i}].start")))?;
                let end = minute_of_day(&t.end).map_err(at(format!("times[{i}].end")))?;
                if end <= start {
                    return Err((
                        format!("times[{i}]"),
                        format!(
                            "end {} is not after start {}; split a range that crosses midnight in two",
                            t.end, t.start
                        ),
                    ));
                }
                Ok((start, end))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let zone = match &c.location {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name).map_err(|e| {
                (
                    "location".to_string(),
                    format!("unknown time zone `{name}`: {e}"),
                )
            })?,
        };
        Ok(TimeRange {
            weekdays,
            times,
            days_of_month,
            months,
            zone,
        })
    }

    fn contains(&self, at: DateTime<Utc>) -> bool {
        let Ok(ts) = jiff::Timestamp::from_millisecond(at.timestamp_millis()) else {
            return false;
        };
        let local = ts.to_zoned(self.zone.clone());
        let weekday = local.weekday().to_monday_zero_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let month = local.month() as u8;
        let day = local.day();
        let from_end = day - local.days_in_month() - 1;
        let within = |lo: i64, hi: i64, v: i64| {
            if lo <= hi {
                (lo..=hi).contains(&v)
            } else {
                v >= lo || v <= hi
            }
        };
        (self.weekdays.is_empty()
            || self
                .weekdays
                .iter()
                .any(|&(a, b)| within(a.into(), b.into(), weekday.into())))
            && (self.times.is_empty() || self.times.iter().any(|&(a, b)| (a..b).contains(&minute)))
            && (self.months.is_empty()
                || self
                    .months
                    .iter()
                    .any(|&(a, b)| within(a.into(), b.into(), month.into())))
            && (self.days_of_month.is_empty()
                || self.days_of_month.iter().any(|&(a, b)| {
                    let v = if a < 0 { from_end } else { day };
                    within(a.into(), b.into(), v.into())
                }))
    }
}

/// `x` or `x:y`, each end parsed by `one`.
fn span<T: Copy>(text: &str, one: impl Fn(&str) -> Result<T, String>) -> Result<(T, T), String> {
    match text.split_once(':') {
        Some((a, b)) => Ok((one(a.trim())?, one(b.trim())?)),
        None => {
            let v = one(text.trim())?;
            Ok((v, v))
        }
    }
}

fn named(text: &str, names: &[&str], first: u8) -> Result<u8, String> {
    let lower = text.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u8 + first)
        .ok_or_else(|| format!("`{text}` is not one of {}", names.join(", ")))
}

fn number_in(text: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n: i64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(lo..=hi).contains(&n) {
        return Err(format!("{n} is out of range {lo} to {hi}"));
    }
    Ok(n)
}

fn minute_of_day(text: &str) -> Result<u16, String> {
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not HH:MM"))?;
    let h = number_in(h, 0, 24)?;
    let m = number_in(m, 0, 59)?;
    if h == 24 && m != 0 {
        return Err(format!("`{text}` is past the end of the day (24:00)"));
    }
    Ok((h * 60 + m) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TimeOfDayConfig;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().into()
    }

    fn interval(range: TimeRangeConfig) -> TimeInterval {
        TimeInterval::compile(&TimeIntervalConfig {
            name: "t".into(),
            intervals: vec![range],
        })
        .unwrap()
    }

    #[test]
    fn weekday_hours_in_a_time_zone() {
        let office = interval(TimeRangeConfig {
            weekdays: vec!["monday:friday".into()],
            times: vec![TimeOfDayConfig {
                start: "09:00".into(),
                end: "17:00".into(),
            }],
            location: Some("Europe/Berlin".into()),
            ..Default::default()
        });
        // 2026-11-23 is a Monday; Berlin is UTC+1 in November.
        assert!(office.contains(at("2026-11-23T08:00:00Z")));
        assert!(!office.contains(at("2026-11-23T07:59:00Z")));
        assert!(!office.contains(at("2026-11-23T16:00:00Z")));
        assert!(!office.contains(at("2026-11-22T10:00:00Z")), "Sunday");
    }

    #[test]
    fn wrapping_spans_and_last_day_of_month() {
        let winter_weekend = interval(TimeRangeConfig {
            weekdays: vec!["saturday:sunday".into()],
            months: vec!["december:february".into()],
            ..Default::default()
        });
        assert!(winter_weekend.contains(at("2027-01-02T12:00:00Z")));
        assert!(!winter_weekend.contains(at("2026-11-28T12:00:00Z")));
        let month_end = interval(TimeRangeConfig {
            days_of_month: vec!["-1".into()],
            ..Default::default()
        });
        assert!(month_end.contains(at("2026-11-30T12:00:00Z")));
        assert!(!month_end.contains(at("2026-11-29T12:00:00Z")));
        assert!(month_end.contains(at("2027-02-28T12:00:00Z")));
    }

    #[test]
    fn bad_ranges_name_the_key() {
        let err = TimeInterval::compile(&TimeIntervalConfig {
            name: "x".into(),
            intervals: vec![TimeRangeConfig {
                times: vec![TimeOfDayConfig {
                    start: "18:00".into(),
                    end: "06:00".into(),
                }],
                ..Default::default()
            }],
        })
        .unwrap_err();
        assert_eq!(err.0, "intervals[0].times[0]", "{err:?}");
        assert!(err.1.contains("not after start"), "{err:?}");
        let err = TimeRange::compile(&TimeRangeConfig {
            weekdays: vec!["funday".into()],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.0 == "weekdays[0]" && err.1.contains("funday"),
            "{err:?}"
        );
        let err = TimeRange::compile(&TimeRangeConfig {
            location: Some("Mars/Olympus".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.0 == "location" && err.1.contains("unknown time zone"),
            "{err:?}"
        );
    }
}
