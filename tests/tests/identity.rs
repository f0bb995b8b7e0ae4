//! The anonymous install id: created lazily (never at init), private, shared
//! by later runs, never a shared constant when the file is unusable, and
//! replaced on reset.

use std::path::Path;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{Properties, Telemetry};
use telemetry_tests::{Sandbox, SOON};

telemetry_runtime::event! {
    /// Shows which distinct id a client sends.
    static WHOAMI = "whoami" {}
}

telemetry_runtime::event! {
    /// Shows which session id a client sends.
    static SESSION = "session" {}
}

/// Captures one event on `telemetry`, flushes, and returns its distinct id
/// as the sink received it.
fn next_distinct_id(telemetry: &Telemetry, memory: &MemorySink) -> String {
    memory.clear();
    telemetry.capture_with(&WHOAMI, Properties::new());
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1);
    events[0]["distinct_id"].as_str().unwrap().to_owned()
}

fn client(sandbox: &Sandbox) -> (Telemetry, MemorySink) {
    let memory = MemorySink::new();
    (Telemetry::new(sandbox.config().sink(memory.clone())).unwrap(), memory)
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

#[test]
fn the_id_file_is_created_on_first_delivery_private_and_reused() {
    let sandbox = Sandbox::new();
    let (telemetry, memory) = client(&sandbox);
    let path = sandbox.cache_dir().join("telemetry_user_id");
    assert_eq!(Status::of(&telemetry).id_path, Some(path.clone()));
    assert!(!path.exists(), "no id file at init");
    assert!(sandbox.files().is_empty(), "nothing on disk at init: {:?}", sandbox.files());

    let id = next_distinct_id(&telemetry, &memory);
    assert!(path.exists(), "created on first delivery");
    assert_private(&path);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), id);
    let parsed = uuid::Uuid::parse_str(&id).expect("a uuid");
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(next_distinct_id(&telemetry, &memory), id, "stable within a run");

    // A second client (a later run) with the same cache directory.
    let (again, again_memory) = client(&sandbox);
    assert_eq!(next_distinct_id(&again, &again_memory), id);
    assert_ne!(again.session_id(), telemetry.session_id(), "a session id per client");
}

#[test]
fn a_corrupt_id_file_gives_different_per_process_ids_and_is_left_alone() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
    let path = sandbox.cache_dir().join("telemetry_user_id");
    std::fs::write(&path, "definitely not a uuid").unwrap();

    let (a, a_memory) = client(&sandbox);
    let (b, b_memory) = client(&sandbox);
    let id_a = next_distinct_id(&a, &a_memory);
    let id_b = next_distinct_id(&b, &b_memory);
    assert_ne!(id_a, id_b, "a fallback id is never shared");
    assert!(uuid::Uuid::parse_str(&id_a).is_ok() && uuid::Uuid::parse_str(&id_b).is_ok());
    assert_eq!(next_distinct_id(&a, &a_memory), id_a, "stable within the process");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "definitely not a uuid");
}

#[test]
fn an_unwritable_cache_dir_gives_per_process_ids() {
    let sandbox = Sandbox::new();
    // A file where the cache directory should be.
    std::fs::write(sandbox.cache_dir(), "").unwrap();
    let (a, a_memory) = client(&sandbox);
    let (b, b_memory) = client(&sandbox);
    let (id_a, id_b) = (next_distinct_id(&a, &a_memory), next_distinct_id(&b, &b_memory));
    assert_ne!(id_a, id_b);
    assert_eq!(a.stats().sent, 1, "delivery goes on without an id file");
}

#[test]
fn reset_identity_gives_later_events_a_new_id() {
    let sandbox = Sandbox::new();
    let (telemetry, memory) = client(&sandbox);
    let path = sandbox.cache_dir().join("telemetry_user_id");
    let before = next_distinct_id(&telemetry, &memory);
    telemetry.reset_identity().unwrap();
    assert!(!path.exists(), "reset deletes the id file");
    let after = next_distinct_id(&telemetry, &memory);
    assert_ne!(before, after);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), after);
    assert_private(&path);

    // Reset before anything exists is fine too.
    let fresh = Sandbox::new();
    let (untouched, _) = client(&fresh);
    untouched.reset_identity().unwrap();
}

#[test]
fn a_configured_distinct_id_is_used_as_is_and_no_file_is_created() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry =
        Telemetry::new(sandbox.config().distinct_id("legacy-install-42").sink(memory.clone())).unwrap();
    assert_eq!(next_distinct_id(&telemetry, &memory), "legacy-install-42");
    assert!(!sandbox.cache_dir().join("telemetry_user_id").exists());
    assert!(Telemetry::new(sandbox.config().distinct_id("  ")).is_err(), "a blank id is refused");
    assert!(
        Telemetry::new(sandbox.config().distinct_id("x".repeat(201))).is_err(),
        "over 200 bytes is refused"
    );
}

#[test]
fn session_id_is_sent_and_fixed_for_the_client() {
    let sandbox = Sandbox::new();
    let (telemetry, memory) = client(&sandbox);
    for _ in 0..3 {
        telemetry.capture_with(&SESSION, Properties::new());
    }
    assert!(telemetry.flush(SOON));
    let session = telemetry.session_id();
    assert!(uuid::Uuid::parse_str(session).is_ok());
    let events = memory.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["properties"]["$session_id"] == session));
}
