//! A sink of the application's own on the library's `HttpTransport`, with
//! its own `RequestEncoder`, against a real HTTP server on 127.0.0.1: a
//! `GET` pixel (one event per request, in the query) and a `POST` of its
//! own JSON shape (`telemetry_tests::custom::Envelope`). Checked on the
//! wire: requests within `max_request_bytes` and the encoder's
//! `max_events`, retries and `Retry-After`, 413 splitting, the per-event
//! size limit, gzip, consent lowered while a request is held or waits to be
//! retried, and that the views such a sink is given never hold an opt-in
//! value below `Full` nor a redacted field's raw value.
//!
//! The test server checks on drop that the events it received are in the
//! catalog, reading PostHog batches only: a pixel has no body and an
//! envelope no `batch`, so neither gets in the way of that check (nor is
//! checked by it).

use std::collections::BTreeMap;
use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use telemetry_runtime::sink::{
    EventView, HttpTransport, Method, Request as Built, RequestEncoder, Sink, ValueRef,
};
use telemetry_runtime::{DropReason, Level, Properties, Stats, Telemetry, TelemetryEvent, Value};
use telemetry_tests::canary::Canary;
use telemetry_tests::custom::{accepted_envelope_ids, envelope_events, json_of, Custom, Envelope, Log};
use telemetry_tests::{
    contains_bytes, fast_backoff, wait_until, Behaviour, Gate, Request, Sandbox, TestServer, SOON,
};

telemetry_runtime::event! {
    /// A page was viewed.
    static PAGE_VIEWED = "page_viewed" {
        /// The section of the application it belongs to, from a fixed set.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        section: String,
        /// Its number.
        n: u64,
    }
}

telemetry_runtime::event! {
    /// A report was exported.
    static EXPORTED = "exported" {
        /// What it held, as text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    /// Its size in bytes.
    bytes: u64,
    /// What the user searched for to find it: only at full consent.
    #[telemetry(opt_in)]
    query: String,
    /// Where it is: only a keyed hash, to count distinct files.
    #[telemetry(redact = "hash")]
    path: String,
}

/// A note was taken: the note itself only at full consent.
#[derive(TelemetryEvent)]
struct NoteTaken {
    /// Its length in words.
    words: u32,
    /// The note.
    #[telemetry(opt_in)]
    note: String,
}

/// One `GET {url}?e=<name>&id=<uuid>&v=<app version>&p.<property>=<value>...`
/// per event, every name and value percent-encoded; text values and keyed
/// hashes as they are, others as JSON.
struct Pixel {
    url: String,
}

impl RequestEncoder for Pixel {
    fn max_events(&self) -> usize {
        1
    }

    fn begin(&mut self, request: &mut Built, _first: &EventView<'_>) {
        request.method = Method::Get;
        request.url.push_str(&self.url);
    }

    fn event(&mut self, request: &mut Built, _index: usize, event: &EventView<'_>) {
        let mut pairs = vec![
            ("e".to_owned(), event.name().to_owned()),
            ("id".to_owned(), event.uuid().to_string()),
            ("v".to_owned(), event.context().app_version().to_owned()),
        ];
        for property in event.properties() {
            let value = match property.value() {
                ValueRef::Text(text) => text.to_string(),
                ValueRef::Hashed(hash) => hash.as_str().to_owned(),
                other => json_of(other).to_string(),
            };
            pairs.push((format!("p.{}", property.name()), value));
        }
        let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        request.url.push('?');
        request.url.push_str(&query.join("&"));
    }
}

fn pixel(server: &TestServer) -> Pixel {
    Pixel { url: format!("{}/p.gif", server.url()) }
}

/// The query of a pixel request, decoded.
fn query(request: &Request) -> BTreeMap<String, String> {
    let (_, query) = request.path.split_once('?').unwrap_or_else(|| panic!("no query: {}", request.path));
    let decode = |text: &str| percent_decode_str(text).decode_utf8().expect("UTF-8").into_owned();
    query
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// A transport with fast retries, short timeouts and no gzip, so that
/// sizes on the wire are the encoder's own.
fn transport() -> HttpTransport {
    HttpTransport::new()
        .backoff(fast_backoff())
        .timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .gzip_above(None)
}

fn envelope(server: &TestServer) -> Envelope {
    Envelope::new(format!("{}/ingest", server.url()))
}

/// A client whose only sink is `sink`, batches sent on flush only.
fn client(sandbox: &Sandbox, sink: impl Sink) -> Telemetry {
    Telemetry::new(sandbox.config().sink(sink).flush_interval(Duration::from_secs(120))).unwrap()
}

/// Captures `n` page views numbered from 10 (so that they encode to the
/// same size), flushes, and returns the stats.
fn views(telemetry: &Telemetry, n: u64) -> Stats {
    for i in 10..10 + n {
        telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", i));
    }
    let delivered = telemetry.flush(SOON);
    let stats = telemetry.stats();
    assert_eq!(delivered, stats.dropped_total() == 0, "{stats:?}");
    stats
}

/// The events of each envelope request, by number.
fn numbers(requests: &[Request]) -> Vec<Vec<u64>> {
    requests
        .iter()
        .map(|r| envelope_events(r).iter().map(|e| e["properties"]["n"].as_u64().unwrap()).collect())
        .collect()
}

#[test]
fn a_pixel_encoder_sends_each_event_as_one_get_with_its_query_and_no_body() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let sink = Custom::new("pixel", transport(), pixel(&server));
    let log = sink.log();
    let telemetry = client(&sandbox, sink);
    let stats = views(&telemetry, 3);
    assert_eq!((stats.sent, stats.retried), (3, 0), "{stats:?}");

    let requests = server.requests();
    assert_eq!(requests.len(), 3, "one request per event: {requests:#?}");
    let seen = log.seen();
    for (request, seen) in requests.iter().zip(&seen) {
        assert_eq!(request.method, "GET");
        assert!(request.path.starts_with("/p.gif?"), "{}", request.path);
        assert!(request.body.is_empty(), "a GET with a body: {request:?}");
        assert!(request.header("content-length").is_none_or(|len| len == "0"), "{request:?}");
        assert_eq!(request.header("content-type"), None, "a GET has no body to describe");
        let expected: BTreeMap<String, String> = [
            ("e", "page_viewed".to_owned()),
            ("id", seen.uuid.clone()),
            ("v", "1.2.3".to_owned()),
            ("p.section", "Home".to_owned()),
            ("p.n", seen.properties["n"].to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(query(request), expected);
    }
    let numbers: Vec<String> = requests.iter().map(|r| query(r)["p.n"].clone()).collect();
    assert_eq!(numbers, ["10", "11", "12"], "in the order captured");
    // A full request is sent before the next event is encoded: none is
    // encoded into a request it cannot join, only to be taken out again.
    assert_eq!(log.event_calls(), 3, "each event encoded once");
}

#[test]
fn values_that_need_escaping_arrive_intact_in_a_pixel_query() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = client(&sandbox, Custom::new("pixel", transport(), pixel(&server)));
    let awkward = [
        "a b&c=d?e#f",
        "100% + 50%2B / \\ \"quoted\" 'single'",
        "line\nbreak\ttab\r",
        "été, 東京, 🦀",
        "%00%zz%",
        "",
    ];
    for (n, section) in awkward.iter().enumerate() {
        telemetry.capture_with(
            &PAGE_VIEWED,
            Properties::new().with("section", Value::text(*section)).with("n", n),
        );
    }
    assert!(telemetry.flush(SOON), "{:?}", telemetry.stats());
    let requests = server.requests();
    assert_eq!(requests.len(), awkward.len());
    for (request, section) in requests.iter().zip(awkward) {
        // Nothing raw that would end or split the query on the way.
        assert!(
            !request.path.bytes().any(|b| b.is_ascii_whitespace() || b == b'#' || !b.is_ascii()),
            "{}",
            request.path
        );
        let query = query(request);
        assert_eq!(query["p.section"], section, "{}", request.path);
        assert_eq!(query["e"], "page_viewed");
    }
}

#[test]
fn an_encoder_of_its_own_gets_requests_packed_up_to_max_request_bytes() {
    // How large a request of three events is (URL and body, the envelope's
    // closing included): learnt from the encoder, three events a request.
    let probe = TestServer::start();
    let sink = Custom::new("envelope", transport(), envelope(&probe).max_events(3));
    let probe_log = sink.log();
    views(&client(&Sandbox::new(), sink), 12);
    let written = probe_log.written();
    assert_eq!(written.len(), 4);
    let three = written[0].url.len() + written[0].body.len();

    // One byte less than that: two events a request, never three.
    let limit = three - 1;
    let server = TestServer::start();
    let sink = Custom::new("envelope", transport().max_request_bytes(limit), envelope(&server));
    let url_len = envelope(&server).url.len();
    let stats = views(&client(&Sandbox::new(), sink), 12);
    assert_eq!((stats.sent, stats.dropped_total()), (12, 0), "{stats:?}");

    let requests = server.requests();
    for request in &requests {
        assert!(url_len + request.body.len() <= limit, "a {} byte body, limit {limit}", request.body.len());
        assert_eq!(request.header("x-shape"), Some("envelope"));
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/ingest");
    }
    let expected: Vec<Vec<u64>> = (10..22).collect::<Vec<u64>>().chunks(2).map(<[u64]>::to_vec).collect();
    assert_eq!(numbers(&requests), expected, "as many events a request as fit, in order");
}

#[test]
fn an_encoders_max_events_caps_the_events_per_request() {
    let server = TestServer::start();
    let sink = Custom::new("envelope", transport(), envelope(&server).max_events(5));
    let stats = views(&client(&Sandbox::new(), sink), 12);
    assert_eq!(stats.sent, 12);
    let sizes: Vec<usize> = numbers(&server.requests()).iter().map(Vec::len).collect();
    assert_eq!(sizes, [5, 5, 2]);
}

#[test]
fn a_503_is_retried_and_the_events_delivered_once() {
    let server = TestServer::start();
    server.script([Behaviour::Status(503)]);
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let log = sink.log();
    let stats = views(&client(&Sandbox::new(), sink), 3);
    assert_eq!((stats.sent, stats.retried, stats.failed, stats.dropped_total()), (3, 1, 1, 0), "{stats:?}");

    let requests = server.requests();
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(503), Some(200)]);
    assert_eq!(log.written().len(), 2, "the request is built again for the retry");
    assert_eq!(requests[0].json(), requests[1].json(), "the retry carries the same events, ids and times");
    let ids = accepted_envelope_ids(&requests);
    let seen: Vec<String> = log.seen().iter().map(|s| s.uuid.clone()).collect();
    assert_eq!(ids, seen, "each event delivered once");
}

#[test]
fn retry_after_is_honoured_by_a_custom_sink() {
    let server = TestServer::start();
    server.script([Behaviour::StatusWithHeaders(429, vec![("Retry-After", "1")])]);
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let stats = views(&client(&Sandbox::new(), sink), 1);
    assert_eq!((stats.sent, stats.retried), (1, 1), "{stats:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The backoff alone would wait 10-20 ms; the server asked for a second.
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(5), "retried after {waited:?}");
}

#[test]
fn a_400_drops_the_events_as_rejected_without_a_retry() {
    let server = TestServer::start();
    server.set_default(Behaviour::Status(400));
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let stats = views(&client(&Sandbox::new(), sink), 4);
    assert_eq!(server.requests().len(), 1, "a 400 is final");
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1), "{stats:?}");
    assert_eq!(stats.dropped(DropReason::Rejected), 4);
    assert_eq!(stats.dropped_total(), 4);
}

#[test]
fn a_group_answered_413_is_split_until_every_event_is_delivered() {
    // Learn the size of a two-event body, then refuse anything larger.
    let probe = TestServer::start();
    let sink = Custom::new("envelope", transport(), envelope(&probe).max_events(2));
    views(&client(&Sandbox::new(), sink), 2);
    let two = probe.requests()[0].body.len();

    let server = TestServer::start();
    server.reject_bodies_over(two);
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let log = sink.log();
    let stats = views(&client(&Sandbox::new(), sink), 8);
    assert_eq!((stats.sent, stats.dropped_total()), (8, 0), "{stats:?}");

    let requests = server.requests();
    assert_eq!(requests[0].status, Some(413), "the whole batch was tried first");
    assert_eq!(envelope_events(&requests[0]).len(), 8);
    for request in &requests {
        match request.status {
            Some(413) => assert!(request.body.len() > two),
            Some(200) => assert!(request.body.len() <= two),
            other => panic!("answered {other:?}"),
        }
    }
    let mut delivered = accepted_envelope_ids(&requests);
    let mut seen: Vec<String> = log.seen().iter().map(|s| s.uuid.clone()).collect();
    delivered.sort();
    seen.sort();
    assert_eq!(delivered, seen, "every event delivered exactly once");
}

#[test]
fn a_single_event_answered_413_is_dropped_as_oversized_and_the_others_delivered() {
    let server = TestServer::start();
    server.reject_bodies_over(2000);
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let log = sink.log();
    let telemetry = client(&Sandbox::new(), sink);
    telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 1u8));
    telemetry.capture_with(&EXPORTED, Properties::new().with("blob", Value::text("x".repeat(5000))));
    telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 2u8));
    assert!(!telemetry.flush(SOON), "an event was given up on");

    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Oversized), stats.dropped_total()), (2, 1, 1));
    let names = |request: &Request| -> Vec<String> {
        envelope_events(request).iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
    };
    let requests = server.requests();
    let delivered: Vec<String> = requests.iter().filter(|r| r.accepted()).flat_map(names).collect();
    assert_eq!(delivered, ["page_viewed", "page_viewed"]);
    // Tried once on its own, then given up on: a 413 is not retried.
    let alone = requests.iter().filter(|r| names(r) == ["exported"]).count();
    assert_eq!(alone, 1, "{:?}", requests.iter().map(names).collect::<Vec<_>>());
    assert_eq!(log.seen().len(), 3);
}

#[test]
fn an_event_over_max_event_bytes_is_dropped_and_the_others_delivered() {
    for encoder in ["envelope", "pixel"] {
        let server = TestServer::start();
        let canary = Canary::new("blob");
        let sandbox = Sandbox::new();
        let config = sandbox.config().max_event_bytes(1000).flush_interval(Duration::from_secs(120));
        let config = match encoder {
            "envelope" => config.sink(Custom::new("envelope", transport(), envelope(&server))),
            _ => config.sink(Custom::new("pixel", transport(), pixel(&server))),
        };
        let telemetry = Telemetry::new(config).unwrap();
        telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 1u8));
        let blob = format!("{} {}", canary.text(), "y".repeat(1200));
        telemetry.capture_with(&EXPORTED, Properties::new().with("blob", Value::text(blob)));
        telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 2u8));
        assert!(!telemetry.flush(SOON), "{encoder}: an event was given up on");

        let stats = telemetry.stats();
        assert_eq!((stats.sent, stats.dropped(DropReason::Oversized)), (2, 1), "{encoder}: {stats:?}");
        assert!(!server.raw_bytes().iter().any(|raw| canary.found_in(raw)), "{encoder}: the event left");
        let sent = match encoder {
            "envelope" => server.requests().iter().flat_map(envelope_events).count(),
            _ => server.requests().iter().filter(|r| query(r)["e"] == "page_viewed").count(),
        };
        assert_eq!((sent, server.requests().len()), (2, if encoder == "pixel" { 2 } else { 1 }), "{encoder}");
    }
}

#[test]
fn a_body_over_the_gzip_threshold_arrives_gzip_encoded_and_decodes_to_what_the_encoder_wrote() {
    let server = TestServer::start();
    let sink = Custom::new("envelope", transport().gzip_above(Some(512)), envelope(&server));
    let log = sink.log();
    let telemetry = client(&Sandbox::new(), sink);
    views(&telemetry, 8);
    // A second request under the threshold.
    views(&telemetry, 1);

    let (requests, written) = (server.requests(), log.written());
    assert_eq!((requests.len(), written.len()), (2, 2));
    let large = &requests[0];
    assert!(written[0].body.len() > 512);
    assert_eq!(large.header("content-encoding"), Some("gzip"));
    assert_eq!(large.body[..2], [0x1f, 0x8b], "a gzip stream");
    assert!(large.body.len() < written[0].body.len(), "compressed");
    assert_eq!(large.decoded_body(), written[0].body, "decodes to what the encoder wrote");
    let small = &requests[1];
    assert!(written[1].body.len() <= 512);
    assert_eq!(small.header("content-encoding"), None);
    assert_eq!(small.body, written[1].body);
}

#[test]
fn lowering_consent_to_off_while_the_server_holds_the_request_sends_no_body_byte() {
    let canary = Canary::new("note");
    let server = TestServer::start();
    // The server reads the head, then holds the body back (it answers
    // `100 Continue` only when the gate opens): the transport has passed
    // every check made before the request and waits to write the body.
    let gate = Gate::new();
    server.script([Behaviour::ContinueAfter(gate.clone())]);
    let sandbox = Sandbox::new();
    let sink =
        Custom::new("envelope", transport().header("Expect", "100-continue").unwrap(), envelope(&server));
    let log = sink.log();
    let telemetry = Telemetry::new(
        sandbox.config().consent(Level::Full).sink(sink).flush_interval(Duration::from_secs(120)),
    )
    .unwrap();
    telemetry.capture(&NoteTaken { words: 4, note: canary.text() });
    let _ = telemetry.flush(Duration::ZERO);
    let head_arrived = || server.raw_bytes().iter().any(|raw| contains_bytes(raw, b"\r\n\r\n"));
    assert!(wait_until(SOON, head_arrived), "the request head reached the server");
    assert!(log.written().iter().any(|w| canary.found_in(&w.body)), "the encoder wrote the note");
    assert!(!server.received(canary.text().as_bytes()), "the body is not written yet");

    telemetry.set_consent(Level::Off);
    gate.open();
    assert!(!telemetry.flush(SOON), "the event was given up on");

    for raw in server.raw_bytes() {
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |at| at + 4);
        assert_eq!(raw.len(), head_end, "a body byte left after consent went off");
    }
    assert!(!server.raw_bytes().iter().any(|raw| canary.found_in(raw)));
    // The server records the request once the client has closed it.
    assert!(server.wait_for_requests(1, SOON), "the request whose body was held is recorded");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "the request whose body was held: {requests:?}");
    assert!(!requests[0].complete, "{requests:?}");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::ConsentWithdrawn)), (0, 1), "{stats:?}");
}

#[test]
fn lowering_consent_while_waiting_to_retry_leaves_the_opt_in_event_out_of_the_retry() {
    let canary = Canary::new("note");
    let server = TestServer::start();
    // Long enough to lower consent during the wait, short enough for a test.
    server.script([Behaviour::StatusWithHeaders(503, vec![("Retry-After", "1")])]);
    let sandbox = Sandbox::new();
    let sink = Custom::new("envelope", transport(), envelope(&server));
    let telemetry = Telemetry::new(
        sandbox.config().consent(Level::Full).sink(sink).flush_interval(Duration::from_secs(120)),
    )
    .unwrap();
    telemetry.capture(&NoteTaken { words: 4, note: canary.text() });
    telemetry.capture_with(&PAGE_VIEWED, Properties::new().with("section", "Home").with("n", 1u8));
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "the first attempt was made");
    assert!(canary.found_in(&server.requests()[0].body), "the first attempt carried the note");

    telemetry.set_consent(Level::Usage);
    assert!(!telemetry.flush(SOON), "the opt-in event was given up on");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert!(!canary.found_in(&requests[1].body), "the retry carried the note after consent was lowered");
    let names: Vec<String> =
        envelope_events(&requests[1]).iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["page_viewed"], "the retry carries what consent still allows");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::ConsentWithdrawn)), (1, 1), "{stats:?}");
}

#[test]
fn a_custom_sink_never_sees_an_opt_in_value_below_full_nor_a_redacted_raw_value() {
    for level in [Level::Usage, Level::Full] {
        let (query_canary, path_canary) = (Canary::new("query"), Canary::new("path"));
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let (pixel_sink, envelope_sink) = (
            Custom::new("pixel", transport(), pixel(&server)),
            Custom::new("envelope", transport(), envelope(&server)),
        );
        let logs: [Log; 2] = [pixel_sink.log(), envelope_sink.log()];
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .consent(level)
                .sink(pixel_sink)
                .sink(envelope_sink)
                .flush_interval(Duration::from_secs(120)),
        )
        .unwrap();
        telemetry.capture(&FileOpened { bytes: 2048, query: query_canary.text(), path: path_canary.text() });
        assert!(telemetry.flush(SOON), "{level}: {:?}", telemetry.stats());

        // What each sink was given.
        let mut hashes = Vec::new();
        for log in &logs {
            let seen = log.seen();
            assert_eq!(seen.len(), 1, "{level}");
            let properties = &seen[0].properties;
            assert_eq!(properties["bytes"], 2048, "{level}");
            assert_eq!(seen[0].hashed, ["path"], "{level}: the path comes as a keyed hash");
            let hash = properties["path"].as_str().unwrap().to_owned();
            assert!(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{level}: {hash}");
            assert!(!path_canary.found_in_text(&hash), "{level}");
            match level {
                Level::Full => assert_eq!(properties["query"], query_canary.text(), "{level}"),
                _ => assert!(!properties.contains_key("query"), "{level}: an opt-in value below full"),
            }
            let everything = serde_json::to_string(properties).unwrap();
            assert!(!path_canary.found_in_text(&everything), "{level}: the raw path reached a sink");
            hashes.push(hash);
        }
        assert_eq!(hashes[0], hashes[1], "{level}: both sinks got the same keyed hash");

        // What they sent.
        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{level}: one pixel, one envelope");
        let wire = server.raw_bytes().concat();
        assert!(!path_canary.found_in(&wire), "{level}: the raw path on the wire");
        assert!(contains_bytes(&wire, hashes[0].as_bytes()), "{level}: the hash on the wire");
        assert_eq!(
            query_canary.found_in(&wire),
            level == Level::Full,
            "{level}: the opt-in query on the wire"
        );
        let pixel = requests.iter().find(|r| r.method == "GET").unwrap();
        assert_eq!(query(pixel)["p.path"], hashes[0]);
        let envelope = requests.iter().find(|r| r.method == "POST").unwrap();
        assert_eq!(envelope_events(envelope)[0]["properties"]["path"], hashes[0].as_str());
    }
}
