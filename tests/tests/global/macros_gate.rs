//! `#[requires_telemetry]` (the gated form) against the global client: a
//! process of its own and one test,
//! because the global client can be initialised only once.

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{requires_telemetry, Config, Level, TelemetryEvent};
use telemetry_tests::{block_on, child, YieldOnce};

/// How many gated bodies ran (started running, for the panicking ones).
static RUNS: AtomicUsize = AtomicUsize::new(0);

fn runs() -> usize {
    RUNS.load(SeqCst)
}

fn ran() {
    RUNS.fetch_add(1, SeqCst);
}

/// Startup telemetry.
#[derive(TelemetryEvent)]
struct Started {
    plugins: u32,
}

#[requires_telemetry]
fn report_startup(plugins: u32) {
    ran();
    telemetry_runtime::capture(&Started { plugins });
}

#[requires_telemetry]
fn lookup(n: u32) -> Option<u32> {
    ran();
    if n == 0 {
        return None;
    }
    let parsed: u32 = n.to_string().parse().ok()?;
    Some(parsed * 2)
}

#[requires_telemetry(full)]
fn full_only() -> Option<&'static str> {
    ran();
    Some("full")
}

#[requires_telemetry]
fn panics_unit() {
    ran();
    panic!("gated unit body panicked");
}

#[requires_telemetry]
fn panics_option() -> Option<u32> {
    ran();
    let values: Vec<u32> = Vec::new();
    Some(values[3])
}

struct Service {
    calls: u32,
}

impl Service {
    #[requires_telemetry]
    fn record(&mut self) {
        ran();
        self.calls += 1;
    }

    #[requires_telemetry]
    fn calls(&self) -> Option<u32> {
        ran();
        Some(self.calls)
    }
}

#[requires_telemetry]
async fn async_lookup(n: u32) -> Option<u32> {
    YieldOnce::default().await;
    ran();
    Some(n + 1)
}

#[requires_telemetry]
async fn async_panics() -> Option<u32> {
    YieldOnce::default().await;
    ran();
    panic!("gated async body panicked after a suspension");
}

/// Calls every gated function once; returns what the value-returning ones
/// gave and how many bodies ran.
fn call_all(service: &mut Service) -> (Option<u32>, Option<&'static str>, Option<u32>, Option<u32>, usize) {
    let before = runs();
    report_startup(2);
    let looked_up = lookup(21);
    let full = full_only();
    service.record();
    let calls = service.calls();
    let async_value = block_on(async_lookup(1));
    (looked_up, full, calls, async_value, runs() - before)
}

#[test]
fn gated_functions_run_only_with_consent_and_contain_panics() {
    child::isolated("macros_gate::gated_functions_run_only_with_consent_and_contain_panics", || {
        // Panics inside gated bodies are expected below: record them quietly.
        let panics = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&panics);
        panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            seen.lock().unwrap().push(message);
        }));

        let mut service = Service { calls: 0 };

        // Before init: no body runs.
        assert_eq!(call_all(&mut service), (None, None, None, None, 0));
        panics_unit();
        assert_eq!(panics_option(), None);
        assert_eq!(runs(), 0);

        let dir = tempfile::tempdir().unwrap();
        let memory = MemorySink::new();
        let guard = telemetry_runtime::init(
            Config::new("gatetest", "1.0.0")
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

        // Consent off: still nothing runs.
        assert_eq!(call_all(&mut service), (None, None, None, None, 0));
        assert_eq!(service.calls, 0);

        // Usage: the usage-gated bodies run, unchanged; the full one does not.
        telemetry_runtime::global().unwrap().set_consent(Level::Usage);
        assert_eq!(call_all(&mut service), (Some(42), None, Some(1), Some(2), 5));
        assert_eq!(service.calls, 1);
        assert_eq!(lookup(0), None, "`return None` inside the body");
        assert!(telemetry_runtime::global().unwrap().flush(Duration::from_secs(10)));
        let events = memory.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["event"], "started");
        assert_eq!(events[0]["properties"]["plugins"], 2);

        // Full: every body runs.
        telemetry_runtime::global().unwrap().set_consent(Level::Full);
        assert_eq!(call_all(&mut service), (Some(42), Some("full"), Some(2), Some(2), 6));

        // A panic in a body stops there: the caller gets `()` or `None`, and
        // this test goes on.
        let before = runs();
        panics_unit();
        assert_eq!(panics_option(), None);
        assert_eq!(block_on(async_panics()), None);
        assert_eq!(runs() - before, 3, "each panicking body ran up to its panic");
        let messages = panics.lock().unwrap().clone();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].contains("gated unit body panicked"));
        assert!(messages[1].contains("index out of bounds"));
        assert!(messages[2].contains("gated async body panicked"));
        // The gated functions still work after a contained panic.
        assert_eq!(lookup(1), Some(2));

        // Off again: nothing runs.
        telemetry_runtime::global().unwrap().set_consent(Level::Off);
        assert_eq!(call_all(&mut service), (None, None, None, None, 0));

        let _ = panic::take_hook();
        drop(guard);
        // After shutdown: nothing runs.
        assert_eq!(call_all(&mut service), (None, None, None, None, 0));
    });
}
