//! Ending while the endpoint hangs: shutdown keeps its deadline, and every
//! event it could not deliver (in the unanswered request, or queued behind
//! it) is counted as dropped for `Shutdown` and named in one warning with
//! the deadline that expired. Nothing is lost silently.

use std::time::Duration;

use telemetry_runtime::{DropReason, Telemetry, TelemetryEvent};
use telemetry_tests::{logs, posthog_sink, Behaviour, Sandbox, TestServer, SOON};

/// A build step ran.
#[derive(TelemetryEvent)]
struct BuildStep {
    /// Its number.
    number: u32,
}

#[test]
fn events_behind_an_unanswered_request_are_counted_and_logged_at_exit() {
    logs::install();
    let server = TestServer::start();
    server.set_default(Behaviour::Hang);
    let sandbox = Sandbox::new();
    let sink = posthog_sink(&server).http(|h| telemetry_runtime::sink::HttpOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(60),
        ..h
    });
    let telemetry = Telemetry::new(sandbox.config().sink(sink).delivery(telemetry_tests::on_flush)).unwrap();
    telemetry.capture(&BuildStep { number: 0 });
    let _ = telemetry.flush(Duration::ZERO);
    assert!(server.wait_for_requests(1, SOON), "the worker is inside its request");
    for number in 1..=24 {
        telemetry.capture(&BuildStep { number });
    }

    assert!(!telemetry.shutdown(Duration::from_millis(300)), "the worker is still in its request");
    let stats = telemetry.stats();
    assert_eq!(stats.captured, 25, "{stats:?}");
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_eq!(stats.dropped(DropReason::Shutdown), 25, "one in the request, 24 behind it: {stats:?}");
    // Said by the shutdown, on this thread (the other tests log meanwhile).
    let warned: Vec<_> = logs::containing("events not delivered")
        .into_iter()
        .filter(logs::Line::is_from_this_thread)
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].message.contains("25 events") && warned[0].message.contains("300ms"), "{warned:?}");

    // The counters are final: a worker that stays stuck changes nothing.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(telemetry.stats(), stats);
}

#[test]
fn a_shutdown_in_time_counts_nothing_extra_and_logs_nothing() {
    logs::install();
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    for number in 0..5 {
        telemetry.capture(&BuildStep { number });
    }
    assert!(telemetry.shutdown(SOON));
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped_total()), (5, 0), "{stats:?}");
}

/// A CLI that ends with `std::process::exit` never drops its guard: with
/// `telemetry_runtime::exit` instead, what it captured is delivered within
/// the shutdown deadline and the exit code is the one asked for. The
/// control: `std::process::exit` itself loses the event.
#[test]
fn exit_delivers_what_was_captured_and_ends_with_the_code_asked_for() {
    use telemetry_tests::child;
    if let Some(mode) = child::mode() {
        let url = std::env::var("EXIT_TEST_URL").unwrap();
        let dir = std::env::var("EXIT_TEST_DIR").unwrap();
        let sink = telemetry_runtime::sink::PostHogSink::new(telemetry_tests::API_KEY)
            .and_then(|sink| sink.host(&url))
            .unwrap();
        let config = Sandbox::spooling_config_in(std::path::Path::new(&dir))
            .delivery(|d| telemetry_runtime::Delivery { spool: false, ..d })
            .sink(sink)
            .delivery(|d| telemetry_runtime::Delivery {
                shutdown_timeout: Duration::from_secs(5),
                ..telemetry_tests::on_flush(d)
            });
        let _guard = telemetry_runtime::init(config).unwrap();
        telemetry_runtime::capture(&BuildStep { number: 7 });
        match mode.as_str() {
            "library" => telemetry_runtime::exit(3),
            _ => std::process::exit(3),
        }
    }
    for (mode, delivered) in [("library", 1), ("std", 0)] {
        let server = TestServer::start();
        let sandbox = Sandbox::new();
        let envs =
            [("EXIT_TEST_URL", &*child::os(server.url())), ("EXIT_TEST_DIR", &*child::os(sandbox.path()))];
        let test = "faults_exit::exit_delivers_what_was_captured_and_ends_with_the_code_asked_for";
        let output = child::run(test, mode, &envs, Duration::from_secs(30));
        assert_eq!(output.status.and_then(|s| s.code()), Some(3), "{mode}: {output:?}");
        assert_eq!(server.accepted_events().len(), delivered, "{mode}");
    }
}

/// "Capture never blocks, also in a child after `fork()`": a process forks
/// thirty times while two of its threads capture and count without pause
/// (so the queue's lock is often held at the fork). Every child captures,
/// counts, flushes and shuts down, and must be done long before its flush
/// deadline: its
/// events are counted as dropped for `Forked` (the client and its worker
/// belong to the parent). The parent goes on as before and delivers all it
/// captures. (Before, 2 to 8 children in 30 hung in a capture forever, and
/// the others waited out their whole flush deadline.)
#[cfg(target_os = "linux")]
#[test]
fn a_forked_child_never_blocks_and_counts_its_events_and_the_parent_goes_on() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;
    use telemetry_runtime::testing::MemorySink;
    use telemetry_tests::child;

    telemetry_runtime::counter! {
        /// Steps, by outcome.
        static STEPS = "steps", labels: [outcome: Outcome = ["ok"]];
    }

    if child::mode().is_none() {
        let test = "faults_exit::a_forked_child_never_blocks_and_counts_its_events_and_the_parent_goes_on";
        let output = child::run(test, "forking", &[], Duration::from_secs(120));
        assert!(output.success(), "{output:?}");
        assert!(output.stdout.contains("CHILD:forks=30"), "{}", output.stdout);
        return;
    }
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .sink(memory.clone())
            .delivery(|d| telemetry_runtime::Delivery { batch_size: 4, ..d }),
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let capturing: Vec<_> = (0..2)
        .map(|_| {
            let (telemetry, stop) = (telemetry.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut number = 0;
                while !stop.load(Ordering::Relaxed) {
                    telemetry.capture(&BuildStep { number });
                    telemetry.add(&STEPS, Outcome::Ok, 1);
                    number += 1;
                }
            })
        })
        .collect();
    let mut forks = 0;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(3));
        // SAFETY: the child runs only this library's capture, flush and
        // shutdown (no lock of its own is waited for there) and then
        // exits; glibc makes the allocator usable in a forked child.
        #[allow(unsafe_code)]
        let forked = unsafe { nix::unistd::fork() }.expect("fork");
        match forked {
            nix::unistd::ForkResult::Child => {
                let started = Instant::now();
                let before = telemetry.stats();
                for number in 0..100 {
                    telemetry.capture(&BuildStep { number });
                    telemetry.add(&STEPS, Outcome::Ok, 1);
                }
                // Deadlines far longer than the bound below: a flush that
                // waited for a worker the child does not have would pass it.
                let flushed = telemetry.flush(Duration::from_secs(60));
                let shut = telemetry.shutdown(Duration::from_secs(60));
                let after = telemetry.stats();
                // Generous for a loaded machine; a child that waits hangs
                // forever, or for the deadlines above.
                let quick = started.elapsed() < Duration::from_secs(15);
                let counted = after.dropped(DropReason::Forked) > before.dropped(DropReason::Forked);
                // What went wrong, one bit each, for the parent's message.
                let failures = [!quick, flushed, shut, !counted];
                std::process::exit(failures.iter().enumerate().map(|(bit, f)| i32::from(*f) << bit).sum());
            }
            nix::unistd::ForkResult::Parent { child } => {
                let deadline = Instant::now() + Duration::from_secs(30);
                let status = loop {
                    match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                        Ok(nix::sys::wait::WaitStatus::StillAlive) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                            panic!("a forked child hung in the library");
                        }
                        other => break other,
                    }
                };
                assert_eq!(
                    status,
                    Ok(nix::sys::wait::WaitStatus::Exited(child, 0)),
                    "fork {forks}; the bits: 1 slow, 2 flush true, 4 shutdown true, 8 nothing counted"
                );
                forks += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    capturing.into_iter().for_each(|thread| thread.join().unwrap());
    // The parent: nothing of the children counts in it, and it goes on
    // delivering (the threads overflowed its queue, which the first flush
    // reports; the next capture is delivered in full).
    let _ = telemetry.flush(Duration::from_secs(10));
    assert_eq!(telemetry.stats().dropped(DropReason::Forked), 0);
    memory.clear();
    telemetry.capture(&BuildStep { number: 1 });
    assert!(telemetry.flush(Duration::from_secs(10)), "{:?}", telemetry.stats());
    assert!(memory.events().iter().any(|e| e["event"] == "build_step"), "the parent delivers");
    child::report("forks", forks);
}
