//! The schedule grammar of jobs (API.md §8): `30m` / `2h` / `1d` / `45s` (once, after a delay),
//! `every 30m` / `every 2s` (interval), a 5- or 6-field cron expression (or a `@daily`-style
//! alias; evaluated in UTC by `croner`), or an ISO-8601 timestamp (once; without an offset it is
//! UTC). Anything else is a 400 `invalid_schedule` naming `schedule`. Only the text the client
//! wrote is stored: firings are recomputed from it.

use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::error::Error;

/// Longest accepted delay or interval: ten years.
const MAX_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Fires once, `seconds` after it is set.
    Delay { seconds: u64 },
    /// Fires once at this Unix time.
    At { at: f64 },
    /// Fires every `seconds`.
    Interval { seconds: u64 },
    /// Fires at each match of the pattern (UTC).
    Cron(Box<Cron>),
}

impl Schedule {
    /// Parses the client's text (trimmed, case-insensitive units).
    pub fn parse(text: &str) -> Result<Schedule, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("a schedule is required"));
        }
        let lower = text.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("every ") {
            let seconds = duration(rest.trim()).ok_or_else(|| {
                invalid("`every` needs a duration such as `every 30m` or `every 2s`")
            })?;
            return Ok(Schedule::Interval { seconds });
        }
        if let Some(seconds) = duration(&lower) {
            return Ok(Schedule::Delay { seconds });
        }
        if let Some(at) = timestamp(text) {
            return Ok(Schedule::At { at });
        }
        if let Some(cron) = cron(text)? {
            return Ok(Schedule::Cron(Box::new(cron)));
        }
        Err(invalid(format!(
            "cannot understand the schedule {:?}",
            clip(text)
        )))
    }

    /// `once`, `interval` or `cron`.
    pub fn kind(&self) -> &'static str {
        match self {
            Schedule::Delay { .. } | Schedule::At { .. } => "once",
            Schedule::Interval { .. } => "interval",
            Schedule::Cron(_) => "cron",
        }
    }

    /// Whether it fires more than once.
    pub fn recurs(&self) -> bool {
        matches!(self, Schedule::Interval { .. } | Schedule::Cron(_))
    }

    /// The first firing when the schedule is set at `now`. A timestamp in the past is refused.
    pub fn first(&self, now: f64) -> Result<f64, Error> {
        match self {
            Schedule::Delay { seconds } | Schedule::Interval { seconds } => {
                Ok(now + *seconds as f64)
            }
            Schedule::At { at } if *at <= now => Err(invalid(
                "the timestamp is in the past; give a future ISO-8601 time",
            )),
            Schedule::At { at } => Ok(*at),
            Schedule::Cron(cron) => {
                next_cron(cron, now).ok_or_else(|| invalid("the cron pattern never matches"))
            }
        }
    }

    /// The firing after the one due at `due`, given it fires at `now` (missed intervals are
    /// skipped, not replayed); `None` for one-shot schedules.
    pub fn after(&self, due: f64, now: f64) -> Option<f64> {
        match self {
            Schedule::Delay { .. } | Schedule::At { .. } => None,
            Schedule::Interval { seconds } => {
                let step = *seconds as f64;
                let next = due + step;
                Some(if next > now { next } else { now + step })
            }
            Schedule::Cron(cron) => next_cron(cron, now.max(due)),
        }
    }
}

fn invalid(why: impl Into<String>) -> Error {
    Error::invalid_param(
        "invalid_schedule",
        format!(
            "Invalid schedule: {}. Use a delay (`30m`, `2h`, `1d`, `45s`), an interval \
             (`every 30m`), a 5- or 6-field cron expression (`0 9 * * 1-5`) or an ISO-8601 \
             timestamp (`2030-01-01T09:00:00Z`).",
            why.into()
        ),
        "schedule",
    )
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// `30m`, `2 h`, `45 seconds`… → seconds (≥ 1).
fn duration(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let amount: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return None,
    };
    let seconds = amount.checked_mul(scale)?;
    (1..=MAX_SECONDS).contains(&seconds).then_some(seconds)
}

/// An ISO-8601 / RFC 3339 time as Unix seconds (no offset = UTC).
fn timestamp(text: &str) -> Option<f64> {
    if !text.as_bytes().first().is_some_and(u8::is_ascii_digit) || !text.contains('-') {
        return None;
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(unix(&time.with_timezone(&Utc)));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(unix(&naive.and_utc()));
        }
    }
    None
}

/// A cron pattern: `None` if the text does not look like one (wrong field count); an error if
/// it does but does not parse.
fn cron(text: &str) -> Result<Option<Cron>, Error> {
    let fields = text.split_whitespace().count();
    let alias = text.starts_with('@') && fields == 1;
    if !alias && !(5..=6).contains(&fields) {
        return Ok(None);
    }
    let parser = CronParser::builder().seconds(Seconds::Optional).build();
    match parser.parse(text) {
        Ok(cron) => Ok(Some(cron)),
        Err(error) => Err(invalid(format!("bad cron expression ({error})"))),
    }
}

fn unix(time: &DateTime<Utc>) -> f64 {
    time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) / 1e9
}

fn next_cron(cron: &Cron, after: f64) -> Option<f64> {
    let secs = after.floor() as i64;
    let nanos = ((after - after.floor()) * 1e9) as u32;
    let start = DateTime::<Utc>::from_timestamp(secs, nanos)?;
    cron.find_next_occurrence(&start, false)
        .ok()
        .map(|next| unix(&next))
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Schedule::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    #[test]
    fn delays_and_intervals() {
        for (text, seconds) in [
            ("30m", 1800),
            ("2h", 7200),
            ("1d", 86_400),
            ("45s", 45),
            (" 10 MIN ", 600),
        ] {
            let schedule = Schedule::parse(text).unwrap();
            assert_eq!(schedule.kind(), "once", "{text}");
            assert_eq!(schedule.first(NOW).unwrap(), NOW + seconds as f64, "{text}");
            assert_eq!(schedule.after(NOW, NOW), None);
        }
        let every = Schedule::parse("every 2s").unwrap();
        assert_eq!(every.kind(), "interval");
        assert!(every.recurs());
        assert_eq!(every.first(NOW).unwrap(), NOW + 2.0);
        assert_eq!(every.after(NOW, NOW + 0.5), Some(NOW + 2.0));
        // Missed firings are skipped, not replayed.
        assert_eq!(every.after(NOW, NOW + 10.0), Some(NOW + 12.0));
        assert_eq!(Schedule::parse("Every 30m").unwrap().kind(), "interval");
    }

    #[test]
    fn cron_five_and_six_fields_and_aliases() {
        let five = Schedule::parse("0 9 * * 1-5").unwrap();
        assert_eq!(five.kind(), "cron");
        let next = five.first(NOW).unwrap();
        assert!(next > NOW && (next as i64) % 3600 == 0, "{next}");
        let six = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(six.first(NOW).unwrap(), NOW + 10.0);
        assert_eq!(six.after(NOW + 10.0, NOW + 10.2), Some(NOW + 20.0));
        assert_eq!(Schedule::parse("@hourly").unwrap().kind(), "cron");
    }

    #[test]
    fn timestamps_are_one_shot_and_must_be_in_the_future() {
        let at = Schedule::parse("2030-01-01T09:00:00Z").unwrap();
        assert_eq!(at.kind(), "once");
        assert_eq!(at.first(NOW).unwrap(), 1_893_488_400.0);
        let naive = Schedule::parse("2030-01-01T09:00:00").unwrap();
        assert_eq!(naive.first(NOW).unwrap(), 1_893_488_400.0);
        let offset = Schedule::parse("2030-01-01T10:00:00+01:00").unwrap();
        assert_eq!(offset.first(NOW).unwrap(), 1_893_488_400.0);
        let past = Schedule::parse("2001-01-01T00:00:00Z").unwrap();
        assert!(past.first(NOW).is_err());
    }

    #[test]
    fn everything_else_is_invalid_schedule() {
        for bad in [
            "",
            "soon",
            "0m",
            "every",
            "every 0s",
            "every 5 fortnights",
            "30x",
            "* * *",
            "61 * * * *",
            "* * * * * * *",
            "99999999999999999999d",
            "2030-13-45T99:00:00Z",
        ] {
            let error = Schedule::parse(bad)
                .and_then(|s| s.first(NOW))
                .expect_err(bad);
            assert!(
                matches!(error, Error::InvalidArgument { code: "invalid_schedule", param: Some(ref p), .. } if p == "schedule"),
                "{bad}: {error:?}"
            );
        }
    }
}
