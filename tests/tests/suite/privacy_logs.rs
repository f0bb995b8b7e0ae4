//! Secrets and logs, with a host logger at trace level for every crate.
//!
//! At trace level the HTTP client's protocol layer (`ureq_proto`) writes
//! every byte of each request head (request line and headers) to the log,
//! as rows of 16 bytes in hex and ASCII: a secret longer than a row never
//! appears whole in one line, so these tests read the rows back into the
//! bytes they show and search those too. A key carried in the body (as
//! PostHog reads `api_key`, or `HttpSink::body_field`) appears nowhere; a
//! header's value does reach that dump, which is what the README's Security
//! section says.

use std::thread::ThreadId;
use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::{HttpOptions, HttpSink, PostHogSink};
use telemetry_runtime::{Level, Telemetry, TelemetryEvent};
use telemetry_tests::canary::Canary;
use telemetry_tests::logs::{self, Line};
use telemetry_tests::{contains_bytes, Behaviour, Sandbox, TestServer, SOON};

/// A sync finished.
#[derive(TelemetryEvent)]
struct SyncDone {
    /// Files compared.
    compared: u32,
}

/// The bytes `ureq_proto`'s trace rows show, in order, for each thread that
/// logged any: one client's worker sends one request at a time, while the
/// other tests of the binary send theirs, so its rows are read apart from
/// the rows of other threads. A row is 16 bytes as hex pairs (`--` past the
/// end), two to a group, then the same bytes as ASCII.
fn dumped_bytes(lines: &[Line]) -> Vec<(ThreadId, Vec<u8>)> {
    let mut dumps: Vec<(ThreadId, Vec<u8>)> = Vec::new();
    for line in lines.iter().filter(|l| l.target.starts_with("ureq_proto") && l.level == log::Level::Trace) {
        let at = match dumps.iter().position(|(thread, _)| *thread == line.thread) {
            Some(at) => at,
            None => {
                dumps.push((line.thread, Vec::new()));
                dumps.len() - 1
            }
        };
        let hex: String = line.message.chars().take(40).filter(|c| !c.is_whitespace()).collect();
        for pair in hex.as_bytes().chunks(2) {
            if let Ok(byte) = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("--"), 16) {
                dumps[at].1.push(byte);
            }
        }
    }
    dumps
}

/// The dump of the thread that sent requests to `server` (the `Host` line
/// of each request head names its port).
fn dump_for(lines: &[Line], server: &TestServer) -> Vec<u8> {
    let url = server.url();
    let host = url.trim_start_matches("http://");
    let mut ours =
        dumped_bytes(lines).into_iter().filter(|(_, bytes)| contains_bytes(bytes, host.as_bytes()));
    let (_, dump) = ours.next().unwrap_or_else(|| panic!("no trace rows show a request to {host}"));
    assert!(ours.next().is_none(), "one thread sent to {host}");
    dump
}

/// Whether any thread's dump carries `found`.
fn in_any_dump(lines: &[Line], found: impl Fn(&[u8]) -> bool) -> bool {
    dumped_bytes(lines).iter().any(|(_, bytes)| found(bytes))
}

/// Runs `deliver` with every log record captured, and returns the records
/// it produced.
fn logged_while(deliver: impl FnOnce()) -> Vec<Line> {
    logs::install();
    let before = logs::lines().len();
    deliver();
    logs::lines().split_off(before)
}

fn fast(options: HttpOptions) -> HttpOptions {
    HttpOptions { backoff_base: Duration::from_millis(5), max_retries: 1, ..options }
}

#[test]
fn a_key_in_the_body_appears_in_no_log_line_at_any_level() {
    let key = Canary::new("body_key");
    let posthog_key = format!("phc_{}", Canary::new("k").text().replace('-', "_"));
    let server = TestServer::start();
    // A retry, a refusal and a success: every path that logs.
    server.script([Behaviour::Status(503), Behaviour::Status(200), Behaviour::Status(400)]);
    let lines = logged_while(|| {
        let sandbox = Sandbox::new();
        let config = sandbox
            .config()
            .consent(Level::Full)
            .sink(
                HttpSink::new(format!("{}/ingest", server.url()))
                    .unwrap()
                    .body_field("api_key", &key.text())
                    .http(fast),
            )
            .sink(PostHogSink::new(posthog_key.clone()).unwrap().host(&server.url()).unwrap().http(fast));
        let telemetry = Telemetry::new(config).unwrap();
        telemetry.capture(&SyncDone { compared: 12 });
        let _ = telemetry.flush(SOON);
        assert!(telemetry.shutdown(SOON));
    });
    assert!(
        lines.iter().any(|l| l.target.starts_with("ureq") && l.level == log::Level::Trace),
        "trace output ran"
    );
    let dumped = dump_for(&lines, &server);
    assert!(
        contains_bytes(&dumped, b"POST /ingest HTTP/1.1"),
        "the dump reads back: {}",
        String::from_utf8_lossy(&dumped)
    );
    for line in &lines {
        assert!(!key.found_in_text(&line.message), "the body key was logged: {line:?}");
        assert!(!line.message.contains(&posthog_key), "the PostHog key was logged: {line:?}");
    }
    assert!(!in_any_dump(&lines, |d| key.found_in(d)), "the body key is in ureq's dump");
    assert!(
        !in_any_dump(&lines, |d| contains_bytes(d, posthog_key.as_bytes())),
        "the PostHog key is in ureq's dump"
    );
    // It did travel, in the body.
    assert!(server.received(key.text().as_bytes()) && server.received(posthog_key.as_bytes()));
}

#[test]
fn our_lines_never_show_a_header_value_or_a_url_query_and_ureqs_trace_dump_does() {
    let token = Canary::new("header_token");
    let in_query = Canary::new("query_key");
    let server = TestServer::start();
    server.set_default(Behaviour::Status(503));
    let lines = logged_while(|| {
        let sandbox = Sandbox::new();
        let sink = HttpSink::new(format!("{}/ingest?key={}", server.url(), in_query.text()))
            .unwrap()
            .header("Authorization", format!("Bearer {}", token.text()))
            .unwrap()
            .http(fast);
        let telemetry = Telemetry::new(sandbox.config().sink(sink)).unwrap();
        telemetry.capture(&SyncDone { compared: 3 });
        assert!(!telemetry.flush(SOON));
        for name in &Status::of(&telemetry).sink_names {
            assert!(!token.found_in_text(name) && !in_query.found_in_text(name), "sink name: {name}");
        }
    });
    let ours: Vec<&Line> = lines.iter().filter(|l| l.target.starts_with("telemetry_runtime")).collect();
    assert!(
        ours.iter().any(|l| l.message.contains("not delivered") && l.message.contains(&server.url())),
        "the failure was logged: {ours:?}"
    );
    for line in &ours {
        assert!(!token.found_in_text(&line.message), "a header value was logged: {line:?}");
        assert!(!in_query.found_in_text(&line.message), "a URL query was logged: {line:?}");
    }
    // Out of the library's hands: ureq's trace output holds the request
    // head, header values included. The README says so.
    let dumped = dump_for(&lines, &server);
    assert!(
        token.found_in(&dumped),
        "ureq no longer dumps header values: update the README's Security section"
    );
}
