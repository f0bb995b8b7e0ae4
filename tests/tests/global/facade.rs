//! The global facade, in a process of its own and in one test, because the
//! global client can be set only once.

use std::time::Duration;

use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{InitError, Level, Properties, Stats, TelemetryEvent, VersionChange};
use telemetry_tests::{child, Sandbox, SOON};

telemetry_runtime::counter! {
    /// Calls counted through the global client, by how they were counted.
    static GLOBAL_CALLS = "global_calls", labels: [via: Via = ["before_init", "free_function", "counter_method"]];
}

telemetry_runtime::event! {
    /// Captured before init: never sent.
    static BEFORE_INIT = "before_init" {}
}

telemetry_runtime::event! {
    /// Captured once the global client is installed.
    static AFTER_INIT = "after_init" {}
}

telemetry_runtime::event! {
    /// Captured while consent is off: never sent.
    static WHILE_OFF = "while_off" {}
}

telemetry_runtime::event! {
    /// Captured after shutdown: never sent.
    static AFTER_SHUTDOWN = "after_shutdown" {}
}

/// A typed event.
#[derive(TelemetryEvent)]
struct Ping {
    /// Always true: it came through the typed API.
    typed: bool,
}

const PING: Ping = Ping { typed: true };

fn event_names(memory: &MemorySink) -> Vec<String> {
    memory.events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn global_lifecycle() {
    child::isolated("facade::global_lifecycle", || {
        // Before init: every call is a harmless no-op.
        assert!(!telemetry_runtime::is_enabled());
        assert_eq!(telemetry_runtime::level(), Level::Off);
        assert!(telemetry_runtime::global().is_none());
        telemetry_runtime::capture(&PING);
        telemetry_runtime::capture_with(&BEFORE_INIT, Properties::new());
        telemetry_runtime::increment(&GLOBAL_CALLS, Via::BeforeInit);
        GLOBAL_CALLS.add(Via::BeforeInit, 2);
        telemetry_runtime::set_consent(Level::Full);
        telemetry_runtime::persist_consent(Level::Full).unwrap();
        telemetry_runtime::reset_identity().unwrap();
        assert_eq!(telemetry_runtime::version_change(), None);
        assert!(telemetry_runtime::flush(Duration::from_millis(10)));
        assert_eq!(telemetry_runtime::stats(), Stats::default());
        assert!(!telemetry_runtime::is_enabled(), "set_consent before init does not turn anything on");

        let sandbox = Sandbox::new();
        // A refused configuration installs nothing.
        let bad =
            telemetry_runtime::init(telemetry_runtime::Config::new("bad name", "1").environment(|_| None));
        assert!(matches!(bad, Err(InitError::Config(_))));
        assert!(telemetry_runtime::global().is_none());

        let memory = MemorySink::new();
        let config = sandbox.config().sink(memory.clone()).flush_interval(Duration::from_secs(120));
        let guard = telemetry_runtime::init(config).expect("first init");
        assert!(telemetry_runtime::is_enabled());
        assert_eq!(telemetry_runtime::level(), Level::Usage);
        assert!(telemetry_runtime::global().is_some());
        assert_eq!(guard.client().level(), Level::Usage);
        assert_eq!(telemetry_runtime::version_change(), Some(VersionChange::FirstRun));

        let second = telemetry_runtime::init(sandbox.config().default_level(Level::Full));
        assert!(matches!(second, Err(InitError::AlreadyInitialized)));
        assert_eq!(telemetry_runtime::level(), Level::Usage, "a refused init changes nothing");

        telemetry_runtime::capture(&PING);
        telemetry_runtime::capture_with(&AFTER_INIT, Properties::new());
        assert!(telemetry_runtime::flush(SOON));
        assert_eq!(event_names(&memory), ["ping", "after_init"], "nothing from before init");
        assert_eq!(memory.events()[0]["properties"]["typed"], true);
        assert_eq!(telemetry_runtime::stats().sent, 2);

        // Declared counters count on the global client, by either call.
        telemetry_runtime::increment(&GLOBAL_CALLS, Via::FreeFunction);
        GLOBAL_CALLS.add(Via::CounterMethod, 2);
        GLOBAL_CALLS.increment(Via::CounterMethod);
        assert!(telemetry_runtime::flush(SOON));
        let mut counted: Vec<(String, u64)> = memory
            .events()
            .iter()
            .filter(|e| e["event"] == "global_calls")
            .map(|e| {
                (
                    e["properties"]["via"].as_str().unwrap().to_owned(),
                    e["properties"]["count"].as_u64().unwrap(),
                )
            })
            .collect();
        counted.sort();
        assert_eq!(counted, [("counter_method".to_owned(), 3), ("free_function".to_owned(), 1)]);

        // The global switch follows set_consent.
        telemetry_runtime::set_consent(Level::Off);
        assert!(!telemetry_runtime::is_enabled());
        telemetry_runtime::capture_with(&WHILE_OFF, Properties::new());
        assert_eq!(telemetry_runtime::version_change(), None);
        telemetry_runtime::set_consent(Level::Usage);
        assert!(telemetry_runtime::is_enabled());

        // Dropping the guard shuts down; later captures are ignored.
        drop(guard);
        assert!(!telemetry_runtime::is_enabled());
        let stats = telemetry_runtime::stats();
        telemetry_runtime::capture_with(&AFTER_SHUTDOWN, Properties::new());
        telemetry_runtime::capture(&PING);
        assert!(telemetry_runtime::flush(Duration::from_millis(100)));
        assert_eq!(telemetry_runtime::stats(), stats);
        assert!(!event_names(&memory).iter().any(|n| n == "after_shutdown"));
        assert!(telemetry_runtime::shutdown(Duration::from_millis(100)));
        assert!(matches!(telemetry_runtime::init(sandbox.config()), Err(InitError::AlreadyInitialized)));
        assert!(!telemetry_runtime::is_enabled(), "a refused init does not switch a shut-down client on");
    });
}
