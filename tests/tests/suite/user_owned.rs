//! A user-owned sink (the user's own OpenTelemetry collector) is governed by
//! the user's OpenTelemetry settings, not by the consent to the vendor's
//! analytics: on the wire, against two loopback servers, one the vendor's
//! and one the user's collector.

use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::OtlpSink;
use telemetry_runtime::{Config, Level, Route, Telemetry, TelemetryEvent};
use telemetry_tests::{posthog_sink, Sandbox, TestServer};

const SOON: Duration = Duration::from_secs(5);
const SECRET: &str = "CANARY-user-owned-secret-qz";
const QUERY: &str = "CANARY-user-owned-query-qz";

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static OWNED_CALLS = "owned_tool_calls", labels: [status: CallStatus = ["ok", "before", "while_off", "off_then_on", "after"]];
}

/// A tool call, with every kind of field.
#[derive(TelemetryEvent)]
struct OwnedToolCall {
    /// Which call of the run.
    step: u32,
    /// The user's words: only at full.
    #[telemetry(opt_in)]
    query: String,
    /// Never sent anywhere.
    #[telemetry(redact)]
    token: String,
}

fn call(step: u32) -> OwnedToolCall {
    OwnedToolCall { step, query: QUERY.into(), token: SECRET.into() }
}

/// The vendor's analytics (counters at usage) and the user's own collector.
fn client(config: Config, vendor: &TestServer, collector: &TestServer) -> Telemetry {
    let config = config
        .route(posthog_sink(vendor), Route::counters_only().max_level(Level::Usage))
        .route(OtlpSink::new(&collector.url()).unwrap(), Route::default().owned_by_user())
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    Telemetry::new(config).unwrap()
}

/// The OTLP log records' and metrics' bodies the collector received.
fn collector_bodies(collector: &TestServer) -> Vec<String> {
    collector.requests().iter().map(|r| String::from_utf8_lossy(&r.decoded_body()).into_owned()).collect()
}

#[test]
fn analytics_off_leaves_the_users_own_collector_on() {
    for env in [[("TESTAPP_TELEMETRY", "off")], [("DO_NOT_TRACK", "1")], [("CI", "true")]] {
        let sandbox = Sandbox::new();
        let (vendor, collector) = (TestServer::start(), TestServer::start());
        let telemetry = client(sandbox.config_with_env(&env), &vendor, &collector);
        assert_eq!(telemetry.consent().level, Level::Off, "{env:?}");
        assert!(telemetry.is_enabled(), "{env:?}: the collector still wants events");

        telemetry.capture(&call(1));
        telemetry.add(&OWNED_CALLS, CallStatus::Ok, 1);
        assert!(telemetry.flush(SOON), "{env:?}: {:?}", telemetry.stats());

        assert_eq!(vendor.connections(), 0, "{env:?}: the vendor was reached");
        let bodies = collector_bodies(&collector).join("\n");
        assert!(bodies.contains("owned_tool_call"), "{env:?}: {bodies}");
        assert!(bodies.contains("owned_tool_calls"), "{env:?}: the count: {bodies}");
        // The user's own collector gets full detail, but never a redacted value.
        assert!(bodies.contains(QUERY), "{env:?}: {bodies}");
        assert!(!collector.received(SECRET.as_bytes()));
        let stats = telemetry.stats();
        assert_eq!(stats.dropped_total(), 0, "{env:?}: {stats:?}");
    }
}

#[test]
fn the_first_run_notice_holds_back_the_vendor_only() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let config = sandbox.config().notice(|n| telemetry_runtime::Notice {
        enabled: true,
        text: Some("(notice)".into()),
        ..n
    });
    let telemetry = client(config, &vendor, &collector);
    assert_eq!(telemetry.consent().level, Level::Off);
    telemetry.add(&OWNED_CALLS, CallStatus::Ok, 1);
    assert!(telemetry.flush(SOON));
    assert_eq!(vendor.connections(), 0);
    assert!(collector.received(b"owned_tool_calls"));
}

#[test]
fn otel_sdk_disabled_turns_the_collector_off() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let config = sandbox.config_with_env(&[("OTEL_SDK_DISABLED", "TRUE"), ("TESTAPP_TELEMETRY", "on")]);
    let telemetry = client(config, &vendor, &collector);
    telemetry.capture(&call(1));
    telemetry.add(&OWNED_CALLS, CallStatus::Ok, 1);
    assert!(telemetry.flush(SOON));
    assert_eq!(collector.connections(), 0, "{:?}", collector_bodies(&collector));
    // The vendor's analytics go on as consent says.
    assert!(vendor.received(b"owned_tool_calls"));

    // With analytics off as well, nothing is even captured.
    let sandbox = Sandbox::new();
    let config = sandbox.config_with_env(&[("OTEL_SDK_DISABLED", "true"), ("TESTAPP_TELEMETRY", "off")]);
    let telemetry = client(config, &vendor, &collector);
    assert!(!telemetry.is_enabled());
    telemetry.capture(&call(2));
    telemetry.add(&OWNED_CALLS, CallStatus::Ok, 1);
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().captured, 0);
    assert_eq!(collector.connections(), 0);
}

#[test]
fn withdrawing_consent_at_run_time_stops_the_vendor_not_the_collector() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let telemetry = client(sandbox.config(), &vendor, &collector);
    assert_eq!(telemetry.consent().level, Level::Usage);

    telemetry.capture(&call(1));
    telemetry.add(&OWNED_CALLS, CallStatus::Before, 1);
    assert!(telemetry.flush(SOON));
    assert!(vendor.received(b"before"));
    assert!(collector.received(b"before"));
    let vendor_requests = vendor.requests().len();

    telemetry.set_consent(Level::Off);
    telemetry.capture(&call(2));
    telemetry.add(&OWNED_CALLS, CallStatus::WhileOff, 1);
    assert!(telemetry.flush(SOON));
    assert!(collector.received(b"while_off"));
    assert_eq!(vendor.requests().len(), vendor_requests);

    // Counted while off, sent after consent came back: still only the
    // collector's.
    telemetry.add(&OWNED_CALLS, CallStatus::OffThenOn, 1);
    telemetry.set_consent(Level::Usage);
    telemetry.add(&OWNED_CALLS, CallStatus::After, 1);
    assert!(telemetry.flush(SOON));
    assert!(collector.received(b"off_then_on") && collector.received(b"after"));
    assert!(!vendor.received(b"while_off") && !vendor.received(b"off_then_on"));
    // A series counted while off and again after is the collector's alone
    // for that interval; the next interval reaches the vendor again.
    telemetry.add(&OWNED_CALLS, CallStatus::After, 1);
    assert!(telemetry.flush(SOON));
    assert!(vendor.received(b"after"));
    assert!(!collector.received(SECRET.as_bytes()) && !vendor.received(SECRET.as_bytes()));
}

#[test]
fn events_captured_while_off_never_reach_the_vendor() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let config = sandbox
        .config()
        .route(posthog_sink(&vendor), Route::default())
        .route(OtlpSink::new(&collector.url()).unwrap(), Route::default().owned_by_user())
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    let telemetry = Telemetry::new(config).unwrap();
    telemetry.set_consent(Level::Off);
    telemetry.capture(&call(7_000_001));
    // Given again before the worker sent it: the event is still the
    // collector's alone.
    telemetry.set_consent(Level::Full);
    telemetry.capture(&call(7_000_002));
    assert!(telemetry.flush(SOON));
    let steps = telemetry_tests::otlp::logged_values(&collector, "step");
    assert_eq!(steps, ["IntValue(7000001)", "IntValue(7000002)"]);
    assert!(!vendor.received(b"7000001"));
    assert!(vendor.received(b"7000002"));
}

#[test]
fn without_a_user_owned_sink_consent_off_captures_nothing() {
    let sandbox = Sandbox::new();
    let vendor = TestServer::start();
    let config = sandbox
        .config_with_env(&[
            ("TESTAPP_TELEMETRY", "off"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ])
        .route(posthog_sink(&vendor), Route::default());
    let telemetry = Telemetry::new(config).unwrap();
    assert!(!telemetry.is_enabled());
    assert_eq!(telemetry.level(), Level::Off);
    telemetry.capture(&call(1));
    telemetry.add(&OWNED_CALLS, CallStatus::Ok, 1);
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().captured, 0);
    assert_eq!(vendor.connections(), 0);
}

#[test]
fn the_user_owned_level_caps_what_the_collector_gets() {
    let sandbox = Sandbox::new();
    let collector = TestServer::start();
    let config = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "off")]).route(
        OtlpSink::new(&collector.url()).unwrap(),
        Route::default().owned_by_user().max_level(Level::Usage),
    );
    let telemetry = Telemetry::new(config).unwrap();
    assert_eq!(telemetry.level(), Level::Usage);
    telemetry.capture(&call(1));
    assert!(telemetry.flush(SOON));
    assert!(collector.received(b"owned_tool_call"));
    assert!(!collector.received(QUERY.as_bytes()));
}

#[test]
fn status_tells_the_user_their_own_collector_is_governed_by_their_settings() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let status = |telemetry: &Telemetry| {
        let mut out = Vec::new();
        telemetry_runtime::cli::run_command(telemetry, &["status".to_owned()], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    };
    let telemetry = client(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "off")]), &vendor, &collector);
    assert_eq!(Status::of(&telemetry).user_owned_sink_names, [format!("{}/v1/logs", collector.url())]);
    let text = status(&telemetry);
    assert!(text.contains("Telemetry: off"), "{text}");
    assert!(text.contains("Your own collector: ") && text.contains(" on at full, governed by"), "{text}");

    let config = sandbox.config_with_env(&[("OTEL_SDK_DISABLED", "true")]);
    let telemetry = client(config, &vendor, &collector);
    assert_eq!(telemetry.consent().user_owned, Level::Off);
    assert!(status(&telemetry).contains(" off (OTEL_SDK_DISABLED)"), "{}", status(&telemetry));
}

#[test]
fn a_later_run_with_analytics_off_replays_the_collectors_spool_and_deletes_the_vendors() {
    let sandbox = Sandbox::new();
    let (vendor, collector) = (TestServer::start(), TestServer::start());
    let fast = |h| telemetry_runtime::sink::HttpOptions { max_retries: 0, ..telemetry_tests::fast(h) };
    let config = |env: &[(&str, &str)]| {
        sandbox
            .config_with_env(env)
            .delivery(|d| telemetry_runtime::Delivery { spool: true, ..d })
            .route(posthog_sink(&vendor).http(fast), Route::default())
            .route(OtlpSink::new(&collector.url()).unwrap().http(fast), Route::default().owned_by_user())
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d })
    };
    // Run 1, analytics on, both endpoints down: each sink's batch is spooled.
    vendor.down();
    collector.down();
    let telemetry = Telemetry::new(config(&[])).unwrap();
    telemetry.capture(&call(8_000_001));
    assert!(!telemetry.flush(SOON));
    assert!(telemetry.shutdown(SOON));
    drop(telemetry);
    let spool = sandbox.cache_dir().join("telemetry_spool");
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 2, "one batch per sink");

    // Run 2, analytics off: the collector's batch is sent, the vendor's
    // deleted unsent.
    vendor.up();
    collector.up();
    let telemetry = Telemetry::new(config(&[("TESTAPP_TELEMETRY", "off")])).unwrap();
    let replayed = || telemetry_tests::otlp::logged_values(&collector, "step") == ["IntValue(8000001)"];
    assert!(telemetry_tests::wait_until(SOON, replayed));
    let _ = telemetry.flush(SOON);
    assert!(telemetry_tests::wait_until(SOON, || std::fs::read_dir(&spool).map_or(0, |d| d.count()) == 0));
    assert_eq!(vendor.connections(), 0, "the vendor's spooled batch was sent with analytics off");
    assert_eq!(telemetry.stats().dropped(telemetry_runtime::DropReason::ConsentWithdrawn), 1);
}
