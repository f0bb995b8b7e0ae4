//! The per-event debug lines under `telemetry_runtime::events`: each event
//! handed to a sink, with its JSON exactly as sent, only when the host's
//! logger enables that target, and never a redacted value.

use std::time::Duration;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Telemetry, TelemetryEvent};
use telemetry_tests::logs::{self, Line, EVENTS_LOG_TARGET};
use telemetry_tests::{child, posthog_sink, Sandbox, TestServer, SOON};

const SECRET: &str = "CANARY-event-log-secret-qz";

/// A search, with a redacted field.
#[derive(TelemetryEvent)]
struct LoggedSearch {
    /// Which search of the run: tells the tests' events apart.
    marker: u64,
    /// How many results.
    results: u32,
    /// Never on any wire, nor in any log.
    #[telemetry(redact)]
    token: String,
}

fn client(sandbox: &Sandbox, server: &TestServer, memory: &MemorySink) -> Telemetry {
    let config = sandbox
        .config()
        .consent(Level::Full)
        .sink(posthog_sink(server))
        .sink(memory.clone())
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d });
    Telemetry::new(config).unwrap()
}

/// The JSON of our target's lines that mention `marker`.
fn logged(lines: &[Line], marker: u64) -> Vec<(String, String)> {
    let needle = format!("\"marker\":{marker}");
    lines
        .iter()
        .filter(|l| l.target == EVENTS_LOG_TARGET && l.message.contains(&needle))
        .map(|l| {
            assert_eq!(l.level, log::Level::Debug, "{l:?}");
            let (head, json) = l.message.split_once(": {").expect("`Sending <event> to <sink>: <json>`");
            (head.to_owned(), format!("{{{json}"))
        })
        .collect()
}

#[test]
fn each_event_sent_is_logged_with_its_json_as_sent() {
    logs::install();
    logs::set_target_enabled(EVENTS_LOG_TARGET, true);
    let sandbox = Sandbox::new();
    let (server, memory) = (TestServer::start(), MemorySink::new());
    let telemetry = client(&sandbox, &server, &memory);
    for (marker, results) in [(91_000_001, 3), (91_000_002, 0)] {
        telemetry.capture(&LoggedSearch { marker, results, token: SECRET.into() });
    }
    assert!(telemetry.flush(SOON));

    let lines = logs::lines();
    for (index, marker) in [91_000_001u64, 91_000_002].into_iter().enumerate() {
        let logged = logged(&lines, marker);
        // One line for each sink it was handed to.
        assert_eq!(logged.len(), 2, "{logged:?}");
        let sinks: Vec<&str> = logged.iter().map(|(head, _)| head.as_str()).collect();
        assert!(sinks.iter().all(|h| h.starts_with("Sending logged_search to ")), "{sinks:?}");
        assert!(sinks.iter().any(|h| h.ends_with(" to memory")), "{sinks:?}");
        // Byte for byte what the memory sink holds, and what the server got.
        for (_, json) in &logged {
            assert_eq!(json, &memory.raw()[index]);
        }
        let on_the_wire = &server.accepted_events()[index];
        assert_eq!(&serde_json::from_str::<serde_json::Value>(&logged[0].1).unwrap(), on_the_wire);
    }
    for line in logs::lines() {
        assert!(!line.message.contains(SECRET), "a redacted value was logged: {line:?}");
    }
}

/// In a process of its own: the target is switched off for the whole
/// process, and the other tests read its lines.
#[test]
fn a_disabled_target_gets_nothing_and_costs_no_formatting() {
    child::isolated("event_log::a_disabled_target_gets_nothing_and_costs_no_formatting", || {
        logs::install();
        logs::set_target_enabled(EVENTS_LOG_TARGET, false);
        let sandbox = Sandbox::new();
        let (server, memory) = (TestServer::start(), MemorySink::new());
        let telemetry = client(&sandbox, &server, &memory);
        telemetry.capture(&LoggedSearch { marker: 92_000_001, results: 1, token: SECRET.into() });
        assert!(telemetry.flush(SOON));
        // Control: a record logged to the disabled target lands among the
        // suppressed ones.
        log::debug!(target: EVENTS_LOG_TARGET, "control 92000001");
        logs::set_target_enabled(EVENTS_LOG_TARGET, true);

        assert_eq!(memory.events().len(), 1, "the event was sent");
        assert!(logged(&logs::lines(), 92_000_001).is_empty());
        // Not even handed to the logger to be filtered out: the control alone.
        let suppressed: Vec<String> = logs::suppressed()
            .into_iter()
            .filter(|l| l.target == EVENTS_LOG_TARGET)
            .map(|l| l.message)
            .collect();
        assert_eq!(suppressed, ["control 92000001"]);
    });
}
