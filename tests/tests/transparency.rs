//! The notice against catalog changes, counters across threads, debug and
//! local modes, and the catalog digest on the wire.

use std::thread;
use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{Catalog, ConsentSource, Level, Telemetry};
use telemetry_tests::{posthog_sink, Sandbox, TestServer};

const SOON: Duration = Duration::from_secs(5);

telemetry_runtime::event! {
    /// A run: an event of the first catalog.
    static RUN = "run" {}
}

telemetry_runtime::event! {
    /// A step: the event a later version adds to the catalog.
    static STEP = "step" {}
}

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static TOOL_CALLS = "tool_calls", labels: [status];
}

fn client_with_catalog(sandbox: &Sandbox, server: &TestServer, catalog: Catalog) -> Telemetry {
    Telemetry::new(
        sandbox
            .config()
            .first_run_notice(true)
            .catalog(catalog)
            .sink(posthog_sink(server))
            .flush_interval(Duration::from_secs(60)),
    )
    .unwrap()
}

#[test]
fn the_notice_returns_when_the_catalog_gains_an_event() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let first = client_with_catalog(&sandbox, &server, Catalog::of(vec![RUN.schema()]));
    assert_eq!(first.consent().source, ConsentSource::NoticePending);
    assert!(!first.is_enabled());
    first.capture_with(&RUN, Default::default());
    assert!(first.flush(SOON));

    let second = client_with_catalog(&sandbox, &server, Catalog::of(vec![RUN.schema()]));
    assert_eq!((second.level(), second.consent().source), (Level::Usage, ConsentSource::Default));
    second.capture_with(&RUN, Default::default());
    assert!(second.flush(SOON));
    assert_eq!(server.accepted_events().len(), 1, "only the second run sends");

    let grown = client_with_catalog(&sandbox, &server, Catalog::of(vec![RUN.schema(), STEP.schema()]));
    assert_eq!(grown.consent().source, ConsentSource::NoticePending, "a new event needs a new notice");
    grown.capture_with(&STEP, Default::default());
    assert!(grown.flush(SOON));
    assert_eq!(server.accepted_events().len(), 1, "nothing sent in the run that showed the notice again");

    let shrunk = client_with_catalog(&sandbox, &server, Catalog::of(vec![STEP.schema()]));
    assert_eq!(shrunk.consent().source, ConsentSource::Default, "a smaller catalog needs no notice");
}

#[test]
fn the_notice_waits_for_a_terminal_when_asked() {
    // Test processes have no terminal on stderr under `cargo test` capture
    // only sometimes, so compare with what stderr really is.
    use std::io::IsTerminal;
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let config =
        sandbox.config().first_run_notice(true).notice_requires_terminal(true).sink(posthog_sink(&server));
    let client = Telemetry::new(config).unwrap();
    assert_eq!(client.consent().source, ConsentSource::NoticePending);
    let recorded = sandbox.config_dir().join("telemetry_notice").exists();
    assert_eq!(recorded, std::io::stderr().is_terminal(), "the notice counts as shown only on a terminal");
}

#[test]
fn explicit_and_user_choices_need_no_notice() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let config = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY", "on")])
        .first_run_notice(true)
        .sink(posthog_sink(&server));
    let client = Telemetry::new(config).unwrap();
    assert_eq!(client.level(), Level::Usage);
    assert!(!sandbox.config_dir().join("telemetry_notice").exists());
}

#[test]
fn counters_aggregate_across_threads_into_one_event_per_series() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client =
        Telemetry::new(sandbox.config().sink(memory.clone()).flush_interval(Duration::from_secs(60)))
            .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    let status = if (i + t) % 10 == 0 { "error" } else { "ok" };
                    client.increment(&TOOL_CALLS, [status]);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(client.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let count = |status: &str| {
        events.iter().find(|e| e["properties"]["status"] == status).unwrap()["properties"]["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("ok") + count("error"), 8000);
    assert_eq!(count("error"), 800);
    assert!(events.iter().all(|e| e["event"] == "tool_calls"));

    // Counted again after a flush: a new interval starts from zero.
    client.increment(&TOOL_CALLS, ["ok"]);
    assert!(client.flush(SOON));
    assert_eq!(memory.events().last().unwrap()["properties"]["count"], 1);
}

#[test]
fn counters_count_nothing_when_off() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client = Telemetry::new(sandbox.config().consent(Level::Off).sink(memory.clone())).unwrap();
    client.increment(&TOOL_CALLS, ["ok"]);
    assert!(client.flush(SOON));
    assert!(memory.events().is_empty());
    assert!(sandbox.files().is_empty());
}

#[test]
fn debug_mode_replaces_every_sink_and_sends_nothing() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let client = Telemetry::new(sandbox.config().debug(true).sink(posthog_sink(&server))).unwrap();
    let status = Status::of(&client);
    assert!(status.debug);
    assert_eq!(status.sink_names, ["stderr"]);
    client.capture_with(&RUN, Default::default());
    assert!(client.flush(SOON));
    assert_eq!(client.stats().sent, 1, "printed");
    assert_eq!(server.connections(), 0);

    let from_env = Telemetry::new(
        sandbox.config_with_env(&[("TESTAPP_TELEMETRY_DEBUG", "1")]).sink(posthog_sink(&server)),
    )
    .unwrap();
    assert!(Status::of(&from_env).debug);
}

#[test]
fn every_event_carries_the_catalog_digest() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client =
        Telemetry::new(sandbox.config().catalog(Catalog::of(vec![RUN.schema()])).sink(memory.clone()))
            .unwrap();
    client.capture_with(&RUN, Default::default());
    assert!(client.flush(SOON));
    let digest = Status::of(&client).catalog_digest;
    assert_eq!(digest, Catalog::of(vec![RUN.schema()]).digest());
    assert_eq!(digest, client.catalog().digest());
    assert_eq!(memory.events()[0]["properties"]["$catalog_digest"], digest);
}
