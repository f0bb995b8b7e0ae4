//! Property serialization: arbitrary event names, property values (text,
//! numbers, floats including NaN and infinities, hashed text, lists) go
//! through the public API into a memory sink. Never panics; every event
//! that is accepted is one valid JSON object with the right name and
//! exactly the values given (null and non-finite omitted at the top level,
//! kept as null inside lists; duplicates: the last value wins; reserved or
//! empty names dropped); invalid names are counted, not sent.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::Value as Json;
use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{Config, DropReason, Level, Properties, Telemetry, Value};

/// Lists nested deeper than this are cut (a deeper nest overflows the
/// worker's stack: a known runtime bug, reported separately). Set
/// `FUZZ_MAX_DEPTH` to lift the cap and look for that crash.
fn max_depth() -> usize {
    static DEPTH: OnceLock<usize> = OnceLock::new();
    *DEPTH.get_or_init(|| std::env::var("FUZZ_MAX_DEPTH").ok().and_then(|v| v.parse().ok()).unwrap_or(24))
}

const NAMES: [&str; 10] = [
    "a",
    "b",
    "count",
    "text",
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

#[derive(Arbitrary, Debug)]
struct Input {
    name: String,
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
                .cache_dir(root.join("cache"))
                .config_dir(root.join("config"))
                .sink(memory.clone())
                .max_event_bytes(64 << 20)
                .flush_interval(Duration::from_secs(3600)),
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
        FuzzValue::Text(t) => Value::text(t.clone()),
        FuzzValue::Hashed(t) => Value::hashed(t),
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
    let invalid_before = telemetry.stats().dropped(DropReason::Invalid);

    let mut properties = Properties::new();
    let mut expected: Vec<(&'static str, Value)> = Vec::new();
    for (index, value) in &input.properties {
        let name = NAMES[usize::from(*index) % NAMES.len()];
        let value = to_value(value, 0);
        properties.insert(name, value.clone());
        if name.is_empty() || name.starts_with('$') {
            continue;
        }
        match expected.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => expected.push((name, value)),
        }
    }
    telemetry.capture_with(input.name.clone(), properties);
    let delivered = telemetry.flush(Duration::from_secs(30));

    let raw = memory.raw();
    let valid_name = !input.name.is_empty() && input.name.len() <= 200 && !input.name.starts_with('$');
    // `flush` is true when all was delivered: false for the invalid name it
    // dropped, or when the worker is stuck.
    assert_eq!(delivered, valid_name, "flush returned {delivered} for {:?}", input.name);
    if !valid_name {
        assert!(raw.is_empty(), "an invalid name was sent: {:?}", input.name);
        assert_eq!(telemetry.stats().dropped(DropReason::Invalid), invalid_before + 1);
        return;
    }
    assert_eq!(raw.len(), 1, "one event captured, {} delivered", raw.len());
    let event: Json = serde_json::from_str(&raw[0]).expect("the event is valid JSON");
    assert_eq!(event["event"], input.name.as_str());
    let props = event["properties"].as_object().expect("properties is an object");
    let expected: HashMap<&str, &Value> = expected.iter().map(|(n, v)| (*n, v)).collect();
    for (name, value) in &expected {
        match props.get(*name) {
            None => assert!(omitted_at_top_level(value), "{name} missing: {value:?}"),
            Some(json) => {
                assert!(!omitted_at_top_level(value), "{name} sent: {json}");
                assert!(matches(value, json), "{name}: {value:?} became {json}");
            }
        }
    }
    for name in props.keys() {
        assert!(name.starts_with('$') || expected.contains_key(name.as_str()), "unexpected property {name}");
    }
});
