//! Events stamped with a time the caller gives, converted to UTC on the
//! wire, as PostHog's SDK test contract checks
//! (`2025-01-02T08:34:05+05:30` goes out as the instant `2025-01-02T03:04:05Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetry_runtime::{parse_rfc3339, Properties, Telemetry, TelemetryEvent};
use telemetry_tests::{is_rfc3339_utc, posthog_sink, Sandbox, TestServer, SOON};

/// A build that finished while the machine was offline.
#[derive(TelemetryEvent)]
struct OfflineBuild {
    ok: bool,
}

telemetry_runtime::event! {
    /// An entry replayed from a log.
    static REPLAYED = "replayed" {
        /// Its position in the log.
        line: u64,
    }
}

#[test]
fn a_time_with_an_offset_goes_out_as_the_same_instant_in_utc() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let stamped = parse_rfc3339("2025-01-02T08:34:05+05:30").expect("a valid time");
    let before = SystemTime::now();
    telemetry.capture_at(&OfflineBuild { ok: true }, stamped);
    telemetry.capture_with_at(
        &REPLAYED,
        Properties::new().with("line", 7u32),
        stamped + Duration::from_millis(250),
    );
    telemetry.capture(&OfflineBuild { ok: false });
    assert!(telemetry.flush(SOON));

    let events = server.accepted_events();
    assert_eq!(events.len(), 3, "{events:?}");
    let by_name = |name: &str, ok: Option<bool>| {
        events
            .iter()
            .find(|e| e["event"] == name && ok.is_none_or(|ok| e["properties"]["ok"] == ok))
            .unwrap_or_else(|| panic!("no {name} in {events:?}"))
            .clone()
    };
    assert_eq!(by_name("offline_build", Some(true))["timestamp"], "2025-01-02T03:04:05.000Z");
    assert_eq!(by_name("replayed", None)["timestamp"], "2025-01-02T03:04:05.250Z");
    assert_eq!(by_name("replayed", None)["properties"]["line"], 7);
    // Without a time, the time of the call.
    let now = by_name("offline_build", Some(false));
    let text = now["timestamp"].as_str().unwrap();
    assert!(is_rfc3339_utc(text), "{text}");
    let sent = parse_rfc3339(text).unwrap();
    assert!(sent + Duration::from_millis(1) >= before && sent <= SystemTime::now(), "{text}");
}

#[test]
fn an_invalid_time_is_an_error_before_anything_is_captured() {
    for text in ["2025-01-02T08:34:05", "2025-01-32T08:34:05Z", "yesterday", "2025-01-02T08:34:05+5:30"] {
        let err = parse_rfc3339(text).expect_err(text);
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }
    assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Ok(UNIX_EPOCH + Duration::from_secs(1)));
}
