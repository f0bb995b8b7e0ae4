//! The global facade, in a process of its own and in one test, because the
//! global client can be set only once.

use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{ConfigErrorKind, Level, Properties, TelemetryEvent, VersionChange};
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
        assert_eq!(telemetry_runtime::global().map_or(Level::Off, |t| t.level()), Level::Off);
        assert!(telemetry_runtime::global().is_none());
        telemetry_runtime::capture(&PING);
        telemetry_runtime::capture_with(&BEFORE_INIT, Properties::new());
        GLOBAL_CALLS.add(Via::BeforeInit, 1);
        GLOBAL_CALLS.add(Via::BeforeInit, 2);

        let sandbox = Sandbox::new();
        // A refused configuration installs nothing.
        let bad =
            telemetry_runtime::init(telemetry_runtime::Config::new("bad name", "1").environment(|_| None));
        assert!(matches!(bad, Err(ref e) if e.kind() == ConfigErrorKind::AppName));
        assert!(telemetry_runtime::global().is_none());

        let memory = MemorySink::new();
        let config = sandbox.config().sink(memory.clone()).delivery(telemetry_tests::on_flush);
        let guard = telemetry_runtime::init(config).expect("first init");
        assert!(telemetry_runtime::is_enabled());
        assert_eq!(telemetry_runtime::global().map_or(Level::Off, |t| t.level()), Level::Usage);
        assert!(telemetry_runtime::global().is_some());
        assert_eq!(guard.level(), Level::Usage);
        assert_eq!(
            telemetry_runtime::global().and_then(|t| t.version_change()),
            Some(VersionChange::FirstRun)
        );

        let second = telemetry_runtime::init(sandbox.config().default_level(Level::Full));
        assert!(matches!(second, Err(ref e) if e.kind() == ConfigErrorKind::AlreadyInitialized));
        assert_eq!(
            telemetry_runtime::global().map_or(Level::Off, |t| t.level()),
            Level::Usage,
            "a refused init changes nothing"
        );

        telemetry_runtime::capture(&PING);
        telemetry_runtime::capture_with(&AFTER_INIT, Properties::new());
        assert!(telemetry_runtime::global().unwrap().flush(SOON));
        assert_eq!(event_names(&memory), ["ping", "after_init"], "nothing from before init");
        assert_eq!(memory.events()[0]["properties"]["typed"], true);
        assert_eq!(telemetry_runtime::global().map(|t| t.stats()).unwrap_or_default().sent, 2);

        // Declared counters count on the global client, by either call.
        GLOBAL_CALLS.add(Via::FreeFunction, 1);
        GLOBAL_CALLS.add(Via::CounterMethod, 2);
        GLOBAL_CALLS.add(Via::CounterMethod, 1);
        assert!(telemetry_runtime::global().unwrap().flush(SOON));
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
        telemetry_runtime::global().unwrap().set_consent(Level::Off);
        assert!(!telemetry_runtime::is_enabled());
        telemetry_runtime::capture_with(&WHILE_OFF, Properties::new());
        assert_eq!(telemetry_runtime::global().and_then(|t| t.version_change()), None);
        telemetry_runtime::global().unwrap().set_consent(Level::Usage);
        assert!(telemetry_runtime::is_enabled());

        // Dropping the guard shuts down; later captures are ignored.
        drop(guard);
        assert!(!telemetry_runtime::is_enabled());
        let stats = telemetry_runtime::global().map(|t| t.stats()).unwrap_or_default();
        telemetry_runtime::capture_with(&AFTER_SHUTDOWN, Properties::new());
        telemetry_runtime::capture(&PING);
        assert!(telemetry_runtime::global().unwrap().flush(Duration::from_millis(100)));
        assert_eq!(telemetry_runtime::global().map(|t| t.stats()).unwrap_or_default(), stats);
        assert!(!event_names(&memory).iter().any(|n| n == "after_shutdown"));
        assert!(telemetry_runtime::global().unwrap().shutdown(Duration::from_millis(100)));
        assert!(
            matches!(telemetry_runtime::init(sandbox.config()), Err(ref e) if e.kind() == ConfigErrorKind::AlreadyInitialized)
        );
        assert!(!telemetry_runtime::is_enabled(), "a refused init does not switch a shut-down client on");
    });
}
