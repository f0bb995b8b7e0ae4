//! The notice against catalog changes, counters across threads, debug and
//! local modes, the catalog digest on the wire, and the status report
//! (`cli::Status`) behind `telemetry status`.

use std::thread;
use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::OtlpSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Catalog, ConsentSource, Level, Route, Telemetry};
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
    static TOOL_CALLS = "tool_calls", labels: [status: CallStatus = ["ok", "error"]];
}

fn client_with_catalog(sandbox: &Sandbox, server: &TestServer, catalog: Catalog) -> Telemetry {
    Telemetry::new(
        sandbox
            .config()
            .notice(|n| telemetry_runtime::Notice { enabled: true, ..n })
            .catalog(catalog)
            .sink(posthog_sink(server))
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
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
    let config = sandbox
        .config()
        .notice(|n| telemetry_runtime::Notice { enabled: true, requires_terminal: true, ..n })
        .sink(posthog_sink(&server));
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
        .notice(|n| telemetry_runtime::Notice { enabled: true, ..n })
        .sink(posthog_sink(&server));
    let client = Telemetry::new(config).unwrap();
    assert_eq!(client.level(), Level::Usage);
    assert!(!sandbox.config_dir().join("telemetry_notice").exists());
}

#[test]
fn counters_aggregate_across_threads_into_one_event_per_series() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client = Telemetry::new(
        sandbox
            .config()
            .sink(memory.clone())
            .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(60), ..d }),
    )
    .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let client = client.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    let status = if (i + t) % 10 == 0 { CallStatus::Error } else { CallStatus::Ok };
                    client.add(&TOOL_CALLS, status, 1);
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
    client.add(&TOOL_CALLS, CallStatus::Ok, 1);
    assert!(client.flush(SOON));
    assert_eq!(memory.events().last().unwrap()["properties"]["count"], 1);
}

#[test]
fn counters_count_nothing_when_off() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client = Telemetry::new(sandbox.config().consent(Level::Off).sink(memory.clone())).unwrap();
    client.add(&TOOL_CALLS, CallStatus::Ok, 1);
    assert!(client.flush(SOON));
    assert!(memory.events().is_empty());
    assert!(sandbox.files().is_empty());
}

#[test]
fn debug_mode_replaces_every_sink_and_sends_nothing() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let client = Telemetry::new(
        sandbox
            .config()
            .delivery(|d| telemetry_runtime::Delivery { debug: true, ..d })
            .sink(posthog_sink(&server)),
    )
    .unwrap();
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
    assert_eq!(memory.events()[0]["properties"]["$catalog_digest"], digest);
    // The digest is the catalog's: the same for the same events, another
    // for more.
    let with =
        |schemas| Telemetry::new(sandbox.config().consent(Level::Off).catalog(Catalog::of(schemas))).unwrap();
    assert_eq!(Status::of(&with(vec![RUN.schema()])).catalog_digest, digest);
    assert_ne!(Status::of(&with(vec![RUN.schema(), STEP.schema()])).catalog_digest, digest);
}

/// What `telemetry status` prints, as `cli::Status` reports it.
fn printed_status(client: &Telemetry) -> String {
    let mut out = Vec::new();
    telemetry_runtime::cli::run_command(client, &["status"], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn the_status_report_names_the_files_and_sinks_that_status_prints() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client =
        Telemetry::new(sandbox.config().catalog(Catalog::of(vec![RUN.schema()])).sink(memory.clone()))
            .unwrap();
    client.capture_with(&RUN, Default::default());
    assert!(client.flush(SOON));

    let status = Status::of(&client);
    assert_eq!(status.consent, client.consent());
    assert_eq!(status.consent.source, ConsentSource::Default);
    assert_eq!(status.env_var, "TESTAPP_TELEMETRY");
    assert!(!status.debug && !status.local_only);
    assert_eq!(status.sink_names, ["memory"]);
    assert!(status.user_owned_sink_names.is_empty());
    assert_eq!(status.user_owned_level, Level::Off);
    assert_eq!(status.id_path, Some(sandbox.cache_dir().join("telemetry_user_id")));
    assert_eq!(status.consent_path, Some(sandbox.config_dir().join("telemetry_consent")));
    assert_eq!(status.recent_deliveries_path, Some(sandbox.data_dir().join("telemetry_recent.jsonl")));
    assert_eq!(status.local_events_path, Some(sandbox.data_dir().join("telemetry_events.jsonl")));
    assert_eq!(status.catalog_events, 1);
    assert_eq!(memory.events()[0]["properties"]["$catalog_digest"], status.catalog_digest);
    assert_eq!(status.stats, client.stats());
    assert_eq!(status.stats.sent, 1);

    let printed = printed_status(&client);
    for line in [
        "Telemetry: usage (decided by application default)".to_owned(),
        "Mode: sending to memory".to_owned(),
        format!("Anonymous id: {}\n", sandbox.cache_dir().join("telemetry_user_id").display()),
        format!("Saved choice: {} (not created)", sandbox.config_dir().join("telemetry_consent").display()),
        format!("Recently sent: {}", sandbox.data_dir().join("telemetry_recent.jsonl").display()),
        format!("Catalog: 1 events (digest {})", status.catalog_digest),
        "This run: 1 captured, 1 sent, 0 dropped".to_owned(),
        "Change it: set TESTAPP_TELEMETRY=off|on|full|local".to_owned(),
    ] {
        assert!(printed.contains(&line), "{line:?} not in:\n{printed}");
    }
}

#[test]
fn the_status_report_of_a_local_only_client() {
    let sandbox = Sandbox::new();
    let client = Telemetry::new(
        sandbox
            .config()
            .delivery(|d| telemetry_runtime::Delivery { local_only: true, recent_deliveries: 0, ..d })
            .sink(MemorySink::new()),
    )
    .unwrap();
    let status = Status::of(&client);
    let events = sandbox.data_dir().join("telemetry_events.jsonl");
    assert!(status.local_only);
    assert_eq!(status.local_events_path.as_ref(), Some(&events));
    assert_eq!(status.sink_names, [format!("jsonl:{}", events.display())], "the file replaces every sink");
    assert_eq!(status.recent_deliveries_path, None, "the record is off");
    let printed = printed_status(&client);
    assert!(
        printed.contains(&format!("Mode: local only: events are written to {}\n", events.display())),
        "{printed}"
    );
    assert!(!printed.contains("Recently sent"), "{printed}");
}

/// With telemetry off, `status` says that nothing is sent, not where it
/// would go; a variable whose value was not understood is named as such,
/// with a short value quoted and a long one (perhaps a key pasted there by
/// mistake) only counted.
#[test]
fn the_status_of_a_client_that_is_off_says_nothing_is_sent_and_why() {
    let sandbox = Sandbox::new();
    let on = Telemetry::new(sandbox.config().sink(MemorySink::new())).unwrap();
    let printed = printed_status(&on);
    assert!(
        printed.contains("Telemetry: usage (decided by application default)\nMode: sending to memory\n"),
        "{printed}"
    );

    on.save_consent(Some(Level::Off)).unwrap();
    let saved_off = Telemetry::new(sandbox.config().sink(MemorySink::new())).unwrap();
    let printed = printed_status(&saved_off);
    assert!(printed.contains("Telemetry: off (decided by saved choice in "), "{printed}");
    assert!(printed.contains("\nMode: off: nothing is collected or sent\n"), "{printed}");
    assert!(!printed.contains("sending"), "{printed}");

    let understood = Telemetry::new(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "off")])).unwrap();
    let printed = printed_status(&understood);
    assert!(
        printed.contains("Telemetry: off (decided by environment variable TESTAPP_TELEMETRY)\n"),
        "{printed}"
    );

    // The user's own collector still gets events: only the vendor's sinks are off.
    let own = OtlpSink::new("http://127.0.0.1:9").unwrap();
    let config = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "off")]).sink(MemorySink::new());
    let with_own = Telemetry::new(config.route(own, Route::default().owned_by_user())).unwrap();
    let printed = printed_status(&with_own);
    assert!(printed.contains("\nMode: off: nothing is sent to memory\nYour own collector: "), "{printed}");

    let typo =
        Telemetry::new(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "of")]).sink(MemorySink::new()))
            .unwrap();
    let printed = printed_status(&typo);
    assert!(
        printed.contains(
            "Telemetry: off (decided by environment variable TESTAPP_TELEMETRY, whose value \"of\" is not \
             understood and means off)\nMode: off: nothing is collected or sent\n"
        ),
        "{printed}"
    );
    let key = "phc_a_project_key_pasted_here_by_mistake";
    let pasted = Telemetry::new(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", key)])).unwrap();
    let printed = printed_status(&pasted);
    assert!(
        printed.contains(&format!(
            "whose value of {} characters (not shown) is not understood and means off",
            key.len()
        )),
        "{printed}"
    );
    assert!(!printed.contains("phc_"), "{printed}");
}

/// The catalog lists each counter label with the values it can take, in
/// Markdown and JSON: the declared closed set, nothing else. The type
/// column shows those values, not the name of their enum.
#[test]
fn the_catalog_lists_each_labels_values() {
    let catalog = Catalog::of(vec![TOOL_CALLS.schema()]);
    let markdown = catalog.to_markdown("mytool");
    assert!(
        markdown.contains("| `status` | one of `ok`, `error` | public | value | value |  |"),
        "{markdown}"
    );
    assert!(!markdown.contains("CallStatus"), "{markdown}");
    let json = telemetry_tests::catalog_json(catalog);
    let fields = json["events"][0]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 2, "the label and `count`: {fields:?}");
    assert_eq!(fields[0]["name"], "status");
    assert_eq!(fields[0]["values"], serde_json::json!(["ok", "error"]));
    assert!(fields[1].get("values").is_none(), "`count` is a number, not a closed set");
    assert_eq!(TOOL_CALLS.schema().fields.len(), 2, "the label, then `count`");
    assert_eq!(TOOL_CALLS.schema().fields[0].values, ["ok", "error"]);
}

/// Which subcommand ran.
#[derive(telemetry_runtime::TelemetryProperty)]
enum Subcmd {
    Count,
    Top,
}

/// How long something waited: a newtype over a duration.
#[derive(telemetry_runtime::TelemetryProperty)]
struct Latency(Duration);

/// A command ran.
#[derive(telemetry_runtime::TelemetryEvent)]
struct CommandRan {
    /// Which one.
    command: Subcmd,
    /// The ones before it.
    earlier: Vec<Subcmd>,
    /// How long it took.
    duration_ms: Duration,
    /// How long each try took.
    tries_ms: Vec<Duration>,
    /// How long it waited for a lock.
    waited_ms: Latency,
    /// How many words.
    words: u64,
}

/// The catalog and `telemetry preview` show what a reader needs: an enum's
/// values (`count`, `top`) rather than its name (`Subcmd`), and the unit
/// of a duration (milliseconds), however the duration's type is written.
#[test]
fn the_catalog_and_preview_show_an_enums_values_and_a_durations_unit() {
    let catalog = Catalog::of(vec![&<CommandRan as telemetry_runtime::TelemetryEvent>::SCHEMA]);
    let markdown = catalog.to_markdown("mytool");
    for row in [
        "| `command` | one of `count`, `top` | public | value | value | Which one. |",
        "| `earlier` | list, each one of `count`, `top` | public | value | value | The ones before it. |",
        "| `duration_ms` | `Duration` (ms) | public | value | value | How long it took. |",
        "| `tries_ms` | `Vec<Duration>` (ms) | public | value | value | How long each try took. |",
        "| `waited_ms` | `Latency` (ms) | public | value | value | How long it waited for a lock. |",
        "| `words` | `u64` | public | value | value | How many words. |",
    ] {
        assert!(markdown.contains(row), "{row:?} not in:\n{markdown}");
    }
    assert!(!markdown.contains("Subcmd"), "{markdown}");

    let json = telemetry_tests::catalog_json(catalog.clone());
    let fields = json["events"][0]["fields"].as_array().unwrap();
    let units: Vec<_> = fields.iter().map(|f| (f["name"].as_str().unwrap(), f.get("unit"))).collect();
    let ms = Some(&serde_json::json!("ms"));
    assert_eq!(
        units,
        [
            ("command", None),
            ("earlier", None),
            ("duration_ms", ms),
            ("tries_ms", ms),
            ("waited_ms", ms),
            ("words", None)
        ]
    );

    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let client = Telemetry::new(sandbox.config().catalog(catalog).sink(memory.clone())).unwrap();
    let mut out = Vec::new();
    telemetry_runtime::cli::run_command(&client, &["preview"], &mut out).unwrap();
    let preview = String::from_utf8(out).unwrap();
    for placeholder in [
        r#""command": "<count|top>""#,
        r#""earlier": "[<count|top>, ...]""#,
        r#""duration_ms": "<Duration, in ms>""#,
        r#""tries_ms": "<Vec<Duration>, in ms>""#,
        r#""waited_ms": "<Latency, in ms>""#,
        r#""words": "<u64>""#,
    ] {
        assert!(preview.contains(placeholder), "{placeholder} not in:\n{preview}");
    }
    assert!(!preview.contains("Subcmd"), "{preview}");

    // What the placeholders stand for, as sent.
    client.capture(&CommandRan {
        command: Subcmd::Count,
        earlier: vec![Subcmd::Top, Subcmd::Count],
        duration_ms: Duration::from_micros(1_500),
        tries_ms: vec![Duration::from_millis(2)],
        waited_ms: Latency(Duration::from_nanos(2_500)),
        words: 7,
    });
    assert!(client.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1);
    let sent = &events[0]["properties"];
    assert_eq!(
        [&sent["command"], &sent["earlier"], &sent["duration_ms"], &sent["tries_ms"], &sent["waited_ms"]],
        [
            &serde_json::json!("count"),
            &serde_json::json!(["top", "count"]),
            &serde_json::json!(1.5),
            &serde_json::json!([2.0]),
            &serde_json::json!(0.003)
        ]
    );
}
