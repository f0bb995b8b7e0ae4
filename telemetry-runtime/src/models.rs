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
use crate::sink::MemorySink;
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
        .cache_dir(&nowhere)
        .config_dir(&nowhere)
        .data_dir(&nowhere)
        .recent_deliveries(0)
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
