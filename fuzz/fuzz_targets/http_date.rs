//! HTTP dates (`Retry-After`'s second form): never panics, and a date it
//! accepts lies between 1970 and the end of 9999 and is a whole second.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use telemetry_runtime::__fuzzing::parse_http_date;

/// 10000-01-01T00:00:00Z.
const YEAR_10000: Duration = Duration::from_secs(253_402_300_800);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(at) = parse_http_date(text) else { return };
    let since = at.duration_since(UNIX_EPOCH).expect("a date after 1970");
    assert!(since < YEAR_10000, "{text:?} is {since:?} after 1970");
    assert_eq!(since.subsec_nanos(), 0, "{text:?}");
});
