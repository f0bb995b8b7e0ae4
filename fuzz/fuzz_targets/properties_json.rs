//! Property serialization and the declaration check: property values
//! (text, numbers, floats including NaN and infinities, hashed text, lists)
//! under arbitrary names go through the public API into a memory sink, for
//! one of the events declared below. Never panics; every event that is
//! accepted is one valid JSON object with the right name and exactly the
//! declared values given (null and non-finite omitted at the top level,
//! kept as null inside lists; duplicates: the last value wins; reserved or
//! empty names dropped), classified as declared; a property the event does
//! not declare, or whose value has another shape than declared, is never
//! sent and is counted as `Undeclared`; an opt-in event is not sent at
//! usage.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Config, DropReason, Level, Properties, Telemetry, Value};

/// Lists nested deeper than this are cut (a deeper nest overflows the
/// worker's stack: a known runtime bug, reported separately). Set
/// `FUZZ_MAX_DEPTH` to lift the cap and look for that crash.
fn max_depth() -> usize {
    static DEPTH: OnceLock<usize> = OnceLock::new();
    *DEPTH.get_or_init(|| std::env::var("FUZZ_MAX_DEPTH").ok().and_then(|v| v.parse().ok()).unwrap_or(24))
}

const NAMES: [&str; 14] = [
    "a",
    "b",
    "count",
    "label",
    "hashed",
    "tags",
    "grid",
    "phrase",
    "",
    "$reserved",
    "with space",
    "\u{fc}n\u{ef}c\u{f6}d\u{e9}",
    "\"q\"",
    "b\\s",
];

#[derive(Arbitrary, Debug)]
enum FuzzValue {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Hashed(String),
    List(Vec<FuzzValue>),
}

telemetry_runtime::event! {
    /// A property of each shape and classification, for the fuzzer.
    static FUZZED = "fuzzed" {
        /// A number.
        a: f64,
        /// A flag.
        b: bool,
        /// A list of numbers.
        count: Vec<i64>,
        /// Text, public.
        #[telemetry(public, reason = "the fuzzer's input, to check any text encodes")]
        label: String,
        /// Text, sent as a keyed hash.
        #[telemetry(redact = "hash")]
        hashed: String,
        /// A list of texts, public.
        #[telemetry(public, reason = "the fuzzer's input, to check any text encodes")]
        tags: Vec<String>,
        /// Lists of numbers.
        grid: Vec<Vec<f64>>,
        /// Text, only at full consent.
        #[telemetry(opt_in)]
        phrase: String,
    }
}

telemetry_runtime::event! {
    /// An event sent only at full consent, for the fuzzer.
    #[telemetry(opt_in)]
    static FUZZED_OPT_IN = "fuzzed_opt_in" {
        /// A number.
        a: f64,
    }
}

/// The declared shape of a property of [`FUZZED`].
#[derive(Clone, Copy)]
enum Shape {
    Number,
    Bool,
    Text,
    List(&'static Shape),
}

/// The declaration of [`FUZZED`], as the fuzzer models it: the shape of
/// each property, and whether it is sent at usage as it is (`Some(true)`),
/// as a keyed hash (`Some(false)`), or not at all (`None`: opt-in).
fn declared(name: &str) -> Option<(Shape, Option<bool>)> {
    Some(match name {
        "a" => (Shape::Number, Some(true)),
        "b" => (Shape::Bool, Some(true)),
        "count" => (Shape::List(&Shape::Number), Some(true)),
        "label" => (Shape::Text, Some(true)),
        "hashed" => (Shape::Text, Some(false)),
        "tags" => (Shape::List(&Shape::Text), Some(true)),
        "grid" => (Shape::List(&Shape::List(&Shape::Number)), Some(true)),
        "phrase" => (Shape::Text, None),
        _ => return None,
    })
}

/// Whether `value` has `shape` (null always has).
fn admits(shape: Shape, value: &Value) -> bool {
    match (shape, value) {
        (_, Value::Null) => true,
        (Shape::Number, Value::Int(_) | Value::UInt(_) | Value::Float(_)) => true,
        (Shape::Bool, Value::Bool(_)) => true,
        (Shape::Text, Value::Text(_) | Value::Hashed(_)) => true,
        (Shape::List(item), Value::List(items)) => items.iter().all(|v| admits(*item, v)),
        _ => false,
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    opt_in_event: bool,
    properties: Vec<(u8, FuzzValue)>,
}

fn client() -> &'static (Telemetry, MemorySink) {
    static CLIENT: OnceLock<(Telemetry, MemorySink)> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let memory = MemorySink::new();
        let root = std::env::temp_dir().join(format!("telemetry-fuzz-props-{}", std::process::id()));
        let telemetry = Telemetry::new(
            Config::new("fuzz", "1")
                .environment(|_| None)
                .consent(Level::Usage)
                .dirs(|d| telemetry_runtime::Dirs {
                    cache: Some(root.join("cache")),
                    config: Some(root.join("config")),
                    ..d
                })
                .sink(memory.clone())
                .delivery(|d| telemetry_runtime::Delivery {
                    max_event_bytes: 64 << 20,
                    flush_interval: Duration::from_secs(3600),
                    ..d
                }),
        )
        .expect("a valid configuration");
        (telemetry, memory)
    })
}

fn to_value(value: &FuzzValue, depth: usize) -> Value {
    match value {
        FuzzValue::Null => Value::Null,
        FuzzValue::Bool(b) => Value::Bool(*b),
        FuzzValue::Int(i) => Value::Int(*i),
        FuzzValue::UInt(u) => Value::UInt(*u),
        FuzzValue::Float(f) => Value::Float(*f),
        FuzzValue::Text(t) => Value::Text(t.clone().into()),
        FuzzValue::Hashed(t) => Value::Hashed(telemetry_runtime::__private::Digest::of(t)),
        FuzzValue::List(_) if depth >= max_depth() => Value::Null,
        FuzzValue::List(items) => Value::List(items.iter().map(|v| to_value(v, depth + 1)).collect()),
    }
}

/// Whether `json` is what `value` must become (inside a list when `nested`).
fn matches(value: &Value, json: &Json) -> bool {
    match (value, json) {
        (Value::Null, Json::Null) => true,
        (Value::Bool(b), Json::Bool(j)) => b == j,
        (Value::Int(i), Json::Number(n)) => n.as_i64() == Some(*i),
        (Value::UInt(u), Json::Number(n)) => n.as_u64() == Some(*u),
        (Value::Float(f), Json::Null) => !f.is_finite(),
        // Exact: the runtime writes the shortest text that reads back as
        // the same float, and `float_roundtrip` reads it back exactly.
        (Value::Float(f), Json::Number(n)) => f.is_finite() && n.as_f64() == Some(*f),
        (Value::Text(t), Json::String(s)) => t == s,
        (Value::Hashed(_), Json::String(s)) => s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        (Value::List(items), Json::Array(array)) => {
            items.len() == array.len() && items.iter().zip(array).all(|(v, j)| matches(v, j))
        }
        _ => false,
    }
}

fn omitted_at_top_level(value: &Value) -> bool {
    matches!(value, Value::Null) || matches!(value, Value::Float(f) if !f.is_finite())
}

fuzz_target!(|input: Input| {
    let (telemetry, memory) = client();
    memory.clear();
    let before = telemetry.stats();

    let mut properties = Properties::new();
    let mut given: Vec<(&'static str, Value)> = Vec::new();
    for (index, value) in &input.properties {
        let name = NAMES[usize::from(*index) % NAMES.len()];
        let value = to_value(value, 0);
        properties = properties.with(name, value.clone());
        if name.is_empty() || name.starts_with('$') {
            continue;
        }
        match given.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => given.push((name, value)),
        }
    }
    let event = if input.opt_in_event { &FUZZED_OPT_IN } else { &FUZZED };
    telemetry.capture_with(event, properties);
    assert!(telemetry.flush(Duration::from_secs(30)), "the worker is stuck");

    let raw = memory.raw();
    let after = telemetry.stats();
    assert_eq!(after.dropped(DropReason::Invalid), before.dropped(DropReason::Invalid));
    if input.opt_in_event {
        assert!(raw.is_empty(), "an opt-in event was sent at usage");
        assert_eq!(after.undeclared, before.undeclared);
        return;
    }
    // What the declaration lets through, and how many properties it refuses.
    let mut expected: HashMap<&str, (&Value, bool)> = HashMap::new();
    let mut refused = 0u64;
    for (name, value) in &given {
        match declared(name) {
            Some((shape, sent)) if admits(shape, value) => {
                if let Some(as_is) = sent {
                    expected.insert(name, (value, as_is));
                }
            }
            _ => refused += 1,
        }
    }
    assert_eq!(after.undeclared - before.undeclared, refused, "undeclared or mistyped properties counted");
    assert_eq!(raw.len(), 1, "one event captured, {} delivered", raw.len());
    let event: Json = serde_json::from_str(&raw[0]).expect("the event is valid JSON");
    assert_eq!(event["event"], "fuzzed");
    let props = event["properties"].as_object().expect("properties is an object");
    for (name, (value, as_is)) in &expected {
        match props.get(*name) {
            None => assert!(omitted_at_top_level(value), "{name} missing: {value:?}"),
            Some(json) if *as_is => {
                assert!(!omitted_at_top_level(value), "{name} sent: {json}");
                assert!(matches(value, json), "{name}: {value:?} became {json}");
            }
            // Redacted to a keyed hash: never the text itself.
            Some(json) => {
                assert!(!matches!(value, Value::Null), "{name} sent for null: {json}");
                let hash = json.as_str().expect("a hash is text");
                assert!(hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}: {json}");
            }
        }
    }
    for name in props.keys() {
        assert!(name.starts_with('$') || expected.contains_key(name.as_str()), "unexpected property {name}");
    }
});
