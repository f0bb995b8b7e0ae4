//! RFC 3339 timestamps in UTC, written without a date-time dependency
//! (HTTP dates are read by the `httpdate` crate, see `sink/http.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}
