//! Model tests of the state callers share with the worker, run under
//! shuttle's scheduler (see `sync.rs`), which tries the interleavings of
//! their threads at every lock and wait: every one up to a bound
//! (`check_dfs`), or many random ones where the state space is too large
//! (`check_random`). Run them with
//! `RUSTFLAGS="--cfg shuttle" cargo test -p telemetry-runtime --lib models`.
//!
//! Each test states a promise the README makes under concurrency.

use std::path::PathBuf;

use shuttle::thread;

use crate::local::identity::{IdSource, Identity, ID_FILE};
use crate::testing::MemorySink;
use crate::{Config, Level, Telemetry};

/// Schedules tried for the tests whose state space is too large to try
/// every schedule in CI time: PCT (probabilistic concurrency testing)
/// finds a bug of depth `PCT_DEPTH` with a known probability per run; the
/// races these tests guard against were found within the first few runs.
const PCT_RUNS: usize = 10_000;
const PCT_DEPTH: usize = 3;

/// A client deciding by `level`, with a memory sink, reading no variable
/// and writing no file unless asked to.
fn client(level: Level, memory: &MemorySink) -> Telemetry {
    let nowhere = PathBuf::from("/nonexistent/telemetry-models");
    let config = Config::new("models", "1.0.0")
        .consent(level)
        .environment(|_| None)
        .dirs(|_| crate::Dirs::from(&nowhere))
        .delivery(|d| crate::Delivery { recent_deliveries: 0, ..d })
        .sink(memory.clone());
    Telemetry::new(config).expect("a valid configuration")
}

/// "Concurrent calls end in the state of the last one to return": two
/// `set_consent` calls racing leave one of their levels everywhere: in the
/// resolved consent, the capture gate and the level sinks are checked
/// against. (Before changes were serialized, the gate could say Full while
/// the consent said Off.)
#[test]
fn racing_consent_changes_leave_one_state_everywhere() {
    shuttle::check_pct(
        || {
            let memory = MemorySink::new();
            let telemetry = client(Level::Usage, &memory);
            let (a, b) = (telemetry.clone(), telemetry.clone());
            let full = thread::spawn(move || a.set_consent(Level::Full));
            let off = thread::spawn(move || b.set_consent(Level::Off));
            full.join().unwrap();
            off.join().unwrap();
            let decided = telemetry.consent().level;
            assert!(matches!(decided, Level::Full | Level::Off), "{decided:?}");
            assert_eq!(telemetry.level(), decided, "the capture gate");
            assert_eq!(telemetry.shared().consent_level(), decided, "the level sinks are checked against");
        },
        PCT_RUNS,
        PCT_DEPTH,
    );
}

/// "After a reset returns, the old id never leaves the process again": a
/// delivery round reading the identity while a reset runs gets either the
/// old id with the old generation (its events are then stale and dropped)
/// or a new id; never the old id under the new generation. (Before, the
/// reset bumped the generation before deleting the id file, and a round
/// in between read the old id back from it.)
#[test]
fn a_round_racing_a_reset_never_takes_the_old_id_for_the_new_generation() {
    shuttle::check_dfs(
        || {
            let dir = tempfile::tempdir().unwrap();
            let identity =
                std::sync::Arc::new(Identity::new(Some(dir.path().join(ID_FILE)), IdSource::Install));
            let (old, _) = identity.distinct_id_and_generation();
            let old_key = identity.hash_key();
            let round = {
                let identity = identity.clone();
                thread::spawn(move || identity.distinct_id_and_generation())
            };
            identity.reset().unwrap();
            let (id, generation) = round.join().unwrap();
            if generation == identity.generation() {
                assert_ne!(id, old, "the old id under the new generation");
            }
            let (now, _) = identity.distinct_id_and_generation();
            assert_ne!(now, old, "the old id after the reset returned");
            assert_ne!(identity.hash_key(), old_key, "the old key after the reset returned");
        },
        None,
    );
}

/// An event of no properties, sent at usage.
static TICK_SCHEMA: crate::EventSchema = crate::EventSchema::undocumented("tick", Level::Usage);
// The hidden constructor `event!` expands to, called by the crate itself.
#[allow(deprecated)]
static TICK: crate::DynamicEvent = crate::DynamicEvent::__declared(&TICK_SCHEMA, &[]);

/// "Nothing is lost quietly": a capture racing shutdown (with the worker
/// running) is delivered or counted, once: `captured == sent + dropped`,
/// and the sink got exactly what was counted as sent; the shutdown,
/// with a deadline the worker can meet, answers `true`, and a second one
/// made meanwhile answers the same.
#[test]
fn captures_racing_shutdowns_are_each_delivered_or_counted_once() {
    shuttle::check_random(
        || {
            let memory = MemorySink::new();
            let telemetry = client(Level::Usage, &memory);
            telemetry.capture_with(&TICK, crate::Properties::new());
            let capturing = {
                let telemetry = telemetry.clone();
                thread::spawn(move || {
                    for _ in 0..3 {
                        telemetry.capture_with(&TICK, crate::Properties::new());
                    }
                })
            };
            let second = {
                let telemetry = telemetry.clone();
                thread::spawn(move || telemetry.shutdown(std::time::Duration::from_secs(600)))
            };
            let first = telemetry.shutdown(std::time::Duration::from_secs(600));
            capturing.join().unwrap();
            let second = second.join().unwrap();
            assert!(first && second, "{first} {second}");
            let stats = telemetry.stats();
            assert_eq!(stats.captured, stats.sent + stats.dropped_total(), "{stats:?}");
            assert_eq!(memory.events().len() as u64, stats.sent, "{stats:?}");
            assert!(stats.captured >= 1);
        },
        PCT_RUNS / 10,
    );
}

/// "A lowering is exact": while the worker delivers, consent is lowered to
/// off; once `set_consent` has returned, the sink is handed nothing more
/// (its share is counted as withdrawn).
#[test]
fn nothing_reaches_a_sink_after_consent_is_lowered_to_off() {
    shuttle::check_random(
        || {
            let memory = MemorySink::new();
            let telemetry = client(Level::Usage, &memory);
            for _ in 0..3 {
                telemetry.capture_with(&TICK, crate::Properties::new());
            }
            let flushing = {
                let telemetry = telemetry.clone();
                thread::spawn(move || telemetry.flush(std::time::Duration::from_secs(600)))
            };
            telemetry.set_consent(Level::Off);
            let handed = memory.events().len();
            let _ = flushing.join().unwrap();
            let _ = telemetry.shutdown(std::time::Duration::from_secs(600));
            assert_eq!(memory.events().len(), handed, "handed to the sink after the lowering returned");
            let stats = telemetry.stats();
            assert_eq!(stats.captured, stats.sent + stats.dropped_total(), "{stats:?}");
        },
        PCT_RUNS / 10,
    );
}
