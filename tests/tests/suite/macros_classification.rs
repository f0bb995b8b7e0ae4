//! What `#[derive(TelemetryEvent)]` code sends, classification by
//! classification, at each consent level: real events through an instance
//! client into the memory sink, read back as the JSON the sinks deliver.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Config, Level, Telemetry, TelemetryEvent, TelemetryProperty};

const FLUSH: Duration = Duration::from_secs(10);

/// A client of its own (not the global one), with its files in `dir`.
struct Client {
    telemetry: Telemetry,
    memory: MemorySink,
}

impl Client {
    fn new(level: Level, dir: &Path) -> Client {
        let memory = MemorySink::new();
        let config = Config::new("macrotest", "1.0.0")
            .consent(level)
            .environment(|_| None)
            .dirs(|d| telemetry_runtime::Dirs {
                cache: Some(dir.join("cache")),
                config: Some(dir.join("config")),
                ..d
            })
            .sink(memory.clone());
        Client { telemetry: Telemetry::new(config).expect("valid config"), memory }
    }

    /// Captures `events`, waits for delivery, and returns what was delivered.
    fn send<E: TelemetryEvent>(&self, events: &[E]) -> Vec<Json> {
        for event in events {
            self.telemetry.capture(event);
        }
        assert!(self.telemetry.flush(FLUSH), "delivered in time");
        self.memory.events()
    }
}

/// The properties of a delivered event that the event itself wrote (not the
/// library's `$` ones).
fn own_properties(event: &Json) -> serde_json::Map<String, Json> {
    let all = event["properties"].as_object().expect("properties object");
    all.iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn keys(event: &Json) -> BTreeSet<String> {
    own_properties(event).keys().cloned().collect()
}

fn is_hash(value: &Json) -> bool {
    value.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(TelemetryProperty, Clone, Copy)]
enum Transport {
    Stdio,
    StreamableHttp,
}

/// A tool was called.
#[derive(TelemetryEvent, Clone)]
struct ToolCalled {
    attempts: u32,
    transport: Transport,
    elapsed: Duration,
    fallback: Option<Transport>,
    /// The tool's name, from a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    tool: String,
    /// The arguments the user typed.
    #[telemetry(opt_in)]
    arguments: String,
    #[telemetry(redact)]
    api_token: String,
    #[telemetry(redact = "drop")]
    password: String,
    #[telemetry(redact = "marker")]
    cookie: Option<String>,
    #[telemetry(redact = "hash")]
    server_url: String,
    #[telemetry(redact = "length")]
    prompt: String,
    #[telemetry(skip)]
    #[allow(dead_code)]
    scratch: String,
}

fn tool_called() -> ToolCalled {
    ToolCalled {
        attempts: 3,
        transport: Transport::StreamableHttp,
        elapsed: Duration::from_millis(1500),
        fallback: None,
        tool: "grep".into(),
        arguments: "-r needle".into(),
        api_token: "tok_123".into(),
        password: "hunter2".into(),
        cookie: Some("session=1".into()),
        server_url: "https://internal.example.com".into(),
        prompt: "héllo wörld".into(),
        scratch: "kept in the process".into(),
    }
}

const USAGE_KEYS: [&str; 8] =
    ["attempts", "transport", "elapsed", "tool", "cookie", "server_url", "prompt", "fallback"];

#[test]
fn usage_sends_public_fields_and_the_redacted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Usage, dir.path());
    let events = client.send(&[tool_called()]);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["event"], "tool_called");
    let props = own_properties(event);
    // `fallback` is None: absent values are left out.
    let expected: BTreeSet<String> =
        USAGE_KEYS.iter().filter(|k| **k != "fallback").map(|k| k.to_string()).collect();
    assert_eq!(keys(event), expected, "{props:?}");
    assert_eq!(props["attempts"], 3);
    assert_eq!(props["transport"], "streamable_http");
    assert_eq!(props["elapsed"].as_f64(), Some(1500.0), "durations are sent in milliseconds");
    assert_eq!(props["tool"], "grep");
    assert_eq!(props["cookie"], "[redacted]");
    assert!(is_hash(&props["server_url"]), "{}", props["server_url"]);
    assert_eq!(props["prompt"], 11, "the length in characters, not bytes");
}

#[test]
fn full_adds_the_opt_in_fields_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Full, dir.path());
    let mut event = tool_called();
    event.fallback = Some(Transport::Stdio);
    let events = client.send(&[event]);
    let props = own_properties(&events[0]);
    let mut expected: BTreeSet<String> = USAGE_KEYS.iter().map(|k| k.to_string()).collect();
    expected.insert("arguments".into());
    assert_eq!(keys(&events[0]), expected);
    assert_eq!(props["arguments"], "-r needle");
    assert_eq!(props["fallback"], "stdio");
    // Redaction does not depend on the level.
    assert_eq!(props["cookie"], "[redacted]");
    assert!(is_hash(&props["server_url"]));
    assert_eq!(props["prompt"], 11);
    assert!(!props.contains_key("api_token") && !props.contains_key("password"));
    assert!(!props.contains_key("scratch"));
}

#[test]
fn off_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Off, dir.path());
    let events = client.send(&[tool_called(), tool_called()]);
    assert!(events.is_empty());
    assert_eq!(client.telemetry.stats().captured, 0);
}

#[test]
fn marker_is_sent_only_for_a_present_value() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Full, dir.path());
    let mut without = tool_called();
    without.cookie = None;
    let events = client.send(&[without, tool_called()]);
    assert!(!own_properties(&events[0]).contains_key("cookie"));
    assert_eq!(own_properties(&events[1])["cookie"], "[redacted]");
}

#[test]
fn length_is_the_number_of_characters() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Usage, dir.path());
    let prompts = ["", "a", "héllo", "日本語", "👋🏽"];
    let events: Vec<ToolCalled> =
        prompts.iter().map(|p| ToolCalled { prompt: (*p).into(), ..tool_called() }).collect();
    let sent = client.send(&events);
    let lengths: Vec<u64> = sent.iter().map(|e| e["properties"]["prompt"].as_u64().unwrap()).collect();
    assert_eq!(lengths, [0, 1, 5, 3, 2]);
}

/// The hash of `url` as one client with its files in `dir` sends it.
fn hash_of(urls: &[&str], dir: &Path) -> Vec<String> {
    let client = Client::new(Level::Usage, dir);
    let events: Vec<ToolCalled> =
        urls.iter().map(|u| ToolCalled { server_url: (*u).into(), ..tool_called() }).collect();
    let sent = client.send(&events);
    assert_eq!(sent.len(), urls.len());
    sent.iter().map(|e| e["properties"]["server_url"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn hash_is_stable_per_installation_and_differs_across_installations() {
    let a = "https://a.example.com";
    let b = "https://b.example.com";
    let first = tempfile::tempdir().unwrap();
    let hashes = hash_of(&[a, a, b], first.path());
    assert_eq!(hashes.len(), 3);
    assert!(hashes.iter().all(|h| h.len() == 32 && h.bytes().all(|c| c.is_ascii_hexdigit())));
    assert_eq!(hashes[0], hashes[1], "equal inputs, equal hashes");
    assert_ne!(hashes[0], hashes[2], "different inputs, different hashes");
    assert!(!hashes[0].contains("example"));

    // The same installation (cache directory) later: the same hash.
    assert_eq!(hash_of(&[a], first.path())[0], hashes[0]);

    // Another installation: a different hash for the same input.
    let second = tempfile::tempdir().unwrap();
    assert_ne!(hash_of(&[a], second.path())[0], hashes[0]);
}

/// A crash report, only with full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct CrashReported {
    /// Where it crashed: a line of this program's own source.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    source_line: &'static str,
}

#[test]
fn an_opt_in_event_is_sent_only_at_full() {
    for (level, expected) in [(Level::Off, 0), (Level::Usage, 0), (Level::Full, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let client = Client::new(level, dir.path());
        let sent = client.send(&[CrashReported { source_line: "src/main.rs:3" }]);
        assert_eq!(sent.len(), expected, "{level:?}");
        if let Some(event) = sent.first() {
            assert_eq!(event["event"], "crash_reported");
            assert_eq!(event["properties"]["source_line"], "src/main.rs:3");
        }
    }
}

/// A key was pressed; frequent, so half are kept.
#[derive(TelemetryEvent)]
#[telemetry(sample = 0.5)]
struct KeyPressed {
    repeat: bool,
}

#[test]
fn sampling_keeps_about_the_rate_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Usage, dir.path());
    let events: Vec<KeyPressed> = (0..2000).map(|i| KeyPressed { repeat: i % 2 == 0 }).collect();
    let sent = client.send(&events);
    // Binomial(2000, 0.5): the standard deviation is about 22, so these
    // bounds fail only when sampling is broken.
    assert!((800..=1200).contains(&sent.len()), "kept {} of 2000", sent.len());
    for event in &sent {
        assert_eq!(event["event"], "key_pressed");
        assert_eq!(event["properties"]["$sample_rate"].as_f64(), Some(0.5));
    }
    // Unsampled events carry no rate.
    let all = client.send(&[tool_called()]);
    let unsampled = all.last().unwrap();
    assert_eq!(unsampled["event"], "tool_called");
    assert!(unsampled["properties"].get("$sample_rate").is_none());
}

/// Work done, generic over how it is measured.
#[derive(TelemetryEvent)]
struct WorkDone<'a, T> {
    amount: T,
    #[telemetry(opt_in)]
    label: &'a str,
}

#[test]
fn generic_events_send_like_any_other() {
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Level::Usage, dir.path());
    let label = String::from("batch");
    let sent = client.send(&[WorkDone { amount: Duration::from_millis(2), label: &label }]);
    assert_eq!(sent[0]["event"], "work_done");
    assert_eq!(sent[0]["properties"]["amount"].as_f64(), Some(2.0));
    assert_eq!(keys(&sent[0]), BTreeSet::from(["amount".to_owned()]));
    let sent = client.send(&[WorkDone { amount: 7u8, label: &label }]);
    assert_eq!(sent[1]["properties"]["amount"], 7);
}
