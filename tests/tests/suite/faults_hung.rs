//! A stalled endpoint (accepts and never answers, answers a byte at a time,
//! holds the request behind a closed gate): `capture` never waits for it,
//! `flush` and `shutdown` return by their deadline, and a process that ends
//! while the worker is stuck in a request exits at once.
//!
//! Times are measured and printed; the bounds are ten times the deadline, so
//! only a broken runtime (one that waits for the 60 s request timeout)
//! fails them, not a slow machine.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{Properties, Telemetry};
use telemetry_tests::{child, posthog_sink, Behaviour, Gate, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// The first event, which gets the worker into its first request.
    static FIRST = "first" {}
}

telemetry_runtime::event! {
    /// One of many events captured while the endpoint stalls.
    static WHILE_STALLED = "while_stalled" {
        /// Its number.
        i: u64,
    }
}

telemetry_runtime::event! {
    /// Queued behind a request that never ends.
    static QUEUED_BEHIND = "queued_behind" {}
}

telemetry_runtime::event! {
    /// Captured after shutdown: never sent.
    static AFTER_SHUTDOWN = "after_shutdown" {}
}

telemetry_runtime::event! {
    /// Captured by a program that then exits.
    static EXITING = "exiting" {
        /// Its number.
        i: u64,
    }
}

const DEADLINE: Duration = Duration::from_millis(300);
const BOUND: Duration = Duration::from_secs(3);

/// A sink whose requests would wait 60 s for an answer: longer than any test.
fn patient_sink(server: &TestServer) -> PostHogSink {
    posthog_sink(server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        ..h
    })
}

/// The stalls, by name.
fn stalls() -> Vec<(&'static str, Behaviour)> {
    vec![
        ("accepts and never answers", Behaviour::Hang),
        ("answers a byte every 500 ms", Behaviour::Slow(200, Duration::from_millis(500))),
        ("holds the request behind a closed gate", Behaviour::Gate(Gate::new())),
    ]
}

/// A client whose worker is inside its first request to a stalled server.
fn stuck_client(sandbox: &Sandbox, server: &TestServer, stall: Behaviour) -> Telemetry {
    server.set_default(stall);
    let telemetry =
        Telemetry::new(sandbox.config().sink(patient_sink(server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    telemetry.capture_with(&FIRST, Properties::new());
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "the worker reached the server");
    telemetry
}

/// Runs `work` on another thread and waits for it at most `timeout`:
/// `None` if it did not finish (the thread is left behind, the test fails).
fn bounded<T: Send + 'static>(timeout: Duration, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    rx.recv_timeout(timeout).ok()
}

#[test]
fn capture_never_waits_for_a_stalled_endpoint() {
    for (case, stall) in stalls() {
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let telemetry = stuck_client(&sandbox, &server, stall);
        let client = telemetry.clone();
        let captured = bounded(SOON, move || {
            let started = Instant::now();
            for i in 0..10_000u32 {
                client.capture_with(&WHILE_STALLED, Properties::new().with("i", i));
            }
            started.elapsed()
        });
        let took = captured.unwrap_or_else(|| panic!("{case}: capture blocked"));
        eprintln!("{case}: 10,000 captures took {took:?}");
        let stats = telemetry.stats();
        assert_eq!(stats.captured, 10_001, "{case}: the default queue holds them all: {stats:?}");
        assert_eq!(server.requests().len(), 1, "{case}: still stuck in the first request");
    }
}

#[test]
fn flush_and_shutdown_keep_their_deadlines_against_every_stall() {
    for (case, stall) in stalls() {
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let telemetry = stuck_client(&sandbox, &server, stall);
        telemetry.capture_with(&QUEUED_BEHIND, Properties::new());

        let started = Instant::now();
        let flushed = telemetry.flush(DEADLINE);
        let flush_took = started.elapsed();
        assert!(!flushed, "{case}: nothing was delivered");
        assert!(flush_took >= DEADLINE, "{case}: flush returned early: {flush_took:?}");
        assert!(flush_took < BOUND, "{case}: flush({DEADLINE:?}) took {flush_took:?}");

        let client = telemetry.clone();
        let shutdown = bounded(SOON, move || {
            let started = Instant::now();
            (client.shutdown(DEADLINE), started.elapsed())
        });
        let (finished, shutdown_took) = shutdown.unwrap_or_else(|| panic!("{case}: shutdown hung"));
        assert!(!finished, "{case}: the worker is still in its request");
        assert!(shutdown_took < BOUND, "{case}: shutdown({DEADLINE:?}) took {shutdown_took:?}");
        eprintln!("{case}: flush(300ms) returned in {flush_took:?}, shutdown(300ms) in {shutdown_took:?}");

        // After shutdown the client is inert: calls return at once.
        let before = telemetry.stats();
        telemetry.capture_with(&AFTER_SHUTDOWN, Properties::new());
        assert_eq!(telemetry.stats(), before);
        assert!(!telemetry.is_enabled());
    }
}

#[test]
fn flush_with_a_zero_deadline_returns_at_once_and_repeated_flushes_stay_bounded() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = stuck_client(&sandbox, &server, Behaviour::Hang);
    let client = telemetry.clone();
    let results = bounded(SOON, move || {
        let started = Instant::now();
        let zero = client.flush(Duration::ZERO);
        let zero_took = started.elapsed();
        let started = Instant::now();
        let repeated: Vec<bool> = (0..10).map(|_| client.flush(Duration::from_millis(20))).collect();
        (zero, zero_took, repeated, started.elapsed())
    });
    let (zero, zero_took, repeated, repeated_took) = results.expect("flush hung");
    assert!(!zero && repeated.iter().all(|done| !done));
    eprintln!("flush(0) took {zero_took:?}; ten flush(20ms) took {repeated_took:?}");
    assert!(zero_took < BOUND && repeated_took < BOUND);
}

/// The child's part: a program that sends to a hung endpoint through the
/// global client and ends while the worker is stuck.
fn exiting_program(mode: &str) {
    let url = std::env::var("HUNG_URL").expect("HUNG_URL");
    let sandbox = Sandbox::new();
    let sink = PostHogSink::new(telemetry_tests::API_KEY).unwrap().host(&url).unwrap().http(|h| {
        telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
            ..h
        }
    });
    let config = sandbox
        .config()
        .sink(sink)
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: DEADLINE, ..d });
    let guard = telemetry_runtime::init(config).unwrap();
    for i in 0..3u8 {
        telemetry_runtime::capture_with(&EXITING, Properties::new().with("i", i));
    }
    // Make sure the worker is inside its request before the program ends.
    let _ = telemetry_runtime::global().unwrap().flush(Duration::from_millis(200));
    let started = Instant::now();
    match mode {
        // The usual shape: the guard is dropped at the end of main.
        "guard" => drop(guard),
        // A program that forgets the guard (or exits another way).
        _ => std::mem::forget(guard),
    }
    child::report("guard_drop_ms", started.elapsed().as_millis());
}

#[test]
fn process_exit_is_not_delayed_past_the_shutdown_deadline() {
    if let Some(mode) = child::mode() {
        return exiting_program(&mode);
    }
    for mode in ["guard", "forget"] {
        let server = TestServer::start();
        server.set_default(Behaviour::Hang);
        let url = child::os(server.url());
        let output = child::run(
            "faults_hung::process_exit_is_not_delayed_past_the_shutdown_deadline",
            mode,
            &[("HUNG_URL", &url)],
            Duration::from_secs(30),
        );
        assert!(!output.timed_out, "{mode}: the child did not exit in 30 s");
        assert!(output.success(), "{mode}: the child failed:\n{}\n{}", output.stdout, output.stderr);
        assert!(server.requests().len() == 1, "{mode}: the child's worker was stuck in a request");
        let drop_ms: u64 = output.value("guard_drop_ms").and_then(|v| v.parse().ok()).expect("reported");
        eprintln!(
            "{mode}: shutdown in the child took {drop_ms} ms (deadline 300 ms); \
             the whole child process ran {:?}",
            output.elapsed
        );
        assert!(Duration::from_millis(drop_ms) < BOUND, "{mode}: dropping the guard took {drop_ms} ms");
        // Start-up, three captures, a 200 ms flush and the 300 ms deadline:
        // far below the 60 s the stuck request would take.
        assert!(output.elapsed < Duration::from_secs(5), "{mode}: the process ran {:?}", output.elapsed);
    }
}
