//! Local sinks and custom sinks: the JSONL file, stderr, a sink that panics or
//! fails, and typed events whose properties depend on the consent level.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use telemetry_runtime::sink::{Batch, JsonlSink, MemorySink, SendContext, Sink, SinkError, StderrSink};
use telemetry_runtime::{DropReason, Level, Properties, Telemetry, TelemetryEvent, Value};
use telemetry_tests::{Sandbox, SOON};

#[test]
fn jsonl_sink_writes_one_private_json_object_per_line() {
    let sandbox = Sandbox::new();
    let path = sandbox.path().join("nested/dir/events.jsonl");
    let telemetry = Telemetry::new(sandbox.config().sink(JsonlSink::new(&path))).unwrap();
    assert!(!path.exists(), "created on first delivery, not at init");
    for i in 0..5u8 {
        telemetry.capture_with("line", Properties::new().with("i", i).with("text", "a\nb"));
    }
    assert!(telemetry.flush(SOON));
    telemetry.capture_with("line", Properties::new().with("i", 5u8));
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
    telemetry.capture_with("unwritable", Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::SinkError), 1);
    assert_eq!(memory.events().len(), 1, "the other sink still gets the event");
}

#[test]
fn stderr_sink_prints_without_failing() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(StderrSink::new())).unwrap();
    telemetry.capture_with("printed", Properties::new().with("k", "v"));
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().sent, 1);
    assert_eq!(telemetry.sink_names(), ["stderr"]);
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
        self.received.lock().unwrap().extend(batch.events().iter().map(|e| e.name().to_owned()));
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
            telemetry.capture_with("contained", Properties::new().with("round", round));
        }
        assert!(!telemetry.flush(SOON), "events were given up on");
    }
    let stats = telemetry.stats();
    assert_eq!(stats.dropped(DropReason::SinkError), 6, "{stats:?}");
    assert!(stats.failed >= 2);
    assert_eq!(memory.events().len(), 6, "the other sink got every batch");

    // The worker survived: later batches reach both sinks.
    telemetry.capture_with("later", Properties::new());
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
        if batch.len() > 1 {
            cx.dropped(DropReason::Rejected, 1);
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
        telemetry.capture_with("partial", Properties::new());
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Rejected)), (2, 1), "{stats:?}");
    telemetry.capture_with("alone", Properties::new());
    assert!(!telemetry.flush(SOON), "the lone event was given up on");
    assert_eq!(telemetry.stats().dropped(DropReason::Undeliverable), 1);
}

/// A typed event written by hand the way the derive writes it: `args` is
/// `opt_in` (Full only).
struct CommandRun {
    command: &'static str,
    args: Vec<String>,
}

impl TelemetryEvent for CommandRun {
    const NAME: &'static str = "command_run";
    fn write_properties(&self, level: Level, out: &mut Properties) {
        out.insert("command", self.command);
        if level >= Level::Full {
            out.insert("args", Value::List(self.args.iter().cloned().map(Value::text).collect()));
        }
    }
}

/// An event sent only with full consent.
struct Diagnostics;

impl TelemetryEvent for Diagnostics {
    const NAME: &'static str = "diagnostics";
    const MIN_LEVEL: Level = Level::Full;
    fn write_properties(&self, _: Level, _: &mut Properties) {}
}

#[test]
fn typed_events_follow_the_level_in_force() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    let event = CommandRun { command: "build", args: vec!["--release".into()] };

    telemetry.capture(&event);
    telemetry.capture(&Diagnostics);
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1, "the Full-only event is not captured at Usage");
    assert_eq!(events[0]["event"], "command_run");
    assert_eq!(events[0]["properties"]["command"], "build");
    assert!(events[0]["properties"].get("args").is_none(), "opt_in field withheld at Usage");

    memory.clear();
    telemetry.set_consent(Level::Full);
    telemetry.capture(&event);
    telemetry.capture(&Diagnostics);
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["properties"]["args"], serde_json::json!(["--release"]));
    assert_eq!(events[1]["event"], "diagnostics");
}

#[test]
fn invalid_event_names_are_dropped_and_counted() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with("", Properties::new());
    telemetry.capture_with("$pageview", Properties::new());
    telemetry.capture_with("x".repeat(201), Properties::new());
    telemetry.capture_with("fine", Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    assert_eq!(memory.events().len(), 1);
    let stats = telemetry.stats();
    assert_eq!((stats.captured, stats.dropped(DropReason::Invalid)), (1, 3));
}

/// An event whose `write_properties` captures another event on the same
/// client: the nested capture must not disturb the outer one's properties
/// (each capture packs into its thread's buffer, taken and put back).
struct Nesting<'a> {
    telemetry: &'a Telemetry,
    depth: u32,
}

impl TelemetryEvent for Nesting<'_> {
    const NAME: &'static str = "nesting";
    fn write_properties(&self, _: Level, out: &mut Properties) {
        out.insert("before", self.depth);
        if self.depth > 0 {
            self.telemetry.capture(&Nesting { telemetry: self.telemetry, depth: self.depth - 1 });
        }
        out.insert("after", Value::text(format!("depth {}", self.depth)));
    }
}

#[test]
fn a_capture_inside_write_properties_keeps_both_events_whole() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture(&Nesting { telemetry: &telemetry, depth: 3 });
    // And the thread's buffer still works normally afterwards.
    telemetry.capture(&Nesting { telemetry: &telemetry, depth: 0 });
    assert!(telemetry.flush(SOON));
    let seen: Vec<(u64, String)> = memory
        .events()
        .iter()
        .map(|e| {
            let p = &e["properties"];
            (p["before"].as_u64().unwrap(), p["after"].as_str().unwrap().to_owned())
        })
        .collect();
    // Inner events are queued first: they finish their capture first.
    let expected: Vec<(u64, String)> = [0, 1, 2, 3, 0].iter().map(|&d| (d, format!("depth {d}"))).collect();
    assert_eq!(seen, expected);
}
