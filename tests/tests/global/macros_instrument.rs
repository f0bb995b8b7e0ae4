//! `#[requires_telemetry(instrument)]` against the global client: a process
//! of its own and one test, because the
//! global client can be initialised only once.
//!
//! Each call captures an event named after the function with `duration_ms`,
//! `outcome` and, for an `Err`, `error_type` (the type's name, never the
//! message), plus the arguments named in `args(...)` and no others; what the
//! function returns, and how `return` and `?` behave, is unchanged.

use std::collections::BTreeSet;
use std::fmt;
use std::num::ParseIntError;
use std::time::Duration;

use serde_json::Value as Json;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{requires_telemetry, Config, Level, TelemetryProperty};
use telemetry_tests::{block_on, child, YieldOnce};

const SOON: Duration = Duration::from_secs(10);

/// In error messages and unrecorded arguments: must never be sent.
const MESSAGE_CANARY: &str = "CANARY-errmsg-qzkv";
const URL_CANARY: &str = "CANARY-url-wvxj";
const UNRECORDED_NUMBER: u64 = 987_654_321_123;

#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq)]
enum Mode {
    Fast,
    Careful,
}

#[derive(Debug, PartialEq)]
struct FetchError {
    detail: String,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fetch failed: {}", self.detail)
    }
}

impl std::error::Error for FetchError {}

#[requires_telemetry(instrument, args(retries, dry_run, mode))]
fn fetch(url: &str, retries: u32, dry_run: bool, mode: Mode, secret: u64) -> Result<usize, FetchError> {
    let _ = secret;
    if dry_run {
        return Ok(0);
    }
    if url.contains("bad") {
        return Err(FetchError { detail: format!("{MESSAGE_CANARY} at {url} ({mode:?}, {retries})") });
    }
    Ok(url.len())
}

#[requires_telemetry(instrument)]
fn sum(text: &str) -> Result<u32, ParseIntError> {
    let mut total = 0;
    for part in text.split(',') {
        total += part.trim().parse::<u32>()?;
    }
    Ok(total)
}

#[requires_telemetry(instrument, name = "double_it")]
fn double(x: u32) -> u32 {
    x * 2
}

#[requires_telemetry(instrument)]
fn nothing() {}

#[requires_telemetry(instrument)]
fn find(items: &[u32], wanted: u32) -> Option<usize> {
    items.iter().position(|x| *x == wanted)
}

#[requires_telemetry(instrument)]
fn slow(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[requires_telemetry(instrument, full, args(n))]
fn full_only(n: u8) -> u8 {
    n
}

#[requires_telemetry(instrument, args(n))]
async fn fetch_async(n: u32) -> Result<u32, FetchError> {
    YieldOnce::default().await;
    if n == 0 {
        return Err(FetchError { detail: MESSAGE_CANARY.into() });
    }
    Ok(n + 1)
}

/// Calls every instrumented function and checks what they return: the same
/// with telemetry on or off.
fn call_all() {
    assert_eq!(fetch("https://ok.example", 1, false, Mode::Fast, UNRECORDED_NUMBER), Ok(18));
    assert_eq!(fetch(URL_CANARY, 0, true, Mode::Careful, UNRECORDED_NUMBER), Ok(0));
    let err = fetch(&format!("bad {URL_CANARY}"), 2, false, Mode::Careful, UNRECORDED_NUMBER).unwrap_err();
    assert!(err.detail.contains(MESSAGE_CANARY));
    assert_eq!(sum("1, 2,3"), Ok(6));
    assert_eq!(sum("1,x").unwrap_err().to_string(), "invalid digit found in string");
    assert_eq!(double(21), 42);
    nothing();
    assert_eq!(find(&[4, 5], 5), Some(1));
    assert_eq!(find(&[4, 5], 6), None);
    assert_eq!(full_only(7), 7);
    assert_eq!(block_on(fetch_async(1)), Ok(2));
    assert!(block_on(fetch_async(0)).is_err());
}

fn own_keys(event: &Json) -> BTreeSet<&str> {
    event["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('$'))
        .collect()
}

fn set(keys: &[&'static str]) -> BTreeSet<&'static str> {
    keys.iter().copied().collect()
}

/// What was delivered since the last call: parsed, and checked for canaries
/// in the raw JSON.
fn delivered(memory: &MemorySink) -> Vec<Json> {
    assert!(telemetry_runtime::global().unwrap().flush(SOON));
    check_no_canary(&memory.raw());
    let events = memory.events();
    memory.clear();
    events
}

fn check_events(events: &[Json], full: bool) {
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let mut expected = vec![
        "fetch",
        "fetch",
        "fetch",
        "sum",
        "sum",
        "double_it",
        "nothing",
        "find",
        "find",
        "fetch_async",
        "fetch_async",
    ];
    if full {
        expected.insert(9, "full_only");
    }
    assert_eq!(names, expected);
    let p = |i: usize| &events[i]["properties"];
    // Milliseconds to the microsecond: at most three decimals as sent.
    for event in events {
        let ms = event["properties"]["duration_ms"].to_string();
        let decimals = ms.split_once('.').map_or(0, |(_, fraction)| fraction.len());
        assert!(decimals <= 3 && ms.parse::<f64>().is_ok(), "duration_ms = {ms}");
    }

    // `fetch`: the named arguments, the outcome, and nothing else.
    let fetch_keys = set(&["duration_ms", "outcome", "retries", "dry_run", "mode"]);
    assert_eq!(own_keys(&events[0]), fetch_keys);
    assert_eq!(p(0)["outcome"], "ok");
    assert_eq!(p(0)["retries"], 1);
    assert_eq!(p(0)["dry_run"], false);
    assert_eq!(p(0)["mode"], "fast");
    assert!(p(0)["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    assert_eq!(p(1)["outcome"], "ok", "an early `return Ok(..)`");
    assert_eq!(p(1)["dry_run"], true);
    assert_eq!(p(1)["mode"], "careful");
    let mut error_keys = fetch_keys.clone();
    error_keys.insert("error_type");
    assert_eq!(own_keys(&events[2]), error_keys);
    assert_eq!(p(2)["outcome"], "error");
    assert_eq!(p(2)["error_type"], std::any::type_name::<FetchError>());
    assert!(p(2)["error_type"].as_str().unwrap().ends_with("FetchError"));

    // `sum`: `?` on an error is an error outcome with the error's type.
    assert_eq!(own_keys(&events[3]), set(&["duration_ms", "outcome"]));
    assert_eq!(p(3)["outcome"], "ok");
    assert_eq!(p(4)["outcome"], "error");
    assert_eq!(p(4)["error_type"], std::any::type_name::<ParseIntError>());

    // Plain values, `()` and `Option` are successes; nothing recorded but
    // the call itself.
    for i in [5, 6, 7, 8] {
        assert_eq!(own_keys(&events[i]), set(&["duration_ms", "outcome"]), "{}", events[i]);
        assert_eq!(p(i)["outcome"], "ok");
    }

    let offset = usize::from(full);
    if full {
        assert_eq!(own_keys(&events[9]), set(&["duration_ms", "outcome", "n"]));
        assert_eq!(p(9)["n"], 7);
    }
    let (ok, err) = (9 + offset, 10 + offset);
    assert_eq!(own_keys(&events[ok]), set(&["duration_ms", "outcome", "n"]));
    assert_eq!(p(ok)["outcome"], "ok");
    assert_eq!(p(ok)["n"], 1);
    assert_eq!(p(err)["outcome"], "error");
    assert_eq!(p(err)["error_type"], std::any::type_name::<FetchError>());
    assert_eq!(p(err)["n"], 0);
}

fn check_no_canary(memory_raw: &[String]) {
    let raw = memory_raw.concat();
    assert!(!raw.contains(MESSAGE_CANARY), "an error message was sent");
    assert!(!raw.contains("fetch failed"), "an error's Display was sent");
    assert!(!raw.contains("invalid digit"), "an error's Display was sent");
    assert!(!raw.contains(URL_CANARY), "an argument that `args` does not name was sent");
    assert!(!raw.contains(&UNRECORDED_NUMBER.to_string()), "an argument that `args` does not name was sent");
}

#[test]
fn instrumented_functions_record_calls_and_behave_unchanged() {
    child::isolated("macros_instrument::instrumented_functions_record_calls_and_behave_unchanged", || {
        // Before init: the functions run, nothing is recorded.
        call_all();

        let dir = tempfile::tempdir().unwrap();
        let memory = MemorySink::new();
        let guard = telemetry_runtime::init(
            Config::new("instrumenttest", "1.0.0")
                .consent(Level::Off)
                .environment(|_| None)
                .dirs(|d| telemetry_runtime::Dirs {
                    cache: Some(dir.path().join("cache")),
                    config: Some(dir.path().join("config")),
                    ..d
                })
                .sink(memory.clone()),
        )
        .expect("first init");

        // Off: the functions run, nothing is recorded.
        call_all();
        assert!(delivered(&memory).is_empty());

        // Usage: every call but the full-level one is recorded.
        telemetry_runtime::global().unwrap().set_consent(Level::Usage);
        call_all();
        check_events(&delivered(&memory), false);

        // Full: the full-level one too.
        telemetry_runtime::global().unwrap().set_consent(Level::Full);
        call_all();
        check_events(&delivered(&memory), true);

        // The duration is the call's.
        assert_eq!(slow(30), 30);
        let events = delivered(&memory);
        assert_eq!(events.len(), 1);
        let ms = events[0]["properties"]["duration_ms"].as_f64().unwrap();
        assert!((30.0..10_000.0).contains(&ms), "duration_ms = {ms}");

        // Off again: nothing.
        telemetry_runtime::global().unwrap().set_consent(Level::Off);
        call_all();
        assert!(delivered(&memory).is_empty());
        drop(guard);
    });
}
