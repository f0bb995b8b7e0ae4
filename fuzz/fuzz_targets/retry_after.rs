//! `Retry-After` header values, as the HTTP sinks read them from a server's
//! answer: never panics, never a wait past the cap (so that the worker can
//! always add it to its clock), digits are seconds, and a date is the time
//! from `now` to it.

#![no_main]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use telemetry_runtime::__fuzzing::{parse_http_date, parse_retry_after, MAX_RETRY_AFTER};

#[derive(Arbitrary, Debug)]
struct Input {
    /// The header's bytes; a header value that is not ASCII never reaches
    /// the parser, but a lossy conversion covers more of it.
    value: Vec<u8>,
    /// The clock, in seconds since 1970.
    now: u32,
}

fuzz_target!(|input: Input| {
    let value = String::from_utf8_lossy(&input.value);
    let now = UNIX_EPOCH + Duration::from_secs(u64::from(input.now));
    let Some(wait) = parse_retry_after(&value, now) else { return };
    assert!(wait <= MAX_RETRY_AFTER, "{value:?} gave {wait:?}");
    assert!(Instant::now().checked_add(wait).is_some());
    assert!(SystemTime::now().checked_add(wait).is_some());
    let trimmed = value.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        let secs = trimmed.parse::<u64>().map_or(Duration::MAX, Duration::from_secs);
        assert_eq!(wait, secs.min(MAX_RETRY_AFTER), "{value:?}");
    } else {
        let at = parse_http_date(trimmed).expect("a wait that is not seconds comes from a date");
        let expected = at.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER);
        assert_eq!(wait, expected, "{value:?}");
    }
});
