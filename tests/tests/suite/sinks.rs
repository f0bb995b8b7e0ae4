//! Local sinks and custom sinks: the JSONL file, stderr, a sink that panics or
//! fails, and typed events whose properties depend on the consent level.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::{Batch, JsonlSink, SendContext, Sink, SinkError, StderrSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Level, Properties, Telemetry, TelemetryEvent, Value};
use telemetry_tests::canary::Canary;
use telemetry_tests::{child, posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// One line of the JSONL file.
    static LINE = "line" {
        /// Its number.
        i: u64,
        /// A fixed value with a newline in it.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        value: String,
    }
}

telemetry_runtime::event! {
    /// Sent to a JSONL file that cannot be written.
    static UNWRITABLE = "unwritable" {}
}

telemetry_runtime::event! {
    /// Printed to stderr.
    static PRINTED = "printed" {
        /// A fixed text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        k: String,
    }
}

telemetry_runtime::event! {
    /// Sent to a sink that panics, and to another.
    static CONTAINED = "contained" {
        /// The round of the test.
        round: u8,
    }
}

telemetry_runtime::event! {
    /// Sent once the sink stopped panicking.
    static LATER = "later" {}
}

telemetry_runtime::event! {
    /// Sent to a sink that reports a partial drop.
    static PARTIAL = "partial" {}
}

telemetry_runtime::event! {
    /// Sent alone to a sink that fails.
    static ALONE = "alone" {}
}

#[test]
fn jsonl_sink_writes_one_private_json_object_per_line() {
    let sandbox = Sandbox::new();
    let path = sandbox.path().join("nested/dir/events.jsonl");
    let telemetry = Telemetry::new(sandbox.config().sink(JsonlSink::new(&path))).unwrap();
    assert!(!path.exists(), "created on first delivery, not at init");
    for i in 0..5u8 {
        telemetry.capture_with(&LINE, Properties::new().with("i", i).with("value", "a\nb"));
    }
    assert!(telemetry.flush(SOON));
    telemetry.capture_with(&LINE, Properties::new().with("i", 5u8));
    assert!(telemetry.flush(SOON));

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for (i, line) in lines.iter().enumerate() {
        let event: serde_json::Value = serde_json::from_str(line).expect("each line is one JSON value");
        assert!(event.is_object());
        assert_eq!(event["event"], "line");
        assert_eq!(event["properties"]["i"], i);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(telemetry.stats().sent, 6);
}

#[test]
fn jsonl_sink_that_cannot_write_counts_a_sink_error() {
    let sandbox = Sandbox::new();
    // A file where the directory should be.
    std::fs::write(sandbox.path().join("blocker"), "").unwrap();
    let path = sandbox.path().join("blocker/events.jsonl");
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(JsonlSink::new(path)).sink(memory.clone())).unwrap();
    telemetry.capture_with(&UNWRITABLE, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::SinkError), 1);
    assert_eq!(memory.events().len(), 1, "the other sink still gets the event");
}

#[test]
fn stderr_sink_prints_without_failing() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(StderrSink)).unwrap();
    telemetry.capture_with(&PRINTED, Properties::new().with("k", "v"));
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().sent, 1);
    assert_eq!(Status::of(&telemetry).sink_names, ["stderr"]);
}

/// Panics on its first `panics` calls, then records what it gets.
struct PanickySink {
    panics: usize,
    calls: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<String>>>,
}

impl Sink for PanickySink {
    fn name(&self) -> &str {
        "panicky"
    }

    fn send(&mut self, batch: &Batch, _cx: &SendContext<'_>) -> Result<(), SinkError> {
        if self.calls.fetch_add(1, SeqCst) < self.panics {
            panic!("a sink bug (expected in this test)");
        }
        self.received.lock().unwrap().extend(batch.events().map(|e| e.name().to_owned()));
        Ok(())
    }
}

#[test]
fn a_panicking_sink_is_contained_and_counted() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(Mutex::new(Vec::new()));
    let panicky = PanickySink { panics: 2, calls: Arc::clone(&calls), received: Arc::clone(&received) };
    let telemetry = Telemetry::new(sandbox.config().sink(panicky).sink(memory.clone())).unwrap();

    // Two batches meet the panic; the host's calls return normally.
    for round in 0..2u8 {
        for _ in 0..3 {
            telemetry.capture_with(&CONTAINED, Properties::new().with("round", round));
        }
        assert!(!telemetry.flush(SOON), "events were given up on");
    }
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::SinkError), 6, "{stats:?}");
    assert!(stats.failed >= 2);
    assert_eq!(memory.events().len(), 6, "the other sink got every batch");

    // The worker survived: later batches reach both sinks.
    telemetry.capture_with(&LATER, Properties::new());
    assert!(telemetry.flush(SOON));
    assert_eq!(calls.load(SeqCst), 3);
    assert_eq!(*received.lock().unwrap(), ["later"]);
    assert_eq!(memory.events().len(), 7);
    assert!(telemetry.is_enabled());
}

/// Fails every batch with a reason of its own choosing, reporting a partial
/// drop first.
struct PartialSink;

impl Sink for PartialSink {
    fn name(&self) -> &str {
        "partial"
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        assert!(cx.may_send());
        if batch.events().count() > 1 {
            if let Some(first) = batch.events().next() {
                cx.drop_event(&first, DropReason::Rejected);
            }
            return Ok(());
        }
        Err(SinkError::new(DropReason::Undeliverable, "down"))
    }
}

#[test]
fn custom_sink_outcomes_are_counted() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(PartialSink)).unwrap();
    for _ in 0..3 {
        telemetry.capture_with(&PARTIAL, Properties::new());
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Rejected)), (2, 1), "{stats:?}");
    telemetry.capture_with(&ALONE, Properties::new());
    assert!(!telemetry.flush(SOON), "the lone event was given up on");
    assert_eq!(telemetry.stats().dropped(DropReason::Undeliverable), 1);
}

/// A command ran: `args` is `opt_in` (Full only).
#[derive(TelemetryEvent)]
struct CommandInvoked {
    /// The subcommand, from a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    command: &'static str,
    /// The user's arguments: only with full consent.
    #[telemetry(opt_in)]
    args: Vec<String>,
}

/// An event sent only with full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct Diagnostics {}

#[test]
fn typed_events_follow_the_level_in_force() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    let event = CommandInvoked { command: "build", args: vec!["--release".into()] };

    telemetry.capture(&event);
    telemetry.capture(&Diagnostics {});
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1, "the Full-only event is not captured at Usage");
    assert_eq!(events[0]["event"], "command_invoked");
    assert_eq!(events[0]["properties"]["command"], "build");
    assert!(events[0]["properties"].get("args").is_none(), "opt_in field withheld at Usage");

    memory.clear();
    telemetry.set_consent(Level::Full);
    telemetry.capture(&event);
    telemetry.capture(&Diagnostics {});
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["properties"]["args"], serde_json::json!(["--release"]));
    assert_eq!(events[1]["event"], "diagnostics");
}

telemetry_runtime::event! {
    /// An event with two declared properties.
    static DECLARED = "declared" {
        /// A number.
        entries: u64,
        /// From a fixed set of reasons.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        reason: String,
    }
}

#[test]
fn undeclared_and_mistyped_properties_are_left_out_and_counted() {
    child::isolated("sinks::undeclared_and_mistyped_properties_are_left_out_and_counted", || {
        install_host_logger();
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
        let undeclared = Canary::new("undeclared");
        let text_in_number = Canary::new("text_in_number");
        // Any number fits a number; a property the declaration does not name
        // is left out, the event is sent.
        telemetry.capture_with(
            &DECLARED,
            Properties::new()
                .with("entries", 3u8)
                .with("reason", "full")
                .with("undeclared_note", Value::Text(undeclared.text().into())),
        );
        // Text where a number is declared, a number and a list where text is:
        // left out, each of them.
        telemetry.capture_with(
            &DECLARED,
            Properties::new().with("entries", Value::Text(text_in_number.text().into())).with("reason", 7u8),
        );
        telemetry
            .capture_with(&DECLARED, Properties::new().with("entries", -2.5).with("reason", vec!["a", "b"]));
        assert!(telemetry.flush(SOON));

        let events = server.accepted_events();
        assert_eq!(events.len(), 3, "the events themselves are sent");
        assert!(events.iter().all(|e| e["event"] == "declared"));
        assert_eq!(events[0]["properties"]["entries"], 3);
        assert_eq!(events[0]["properties"]["reason"], "full");
        for (i, event) in events.iter().enumerate() {
            let properties = event["properties"].as_object().unwrap();
            assert!(!properties.contains_key("undeclared_note"), "event {i}: {properties:?}");
            if i > 0 {
                assert!(
                    !properties.contains_key("reason"),
                    "event {i}: a mistyped value was sent: {properties:?}"
                );
            }
        }
        assert!(!events[1]["properties"].as_object().unwrap().contains_key("entries"));
        assert_eq!(events[2]["properties"]["entries"], -2.5, "any number fits a number");
        assert!(!undeclared.found_in(&server.raw_bytes().concat()), "an undeclared value went on the wire");
        assert!(!text_in_number.found_in(&server.raw_bytes().concat()), "text in a number went on the wire");
        let stats = telemetry.stats();
        assert_eq!((stats.captured, stats.sent), (3, 3), "{stats:?}");
        assert_eq!(stats.undeclared, 4, "one per property left out: {stats:?}");
        assert_eq!(stats.dropped(DropReason::Invalid), 0, "{stats:?}");

        // The log names the property, never its value.
        let messages = host_log();
        assert!(
            messages.iter().any(|m| m.contains("\"undeclared_note\"") && m.contains("\"declared\"")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("\"entries\"") && m.contains("another type")),
            "{messages:?}"
        );
        for message in &messages {
            assert!(
                !undeclared.found_in_text(message) && !text_in_number.found_in_text(message),
                "{message}"
            );
        }
    });
}

telemetry_runtime::event! {
    /// An event captured while another capture is in progress.
    static NESTING = "nesting" {
        /// Its depth.
        before: u64,
        /// Its depth, as text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        after: String,
    }
}

/// The host's logger, in the process of its test (it installs itself for
/// the whole process): it keeps every message, and
/// forwards the warning about the property `nested_capture` as a telemetry
/// event of its own, on the client in [`FORWARD_TO`]. Events cannot run
/// code while they are captured (every event is declared or derived), but
/// the host's logger can: that warning is logged in the middle of the
/// capture that carries the property, after the properties before it were
/// written into the thread's buffer and before the ones after it. Its
/// tests run in processes of their own: the library warns about a property
/// once per process.
struct HostLogger;

static HOST_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
static FORWARD_TO: Mutex<Option<Telemetry>> = Mutex::new(None);

impl log::Log for HostLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let message = record.args().to_string();
        let forward = message.contains("\"nested_capture\"");
        HOST_LOG.lock().unwrap_or_else(|e| e.into_inner()).push(message);
        let client = FORWARD_TO.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let (true, Some(client)) = (forward, client) {
            // With an undeclared property of its own: its warning is logged
            // while the outer capture is still logging (no lock held there).
            client.capture_with(&NESTING, nesting(0).with("inner_undeclared", true));
        }
    }

    fn flush(&self) {}
}

fn install_host_logger() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&HostLogger).expect("no other logger in this process");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

fn host_log() -> Vec<String> {
    HOST_LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The properties of [`NESTING`] at `depth`; above 0, with the undeclared
/// property `nested_capture` between the two declared ones.
fn nesting(depth: u64) -> Properties {
    let mut properties = Properties::new().with("before", depth);
    if depth > 0 {
        properties = properties.with("nested_capture", true);
    }
    properties.with("after", Value::Text(format!("depth {depth}").into()))
}

#[test]
fn a_capture_inside_a_capture_keeps_both_events_whole() {
    child::isolated("sinks::a_capture_inside_a_capture_keeps_both_events_whole", || {
        install_host_logger();
        let sandbox = Sandbox::new();
        let memory = MemorySink::new();
        let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
        *FORWARD_TO.lock().unwrap() = Some(telemetry.clone());
        telemetry.capture_with(&NESTING, nesting(1));
        *FORWARD_TO.lock().unwrap() = None;
        // And the thread's buffer still works normally afterwards.
        telemetry.capture_with(&NESTING, nesting(0));
        assert!(telemetry.flush(SOON));
        let seen: Vec<(u64, String)> = memory
            .events()
            .iter()
            .map(|e| {
                let p = &e["properties"];
                (p["before"].as_u64().unwrap(), p["after"].as_str().unwrap().to_owned())
            })
            .collect();
        // The inner event is queued first: it finishes its capture first.
        let expected: Vec<(u64, String)> = [0, 1, 0].iter().map(|&d| (d, format!("depth {d}"))).collect();
        assert_eq!(seen, expected);
    });
}

/// The JSON-lines file is bounded: past its size it is renamed with `.1`
/// (replacing the older one) and a new file starts, so the two hold the
/// newest events and never more than twice the limit; every line stays
/// whole.
#[test]
fn jsonl_sink_rotates_its_file_at_its_size_and_keeps_one_older_file() {
    let sandbox = Sandbox::new();
    let path = sandbox.path().join("events.jsonl");
    let older = sandbox.path().join("events.jsonl.1");
    const LIMIT: u64 = 4 * 1024;
    let telemetry = Telemetry::new(sandbox.config().sink(JsonlSink::new(&path).max_bytes(LIMIT))).unwrap();
    for i in 0..200u32 {
        telemetry.capture_with(&LINE, Properties::new().with("i", i));
        assert!(telemetry.flush(SOON));
    }
    let (current, previous) =
        (std::fs::read_to_string(&path).unwrap(), std::fs::read_to_string(&older).unwrap());
    assert!(
        current.len() as u64 <= LIMIT && previous.len() as u64 <= LIMIT,
        "{} {}",
        current.len(),
        previous.len()
    );
    let numbers = |text: &str| -> Vec<u64> {
        text.lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).expect("whole lines")["properties"]["i"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    let (current, previous) = (numbers(&current), numbers(&previous));
    assert!(!previous.is_empty() && !current.is_empty());
    assert_eq!(*current.last().unwrap(), 199, "the newest event is in the current file");
    assert_eq!(previous.last().unwrap() + 1, current[0], "the older file ends where the current one starts");
    assert_eq!(
        std::fs::read_dir(sandbox.path()).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count(),
        2
    );
}
