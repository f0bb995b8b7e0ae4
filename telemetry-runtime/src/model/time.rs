//! RFC 3339 timestamps in UTC, without a date-time dependency (HTTP dates
//! are read by the `httpdate` crate, see `sink/http.rs`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads an RFC 3339 date-time with its offset (`2025-01-02T08:34:05+05:30`,
/// `2025-01-02T03:04:05.250Z`) as the instant it names, for
/// [`Telemetry::capture_at`](crate::Telemetry::capture_at): events go out
/// stamped in UTC, so that one is sent as `2025-01-02T03:04:05.000Z`.
///
/// The whole grammar of RFC 3339 section 5.6 is accepted (`T`, `t` or a
/// space between date and time, `Z` or `z`, any number of fraction digits,
/// of which milliseconds are kept; a leap second `:60` is read as the
/// second after `:59`), and nothing else: a missing offset, a day the month
/// does not have, or an hour over 23 is an [`InvalidTime`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let time = telemetry_runtime::parse_rfc3339("2025-01-02T08:34:05+05:30")?;
/// assert_eq!(time, UNIX_EPOCH + Duration::from_secs(1_735_787_045));
/// assert!(telemetry_runtime::parse_rfc3339("2025-01-02T08:34:05").is_err()); // no offset
/// assert!(telemetry_runtime::parse_rfc3339("2025-02-29T00:00:00Z").is_err()); // not a leap year
/// # Ok::<(), telemetry_runtime::InvalidTime>(())
/// ```
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, InvalidTime> {
    let invalid = |why: &'static str| InvalidTime { why };
    let b = text.as_bytes();
    if b.len() < 20 {
        return Err(invalid("too short for YYYY-MM-DDTHH:MM:SS and an offset"));
    }
    let number = |range: std::ops::Range<usize>| -> Result<u32, InvalidTime> {
        let digits = &b[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid("a digit was expected"));
        }
        Ok(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let separator = |at: usize, allowed: &[u8]| {
        if allowed.contains(&b[at]) {
            Ok(())
        } else {
            Err(invalid("a separator is missing or misplaced"))
        }
    };
    let year = number(0..4)?;
    separator(4, b"-")?;
    let month = number(5..7)?;
    separator(7, b"-")?;
    let day = number(8..10)?;
    separator(10, b"Tt ")?;
    let hour = number(11..13)?;
    separator(13, b":")?;
    let minute = number(14..16)?;
    separator(16, b":")?;
    let second = number(17..19)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(invalid("no such date"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(invalid("no such time of day"));
    }
    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 3 {
                millis = millis * 10 + u32::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err(invalid("a fraction needs digits"));
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes: i64 = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = number(at + 1..at + 3)?;
            let minutes = number(at + 4..at + 6)?;
            if hours > 23 || minutes > 59 {
                return Err(invalid("no such offset"));
            }
            let offset = i64::from(hours * 60 + minutes);
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return Err(invalid("the offset (Z or +HH:MM) is missing or malformed")),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let utc = local - offset_minutes * 60;
    let whole = Duration::from_secs(utc.unsigned_abs());
    let time = if utc >= 0 { UNIX_EPOCH.checked_add(whole) } else { UNIX_EPOCH.checked_sub(whole) };
    time.and_then(|t| t.checked_add(Duration::from_millis(u64::from(millis))))
        .ok_or_else(|| invalid("out of the range of this platform's clock"))
}

/// Why a text is not an RFC 3339 date-time; see [`parse_rfc3339`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTime {
    why: &'static str,
}

impl fmt::Display for InvalidTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 date-time with an offset: {}", self.why)
    }
}

impl std::error::Error for InvalidTime {}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) to days since 1970-01-01; the inverse of
/// [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Times before 1970 are
/// clamped to the epoch (a clock that far off has no useful answer).
pub(crate) fn rfc3339(time: SystemTime) -> String {
    rfc3339_bytes(time).iter().map(|&b| char::from(b)).collect()
}

/// [`rfc3339`] as ASCII bytes in a fixed buffer, digit by digit: this runs
/// once per event on the worker, where `format!` was a measurable cost.
pub(crate) fn rfc3339_bytes(time: SystemTime) -> [u8; 24] {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut digits = |at: usize, width: usize, mut value: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(0, 4, year.clamp(0, 9999) as u64);
    digits(5, 2, u64::from(month));
    digits(8, 2, u64::from(day));
    digits(11, 2, rem / 3600);
    digits(14, 2, rem / 60 % 60);
    digits(17, 2, rem % 60);
    digits(20, 3, u64::from(since.subsec_millis()));
    out
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `timeout` from now; a timeout too long to represent waits "forever".
pub(crate) fn deadline_after(timeout: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_303_310);
        assert_eq!(rfc3339(t), "2026-11-21T23:21:50.000Z");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        // PostHog's SDK test contract: this instant goes out as 03:04:05Z.
        let t = parse_rfc3339("2025-01-02T08:34:05+05:30").unwrap();
        assert_eq!(rfc3339(t), "2025-01-02T03:04:05.000Z");
        assert_eq!(parse_rfc3339("2025-01-02T03:04:05Z").unwrap(), t);
        assert_eq!(parse_rfc3339("2025-01-01t22:04:05-05:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2025-01-02 03:04:05z").unwrap(), t);
        let t = parse_rfc3339("2024-02-29T23:59:59.12345+00:00").unwrap();
        assert_eq!(rfc3339(t), "2024-02-29T23:59:59.123Z");
        assert_eq!(rfc3339(parse_rfc3339("2016-12-31T23:59:60Z").unwrap()), "2017-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(parse_rfc3339("2000-01-01T00:00:00.5Z").unwrap()), "2000-01-01T00:00:00.500Z");
        // Before 1970 is a valid instant (a record clamps it to the epoch).
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").unwrap() < UNIX_EPOCH);
    }

    #[test]
    fn invalid_times_are_refused() {
        for text in [
            "",
            "2025-01-02",
            "2025-01-02T08:34:05",
            "2025-01-02T08:34:05+0530",
            "2025-01-02T08:34:05+05:30 ",
            "2025-13-02T08:34:05Z",
            "2025-00-02T08:34:05Z",
            "2025-04-31T08:34:05Z",
            "2023-02-29T08:34:05Z",
            "2025-01-02T24:00:00Z",
            "2025-01-02T08:60:00Z",
            "2025-01-02T08:34:61Z",
            "2025-01-02T08:34:05.Z",
            "2025-01-02T08:34:05+24:00",
            "2025-01-02X08:34:05Z",
            "+025-01-02T08:34:05Z",
            "2025-01-02T08:34:05\u{e9}",
        ] {
            assert!(parse_rfc3339(text).is_err(), "{text:?}");
        }
        let err = parse_rfc3339("2025-01-02T08:34:05").unwrap_err();
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
