//! Size faults: a batch the server answers 413 is split and delivered; a
//! single event that is too large, for the server or for the client's own
//! limit, is dropped, counted as `Oversized`, and named in a warning (by its
//! event name, never by its contents).

use std::collections::HashSet;

use telemetry_runtime::{DropReason, Properties, Telemetry, Value};
use telemetry_tests::{logs, posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// A small event, one of nine in a batch the server finds too large.
    static SMALL_413 = "small_413" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// An event larger than the server accepts.
    static TOO_BIG_FOR_THE_SERVER = "too_big_for_the_server" {
        /// Filler text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

telemetry_runtime::event! {
    /// Refused by an endpoint that refuses every size.
    static REFUSED_A = "refused_a" {}
}

telemetry_runtime::event! {
    /// Refused by an endpoint that refuses every size.
    static REFUSED_B = "refused_b" {}
}

telemetry_runtime::event! {
    /// Refused by an endpoint that refuses every size.
    static REFUSED_C = "refused_c" {}
}

telemetry_runtime::event! {
    /// Refused by an endpoint that refuses every size.
    static REFUSED_D = "refused_d" {}
}

telemetry_runtime::event! {
    /// An event over the client's own size limit.
    static TEN_MEGABYTES = "ten_megabytes" {
        /// Filler text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

telemetry_runtime::event! {
    /// A normal event captured after a huge one.
    static NORMAL_AFTER_HUGE = "normal_after_huge" {}
}

telemetry_runtime::event! {
    /// An event with a list of 100,000 numbers.
    static HUNDRED_THOUSAND_VALUES = "hundred_thousand_values" {
        /// The numbers.
        values: Vec<u32>,
    }
}

telemetry_runtime::event! {
    /// An event with a list of a million numbers: over the size limit.
    static MILLION_VALUES = "million_values" {
        /// The numbers.
        values: Vec<u32>,
    }
}

/// The first warning that names `event` and says it was dropped.
fn drop_warning(event: &str) -> Option<logs::Line> {
    let quoted = format!("{event:?}");
    logs::wait_for(SOON, |l| {
        l.level == log::Level::Warn && l.message.contains(&quoted) && l.message.contains("dropped")
    })
}

#[test]
fn a_413_batch_is_split_and_delivered_and_the_lone_oversized_event_is_named_in_a_warning() {
    logs::install();
    let server = TestServer::start();
    server.reject_bodies_over(3000);
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server);
    let telemetry = Telemetry::new(sandbox.config().sink(sink).delivery(telemetry_tests::on_flush)).unwrap();
    for i in 0..6u8 {
        telemetry.capture_with(&SMALL_413, Properties::new().with("i", i));
    }
    let filler = "q".repeat(4000);
    telemetry.capture_with(
        &TOO_BIG_FOR_THE_SERVER,
        Properties::new().with("blob", Value::Text(filler.clone().into())),
    );
    for i in 6..9u8 {
        telemetry.capture_with(&SMALL_413, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(SOON), "events were given up on");

    let delivered = server.accepted_events();
    let uuids: HashSet<&str> = delivered.iter().map(|e| e["uuid"].as_str().unwrap()).collect();
    assert_eq!((delivered.len(), uuids.len()), (9, 9), "the nine small events, once each");
    assert!(delivered.iter().all(|e| e["event"] == "small_413"));
    for request in server.requests() {
        assert!(request.status == Some(413) || request.body.len() <= 3000);
    }
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Oversized), stats.dropped_total()), (9, 1, 1));

    let warning = drop_warning("too_big_for_the_server").expect("a warning names the dropped event");
    assert!(warning.message.contains("too large"), "{warning:?}");
    assert!(!warning.message.contains("qqqq"), "the warning does not carry the event's contents");
}

#[test]
fn an_endpoint_that_refuses_every_size_drops_each_event_once_and_names_each() {
    logs::install();
    let server = TestServer::start();
    server.reject_bodies_over(0);
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let events = [&REFUSED_A, &REFUSED_B, &REFUSED_C, &REFUSED_D];
    for event in events {
        telemetry.capture_with(event, Properties::new());
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::Oversized), 4, "{stats:?}");
    assert_eq!((stats.sent, stats.retried), (0, 0), "413 is split, never retried as is");
    // 4, then 2 + 2, then 1 + 1 + 1 + 1.
    assert_eq!(server.requests().len(), 7);
    for name in events.map(|event| event.schema().name) {
        assert!(drop_warning(name).is_some(), "no warning names {name}");
    }
}

#[test]
fn a_ten_megabyte_property_is_dropped_before_sending_with_a_warning() {
    logs::install();
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let huge = "z".repeat(10 * 1024 * 1024);
    telemetry.capture_with(&TEN_MEGABYTES, Properties::new().with("blob", Value::Text(huge.into())));
    telemetry.capture_with(&NORMAL_AFTER_HUGE, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");

    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Oversized)), (1, 1), "{stats:?}");
    let delivered = server.accepted_events();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["event"], "normal_after_huge");
    let received: usize = server.raw_bytes().iter().map(Vec::len).sum();
    assert!(received < 64 * 1024, "the 10 MB event never went on the wire ({received} bytes did)");

    let warning = drop_warning("ten_megabytes").expect("a warning names the dropped event");
    assert!(warning.message.contains("over the limit"), "{warning:?}");
    assert!(warning.message.len() < 1000, "the warning is short, not the event");
}

#[test]
fn a_list_of_a_million_values_is_dropped_as_oversized_and_100k_values_are_delivered() {
    logs::install();
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let hundred_k: Vec<u32> = (0..100_000).collect();
    telemetry.capture_with(&HUNDRED_THOUSAND_VALUES, Properties::new().with("values", hundred_k));
    let million: Vec<u32> = (0..1_000_000).collect();
    telemetry.capture_with(&MILLION_VALUES, Properties::new().with("values", million));
    assert!(!telemetry.flush(SOON), "events were given up on");

    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Oversized)), (1, 1), "{stats:?}");
    let delivered = server.accepted_events();
    assert_eq!(delivered[0]["event"], "hundred_thousand_values");
    let values = delivered[0]["properties"]["values"].as_array().unwrap();
    assert_eq!(values.len(), 100_000);
    assert!(values.iter().enumerate().all(|(i, v)| v.as_u64() == Some(i as u64)));
    assert!(drop_warning("million_values").is_some());
}
