//! The spool across runs and processes: a batch goes back to the sink and
//! route it was written for and nowhere else, what was delivered is not sent
//! again, two processes never send one file both, and a crash between
//! delivery and deletion sends the events again with the same uuids (the
//! receiver de-duplicates them).
//!
//! A "run" is a client that ends (it is dropped) before the next starts on
//! the same directories; where a process must end or run beside another,
//! the test runs itself as a child process (`telemetry_tests::child`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{Config, DropReason, Level, Properties, Route, Telemetry, TelemetryEvent};
use telemetry_tests::canary::Canary;
use telemetry_tests::{child, wait_until, Behaviour, Gate, Sandbox, TestServer, SOON};

/// The user's own project: everything the user consented to.
const USER_KEY: &str = "phc_user_project_full";
/// The vendor's project: anonymous counters at `Usage`, nothing else.
const VENDOR_KEY: &str = "phc_vendor_project_counts";

/// Where a child finds the parent's directories and server.
const DIR_ENV: &str = "SPOOL_ROUTES_DIR";
const URL_ENV: &str = "SPOOL_ROUTES_URL";
/// The file that tells the crashing child to die.
const CRASH_NOW: &str = "crash-now";

telemetry_runtime::counter! {
    /// Commands run, by outcome.
    static COMMANDS = "commands", labels: [status: Status = ["ok"]];
}

telemetry_runtime::event! {
    /// One unit of work.
    static WORK = "work" {
        /// Its number.
        i: u64,
    }
}

/// A question the user asked.
#[derive(TelemetryEvent)]
struct Asked {
    /// How many words it had.
    words: u32,
    /// The question itself: only at full consent, and only to the user's
    /// own project.
    #[telemetry(opt_in)]
    question: String,
}

/// A PostHog sink for `server` with project key `key`, fast and without
/// retries (a failed request is given up on at once).
fn posthog(server_url: &str, key: &str) -> PostHogSink {
    PostHogSink::new(key)
        .and_then(|sink| sink.host(server_url))
        .expect("valid PostHog sink")
        .http(telemetry_tests::fast)
        .http(|h| telemetry_runtime::sink::HttpOptions { max_retries: 0, ..h })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

fn spool_dir(dir: &Path) -> PathBuf {
    dir.join("cache").join("telemetry_spool")
}

fn spool_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(spool_dir(dir))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// How many times each uuid was accepted, for the uuids seen more than once.
fn repeated(uuids: &[String]) -> BTreeMap<&str, usize> {
    let mut seen = BTreeMap::new();
    for uuid in uuids {
        *seen.entry(uuid.as_str()).or_insert(0) += 1;
    }
    seen.retain(|_, n| *n > 1);
    seen
}

/// Both projects on one host, the vendor's listed first: the two sinks
/// differ only by key and route.
fn two_projects(dir: &Path, server_url: &str) -> Config {
    Sandbox::spooling_config_in(dir)
        .consent(Level::Full)
        .route(posthog(server_url, VENDOR_KEY), Route::counters_only().max_level(Level::Usage))
        .route(posthog(server_url, USER_KEY), Route::default())
}

#[test]
fn a_replayed_batch_goes_only_to_the_sink_and_route_it_was_written_for() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let canary = Canary::new("question");
    server.down();
    {
        let telemetry = Telemetry::new(two_projects(sandbox.path(), &server.url())).unwrap();
        telemetry.capture(&Asked { words: 7, question: canary.text() });
        telemetry.add(&COMMANDS, Status::Ok, 1);
        assert!(!telemetry.flush(SOON), "the host is down");
    }
    assert_eq!(spool_files(sandbox.path()).len(), 2, "one batch per project");
    for file in spool_files(sandbox.path()) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(USER_KEY) && !text.contains(VENDOR_KEY), "an API key in {}", file.display());
    }

    server.up();
    let telemetry = Telemetry::new(two_projects(sandbox.path(), &server.url())).unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "the spool is replayed");
    assert!(telemetry.flush(SOON));
    let mut vendor = Vec::new();
    let mut user = Vec::new();
    for request in server.requests().iter().filter(|r| r.accepted()) {
        assert!(
            request.json()["api_key"] != VENDOR_KEY || !canary.found_in(&request.decoded_body()),
            "the user's question reached the vendor's counters-only project after a replay"
        );
        match request.json()["api_key"].as_str() {
            Some(VENDOR_KEY) => vendor.extend(request.events()),
            Some(USER_KEY) => user.extend(request.events()),
            other => panic!("a request for {other:?}"),
        }
    }
    let names = |events: &[serde_json::Value]| {
        let mut names: Vec<String> = events.iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&vendor), ["commands"], "the vendor gets the counter alone");
    assert_eq!(names(&user), ["asked", "commands"], "the user's project gets everything, once");
    let question = user.iter().find(|e| e["event"] == "asked").unwrap();
    assert!(canary.found_in_text(&question.to_string()), "the question reached the user's project");
}

#[test]
fn a_batch_whose_sink_is_no_longer_configured_is_deleted_unsent() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    server.down();
    {
        let telemetry = Telemetry::new(
            Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), USER_KEY)),
        )
        .unwrap();
        telemetry.capture_with(&WORK, Properties::new().with("i", 1u32));
        assert!(!telemetry.flush(SOON), "the host is down");
    }
    assert_eq!(spool_files(sandbox.path()).len(), 1);
    server.up();
    // The next version of the program sends to another project on the
    // same host: the batch is not the new project's to receive.
    let telemetry =
        Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), VENDOR_KEY)))
            .unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "the batch is deleted");
    assert!(!telemetry.flush(SOON), "the batch was given up on");
    assert!(server.requests().is_empty(), "the batch was sent to another sink");
    assert_eq!(telemetry.stats().dropped(DropReason::Undeliverable), 1);
}

#[test]
fn a_replay_sends_nothing_above_the_consent_in_force_now() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let canary = Canary::new("question");
    server.down();
    {
        let telemetry = Telemetry::new(two_projects(sandbox.path(), &server.url())).unwrap();
        telemetry.capture(&Asked { words: 7, question: canary.text() });
        telemetry.capture_with(&WORK, Properties::new().with("i", 1u32));
        assert!(!telemetry.flush(SOON), "the host is down");
    }
    server.up();
    // The user lowered consent to `Usage` between the runs.
    let telemetry =
        Telemetry::new(two_projects(sandbox.path(), &server.url()).consent(Level::Usage)).unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "the spool is replayed");
    let _ = telemetry.flush(SOON);
    assert!(!server.received(canary.text().as_bytes()), "opt-in data sent after consent was lowered");
    let names: Vec<String> =
        server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["work"], "only what `Usage` allows");
    assert_eq!(telemetry.stats().dropped(DropReason::ConsentWithdrawn), 1);
}

#[test]
fn what_was_delivered_of_a_split_batch_is_not_sent_again() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    // The batch is too large: its first half is delivered, its second half
    // finds the endpoint unavailable and waits for the next run.
    server.script([Behaviour::Status(413), Behaviour::Status(200), Behaviour::Status(503)]);
    let config = || Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), USER_KEY));
    {
        let telemetry = Telemetry::new(config()).unwrap();
        for i in 0..6u32 {
            telemetry.capture_with(&WORK, Properties::new().with("i", i));
        }
        assert!(!telemetry.flush(SOON), "half the batch was not delivered");
    }
    assert_eq!(server.accepted_uuids().len(), 3);
    assert_eq!(spool_files(sandbox.path()).len(), 1, "the rest waits for the next run");

    let telemetry = Telemetry::new(config()).unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "the spool is replayed");
    assert!(telemetry.flush(SOON));
    let uuids = server.accepted_uuids();
    assert_eq!(repeated(&uuids), BTreeMap::new(), "delivered events were sent again");
    assert_eq!(uuids.len(), 6, "every event arrives");
}

/// Fills the spool of `dir` with `n` batches of one event each, the
/// endpoint being down.
fn fill_spool(dir: &Path, server: &TestServer, n: u32) {
    server.down();
    let telemetry = Telemetry::new(
        Sandbox::spooling_config_in(dir)
            .sink(posthog(&server.url(), USER_KEY))
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 1, max_batch_size: 1, ..d }),
    )
    .unwrap();
    for i in 0..n {
        telemetry.capture_with(&WORK, Properties::new().with("i", i));
    }
    assert!(!telemetry.flush(SOON), "the endpoint is down");
    drop(telemetry);
    assert_eq!(spool_files(dir).len(), n as usize);
    server.up();
}

/// The child's part of the tests below: a run of the program on the
/// parent's directories that replays the spool, waits until the spool is
/// empty (or `hold` passes), and exits.
fn replaying_child(hold: Duration) {
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("the parent's directory"));
    let url = std::env::var(URL_ENV).expect("the parent's server");
    let telemetry = Telemetry::new(Sandbox::spooling_config_in(&dir).sink(posthog(&url, USER_KEY))).unwrap();
    let emptied = wait_until(hold, || spool_files(&dir).is_empty());
    child::report("emptied", emptied);
    let _ = telemetry.shutdown(Duration::from_secs(5));
}

fn run_child(test: &str, mode: &str, dir: &Path, server: &TestServer) -> child::Output {
    let envs = [(DIR_ENV, &*child::os(dir)), (URL_ENV, &*child::os(server.url()))];
    child::run(test, mode, &envs, Duration::from_secs(60))
}

#[test]
fn two_processes_replaying_one_spool_send_each_event_once() {
    if child::mode().is_some() {
        return replaying_child(Duration::from_secs(30));
    }
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    fill_spool(sandbox.path(), &server, 6);
    // Each process's first request is held until both have sent one: had
    // they both taken the same file, both would be in the same request.
    let gate = Gate::new();
    server.set_default(Behaviour::Gate(gate.clone()));
    let outputs = std::thread::scope(|scope| {
        let children: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    run_child(
                        "spool_routes::two_processes_replaying_one_spool_send_each_event_once",
                        "replay",
                        sandbox.path(),
                        &server,
                    )
                })
            })
            .collect();
        let both = server.wait_for_requests(2, SOON);
        std::thread::sleep(Duration::from_millis(200));
        gate.open();
        assert!(both, "each process sent a request");
        children.into_iter().map(|c| c.join().unwrap()).collect::<Vec<_>>()
    });
    for output in &outputs {
        assert!(output.success(), "{output:?}");
    }
    assert!(spool_files(sandbox.path()).is_empty(), "{:?}", spool_files(sandbox.path()));
    let uuids = server.accepted_uuids();
    assert_eq!(repeated(&uuids), BTreeMap::new(), "a batch was sent by both processes");
    assert_eq!(uuids.len(), 6, "every event arrives");
}

#[test]
fn a_batch_in_flight_is_not_replayed_by_another_process() {
    if child::mode().is_some() {
        return replaying_child(Duration::from_secs(1));
    }
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let gate = Gate::new();
    server.set_default(Behaviour::Gate(gate.clone()));
    let telemetry =
        Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), USER_KEY)))
            .unwrap();
    for i in 0..3u32 {
        telemetry.capture_with(&WORK, Properties::new().with("i", i));
    }
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "this process is sending its batch");
    assert_eq!(spool_files(sandbox.path()).len(), 1, "the batch in flight is spooled");

    // Another run of the program starts while the batch is in flight.
    let output = run_child(
        "spool_routes::a_batch_in_flight_is_not_replayed_by_another_process",
        "replay",
        sandbox.path(),
        &server,
    );
    assert!(output.success(), "{output:?}");
    gate.open();
    assert!(telemetry.flush(SOON));
    let uuids = server.accepted_uuids();
    assert_eq!(repeated(&uuids), BTreeMap::new(), "the other process sent the batch in flight");
    assert_eq!(uuids.len(), 3);
    assert!(spool_files(sandbox.path()).is_empty());
}

#[test]
fn a_crash_between_delivery_and_deletion_sends_the_events_again_with_the_same_uuids() {
    if let Some(mode) = child::mode() {
        assert_eq!(mode, "crash");
        let dir = PathBuf::from(std::env::var_os(DIR_ENV).unwrap());
        let url = std::env::var(URL_ENV).unwrap();
        let telemetry =
            Telemetry::new(Sandbox::spooling_config_in(&dir).sink(posthog(&url, USER_KEY))).unwrap();
        for i in 0..3u32 {
            telemetry.capture_with(&WORK, Properties::new().with("i", i));
        }
        let _ = telemetry.flush(Duration::ZERO);
        // The server holds the answer: once the parent has seen the request
        // arrive, the batch is on the wire, not yet acknowledged, and the
        // process dies.
        let go = wait_until(Duration::from_secs(30), || dir.join(CRASH_NOW).exists());
        child::report("crashing", go);
        std::process::exit(0);
    }
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let gate = Gate::new();
    server.set_default(Behaviour::Gate(gate.clone()));
    let output = std::thread::scope(|scope| {
        let child = scope.spawn(|| {
            run_child(
                "spool_routes::a_crash_between_delivery_and_deletion_sends_the_events_again_with_the_same_uuids",
                "crash",
                sandbox.path(),
                &server,
            )
        });
        let sent = server.wait_for_requests(1, SOON);
        std::fs::write(sandbox.path().join(CRASH_NOW), "").unwrap();
        assert!(sent, "the child sent its batch");
        child.join().unwrap()
    });
    assert_eq!(output.value("crashing"), Some("true"), "{output:?}");
    assert_eq!(server.requests().len(), 1, "the batch reached the server whole");
    assert!(server.requests()[0].complete);
    // The server takes the batch in: it was delivered, but the process
    // that sent it died before it could delete its copy.
    gate.open();
    assert!(wait_until(SOON, || server.accepted_uuids().len() == 3));
    let first = server.accepted_uuids();
    assert_eq!(spool_files(sandbox.path()).len(), 1, "the copy outlived the crash");

    // The next run sends the batch again: at least once, never lost. The
    // uuids are the same, so the receiver (PostHog) keeps one of each.
    let telemetry =
        Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), USER_KEY)))
            .unwrap();
    assert!(
        wait_until(SOON, || spool_files(sandbox.path()).is_empty()),
        "the dead run's claim is taken back"
    );
    assert!(telemetry.flush(SOON));
    let all = server.accepted_uuids();
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(all[3..], first[..], "resent with the uuids it had");
}

#[test]
fn batches_of_the_old_format_are_deleted_unsent_and_counted() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let dir = spool_dir(sandbox.path());
    std::fs::create_dir_all(&dir).unwrap();
    let uuid = uuid::Uuid::new_v4();
    let event = format!(r#"{{"event":"work","uuid":"{uuid}","properties":{{"i":1}}}}"#);
    let name = format!("{:020}-old.batch", now_nanos());
    std::fs::write(
        dir.join(name),
        format!(
            "v1\tsink\t{}\nv1\tusage\t0\t1\t{event}\nv1\tusage\t0\t1\t{event}\n",
            server.url() + "/batch/"
        ),
    )
    .unwrap();
    let telemetry =
        Telemetry::new(Sandbox::spooling_config_in(sandbox.path()).sink(posthog(&server.url(), USER_KEY)))
            .unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "{:?}", spool_files(sandbox.path()));
    let _ = telemetry.flush(SOON);
    assert!(server.requests().is_empty(), "a batch of the old format was sent");
    assert_eq!(telemetry.stats().dropped(DropReason::Undeliverable), 2);
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// A route's level cap holds on a replay as on the first try, whatever the
/// spooled file says: a batch written for a route capped at `Usage` whose
/// file was later changed to hold an event at `Full` with an opt-in value
/// (by hand, or by another version of the program) does not send that
/// event, and counts it.
#[test]
fn a_spooled_event_above_its_routes_cap_is_not_sent_on_a_replay() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let canary = Canary::new("question");
    let config = || {
        Sandbox::spooling_config_in(sandbox.path())
            .consent(Level::Full)
            .route(posthog(&server.url(), USER_KEY), Route::default().max_level(Level::Usage))
    };
    server.down();
    {
        let telemetry = Telemetry::new(config()).unwrap();
        telemetry.capture(&Asked { words: 7, question: "never written".into() });
        assert!(!telemetry.flush(SOON), "the host is down");
    }
    let files = spool_files(sandbox.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(!text.contains("never written"), "the opt-in value was spooled for a route capped at usage");
    // The event's line, raised to `full`, with the opt-in value added.
    let mut edited = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
            if fields.get(1).map(String::as_str) != Some("event") {
                return line.to_owned();
            }
            assert_eq!(fields[3], "usage", "{line}");
            fields[3] = "full".to_owned();
            let mut properties: serde_json::Value = serde_json::from_str(&fields[8]).unwrap();
            properties.as_array_mut().unwrap().push(serde_json::json!(["question", canary.text()]));
            fields[8] = properties.to_string();
            edited += 1;
            fields.join("\t")
        })
        .collect();
    assert_eq!(edited, 1);
    std::fs::write(&files[0], lines.join("\n") + "\n").unwrap();

    server.up();
    let telemetry = Telemetry::new(config()).unwrap();
    assert!(wait_until(SOON, || spool_files(sandbox.path()).is_empty()), "the spool is replayed");
    let _ = telemetry.flush(SOON);
    assert!(!server.received(canary.text().as_bytes()), "an event above the route's cap was sent");
    assert_eq!(telemetry.stats().dropped(DropReason::ConsentWithdrawn), 1, "{:?}", telemetry.stats());
}
