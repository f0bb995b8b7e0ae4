//! The anonymous install id: created lazily (never at init), private, shared
//! by later runs, never a shared constant when the file is unusable, and
//! replaced on reset.

use std::path::Path;

use telemetry_runtime::cli::Status;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Properties, Telemetry};
use telemetry_tests::{Sandbox, SOON};

telemetry_runtime::event! {
    /// Shows which distinct id a client sends.
    static WHOAMI = "who_am_i" {}
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
fn a_configured_uuid_is_used_as_is_and_no_file_is_created() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let uuid = "0B6E8F1C-3D4A-4F5E-9A7B-1C2D3E4F5A6B";
    let telemetry = Telemetry::new(
        sandbox.config().distinct_id(telemetry_runtime::DistinctId::Uuid(uuid.into())).sink(memory.clone()),
    )
    .unwrap();
    assert_eq!(next_distinct_id(&telemetry, &memory), uuid.to_lowercase());
    assert!(!sandbox.cache_dir().join("telemetry_user_id").exists());
    let catalog = telemetry.catalog().to_markdown("testapp");
    assert!(
        catalog.contains("| `distinct_id` | an opaque id (a UUID) the application supplies |"),
        "{catalog}"
    );
}

/// "Every value that reaches the wire is decided in code": an id that is
/// not opaque (an e-mail address, a user name) is refused as a distinct
/// id, and names the two ways that are accepted; it is not repeated in
/// the message.
#[test]
fn an_id_that_is_not_opaque_is_refused_unless_hashed_or_reasoned() {
    let sandbox = Sandbox::new();
    for id in ["jane@example.com", "legacy-install-42", "  ", ""] {
        let err =
            Telemetry::new(sandbox.config().distinct_id(telemetry_runtime::DistinctId::Uuid(id.into())))
                .unwrap_err()
                .to_string();
        assert!(err.contains("must be a UUID") && err.contains("DistinctId::Hashed"), "{err}");
        assert!(id.trim().is_empty() || !err.contains(id), "the refused id is repeated: {err}");
    }
    // A raw id needs a reason in words, which the catalog then shows.
    assert!(Telemetry::new(sandbox.config().distinct_id(telemetry_runtime::DistinctId::Raw {
        id: "legacy-install-42".into(),
        reason: "\u{200b}"
    }))
    .is_err());
    assert!(Telemetry::new(sandbox.config().distinct_id(telemetry_runtime::DistinctId::Raw {
        id: "x".repeat(201),
        reason: "fleet machine names"
    }))
    .is_err());
    let memory = MemorySink::new();
    let reason = "the fleet's own machine names, which identify runners, not people";
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .distinct_id(telemetry_runtime::DistinctId::Raw { id: "runner-42".into(), reason })
            .sink(memory.clone()),
    )
    .unwrap();
    assert_eq!(next_distinct_id(&telemetry, &memory), "runner-42");
    assert!(telemetry.catalog().to_markdown("testapp").contains(reason));
}

/// A value of the application's sent as its keyed hash: never the value,
/// the same for the same value on this machine, different for another
/// value, and new after a reset (the key is new).
#[test]
fn a_hashed_id_is_stable_per_install_and_value_and_new_after_a_reset() {
    let sandbox = Sandbox::new();
    let value = "jane@example.com";
    let hashed = |value: &str| {
        let memory = MemorySink::new();
        let config = sandbox
            .config()
            .distinct_id(telemetry_runtime::DistinctId::Hashed(value.into()))
            .sink(memory.clone());
        let telemetry = Telemetry::new(config).unwrap();
        (next_distinct_id(&telemetry, &memory), telemetry, memory)
    };
    let (first, telemetry, memory) = hashed(value);
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert!(!memory.events()[0].to_string().contains("jane"), "the value itself was sent");
    assert_eq!(hashed(value).0, first, "the same value on the same install");
    assert_ne!(hashed("joe@example.com").0, first, "another value");
    telemetry.reset_identity().unwrap();
    assert_ne!(next_distinct_id(&telemetry, &memory), first, "the same id after a reset");
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
