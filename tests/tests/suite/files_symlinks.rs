//! Files the library writes are never written through a symbolic link: a
//! link placed at the final name of any of them (pointing at a file, or at
//! nothing) is left as it is, its target untouched or not created, and the
//! library goes on without that file. Temporary names are unique per write,
//! so that two clients creating the install id at once agree on it.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Config, Level, Telemetry, TelemetryEvent};
use telemetry_tests::{logs, posthog_sink, Sandbox, TestServer, SOON};

/// A task ran.
#[derive(TelemetryEvent)]
struct NightlyTaskRan {
    /// How many steps it took.
    steps: u32,
    /// A label, counted but never revealed.
    #[telemetry(redact = "hash")]
    label: String,
}

fn task() -> NightlyTaskRan {
    NightlyTaskRan { steps: 3, label: "nightly".into() }
}

/// Where a link points: an existing file with known text, or nothing.
#[derive(Clone, Copy, Debug)]
enum Target {
    Existing,
    Dangling,
}

const TARGET_TEXT: &str = "the link's target: not telemetry's to write\n";

/// Places a link at `at` (creating its directory) to a target outside the
/// sandbox's telemetry directories; returns the target.
fn plant_link(sandbox: &Sandbox, at: &Path, target: Target) -> PathBuf {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    let victim = sandbox.path().join(format!("victim-{}", at.file_name().unwrap().to_string_lossy()));
    if let Target::Existing = target {
        std::fs::write(&victim, TARGET_TEXT).unwrap();
    }
    symlink(&victim, at).unwrap();
    victim
}

/// The link is still a link to `victim`, and `victim` is as it was.
fn assert_not_followed(case: &str, link: &Path, victim: &Path, target: Target) {
    let meta = std::fs::symlink_metadata(link).unwrap_or_else(|e| panic!("{case}: the link is gone: {e}"));
    assert!(meta.file_type().is_symlink(), "{case}: the link was replaced by a file");
    assert_eq!(std::fs::read_link(link).unwrap(), victim, "{case}: the link was changed");
    match target {
        Target::Existing => {
            assert_eq!(
                std::fs::read_to_string(victim).unwrap(),
                TARGET_TEXT,
                "{case}: the target was written"
            )
        }
        Target::Dangling => assert!(!victim.exists(), "{case}: the link's target was created"),
    }
}

/// Runs `write` (which makes the library write the file at `relative`)
/// with a link planted there, for both kinds of target.
fn check(name: &str, relative: &str, write: impl Fn(&Sandbox)) {
    for target in [Target::Existing, Target::Dangling] {
        let case = format!("{name} ({target:?} target)");
        let sandbox = Sandbox::new();
        let link = sandbox.path().join(relative);
        let victim = plant_link(&sandbox, &link, target);
        write(&sandbox);
        assert_not_followed(&case, &link, &victim, target);
    }
}

fn deliver_once(config: Config) -> Telemetry {
    let telemetry = Telemetry::new(config.delivery(telemetry_tests::on_flush)).unwrap();
    telemetry.capture(&task());
    let delivered = telemetry.flush(SOON);
    let stats = telemetry.stats();
    assert_eq!(delivered, stats.dropped_total() == 0, "{stats:?}");
    telemetry
}

#[test]
fn the_install_id_and_hash_key_are_not_written_through_links() {
    for file in ["cache/telemetry_user_id", "cache/telemetry_hash_key"] {
        check(file, file, |sandbox| {
            let memory = MemorySink::new();
            deliver_once(sandbox.config().sink(memory.clone()));
            // The event still goes out, with a per-process id or key.
            assert_eq!(memory.events().len(), 1, "{file}");
        });
    }
}

#[test]
fn the_saved_choice_is_not_written_through_a_link() {
    logs::install();
    check("consent", "config/telemetry_consent", |sandbox| {
        let telemetry = Telemetry::new(sandbox.config()).unwrap();
        let saved = telemetry.save_consent(Some(Level::Off));
        let err = saved.expect_err("a choice written through a link");
        assert!(err.to_string().contains("symbolic link"), "{err}");
    });
    // On this thread, which asked for the write.
    let refusals =
        logs::this_thread().into_iter().filter(|l| l.message.contains("is a symbolic link")).count();
    assert!(refusals > 0, "the refusal is logged");
}

#[test]
fn a_predictable_temporary_name_is_not_followed() {
    // The saved choice was written under `<name>.tmp<pid>` first, a name a
    // link could be planted at in advance.
    let pid = std::process::id();
    check("consent's temporary file", &format!("config/telemetry_consent.tmp{pid}"), |sandbox| {
        let telemetry = Telemetry::new(sandbox.config()).unwrap();
        telemetry.save_consent(Some(Level::Off)).unwrap();
        assert_eq!(telemetry.level(), Level::Off);
    });
}

#[test]
fn local_events_and_jsonl_files_are_not_appended_through_links() {
    check("local-only events", "data/telemetry_events.jsonl", |sandbox| {
        let telemetry = deliver_once(
            sandbox.config().delivery(|d| telemetry_runtime::Delivery { local_only: true, ..d }),
        );
        assert_eq!(telemetry.stats().sent, 0, "nothing was written");
    });
    check("a JSONL sink's file", "out/events.jsonl", |sandbox| {
        let telemetry =
            deliver_once(sandbox.config().sink(JsonlSink::new(sandbox.path().join("out/events.jsonl"))));
        assert_eq!(telemetry.stats().sent, 0, "nothing was written");
    });
}

#[test]
fn the_record_of_recent_deliveries_is_not_written_through_a_link() {
    let server = TestServer::start();
    check("recent deliveries", "data/telemetry_recent.jsonl", |sandbox| {
        let telemetry = deliver_once(sandbox.config().sink(posthog_sink(&server)));
        assert_eq!(telemetry.stats().sent, 1);
    });
}

#[test]
fn the_notice_marker_is_not_written_through_a_link() {
    let server = TestServer::start();
    check("notice marker", "config/telemetry_notice", |sandbox| {
        let telemetry = Telemetry::new(
            sandbox
                .config()
                .notice(|n| telemetry_runtime::Notice { enabled: true, ..n })
                .sink(posthog_sink(&server)),
        )
        .unwrap();
        // The notice was due: nothing is sent in this run.
        assert_eq!(telemetry.level(), Level::Off);
    });
}

#[test]
fn two_clients_creating_the_id_at_once_agree_on_it() {
    for round in 0..40 {
        let sandbox = Sandbox::new();
        let barrier = Arc::new(Barrier::new(2));
        let clients: Vec<(Telemetry, MemorySink)> = (0..2)
            .map(|_| {
                let memory = MemorySink::new();
                let config = sandbox.config().sink(memory.clone()).delivery(telemetry_tests::on_flush);
                (Telemetry::new(config).unwrap(), memory)
            })
            .collect();
        let threads: Vec<_> = clients
            .iter()
            .map(|(telemetry, _)| {
                let (telemetry, barrier) = (telemetry.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    telemetry.capture(&task());
                    assert!(telemetry.flush(SOON));
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let ids: Vec<String> = clients
            .iter()
            .map(|(_, memory)| memory.events()[0]["distinct_id"].as_str().unwrap().to_owned())
            .collect();
        let file = std::fs::read_to_string(sandbox.cache_dir().join("telemetry_user_id")).unwrap();
        assert!(!file.is_empty(), "round {round}: an empty id file");
        assert_eq!(ids, [file.clone(), file], "round {round}: the clients disagree with the file");
    }
}
