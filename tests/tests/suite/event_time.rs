//! Events stamped with a time the caller gives go out with it, in UTC
//! (PostHog's SDK test contract checks that `2025-01-02T08:34:05+05:30`
//! goes out as the instant `2025-01-02T03:04:05Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetry_runtime::{Telemetry, TelemetryEvent};
use telemetry_tests::{is_rfc3339_utc, posthog_sink, rfc3339_unix_millis, Sandbox, TestServer, SOON};

/// A build that finished while the machine was offline.
#[derive(TelemetryEvent)]
struct OfflineBuild {
    ok: bool,
}

#[test]
fn a_time_with_an_offset_goes_out_as_the_same_instant_in_utc() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    // 2025-01-02T08:34:05.250+05:30
    let stamped = UNIX_EPOCH + Duration::from_millis(1_735_787_045_250);
    let before = SystemTime::now();
    telemetry.capture_at(&OfflineBuild { ok: true }, stamped);
    telemetry.capture(&OfflineBuild { ok: false });
    assert!(telemetry.flush(SOON));

    let events = server.accepted_events();
    assert_eq!(events.len(), 2, "{events:?}");
    let by_name = |name: &str, ok: Option<bool>| {
        events
            .iter()
            .find(|e| e["event"] == name && ok.is_none_or(|ok| e["properties"]["ok"] == ok))
            .unwrap_or_else(|| panic!("no {name} in {events:?}"))
            .clone()
    };
    assert_eq!(by_name("offline_build", Some(true))["timestamp"], "2025-01-02T03:04:05.250Z");
    // Without a time, the time of the call.
    let now = by_name("offline_build", Some(false));
    let text = now["timestamp"].as_str().unwrap();
    assert!(is_rfc3339_utc(text), "{text}");
    let sent = UNIX_EPOCH + Duration::from_millis(rfc3339_unix_millis(text).unwrap());
    assert!(sent + Duration::from_millis(1) >= before && sent <= SystemTime::now(), "{text}");
}
