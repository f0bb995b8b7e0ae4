//! The agent's committed `TELEMETRY.md` must match the events compiled into
//! it. After a deliberate change, review and regenerate it with
//! `TELEMETRY_CATALOG_UPDATE=1 cargo test -p telemetry-examples --test programs telemetry_catalog`.

use telemetry_runtime::Catalog;

#[test]
fn telemetry_md_matches_the_code() {
    // Referencing the agent's code links it in, and with it every event it registers.
    assert_eq!(telemetry_examples::runner::TOOL_CALLS.schema().name, "tool_calls");
    let catalog = telemetry_examples::agent_catalog();
    // This test links the other examples' events too: they are not the agent's.
    let has = |catalog: &Catalog, name: &str| catalog.events().iter().any(|e| e.name == name);
    assert!(has(&Catalog::collect(), "mcp_agent_execution"));
    assert!(!has(&catalog, "mcp_agent_execution"));
    for event in ["run_started", "step_completed", "tool_called", "run_failed", "run_finished", "plan_step"] {
        assert!(has(&catalog, event), "{event} is not registered");
    }
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/TELEMETRY.md");
    if let Err(diff) = telemetry_runtime::testing::check_catalog_file(&catalog, "telemetry-agent-demo", page)
    {
        panic!("{diff}");
    }
}

#[test]
fn a_changed_field_fails_the_check_with_a_diff() {
    assert_eq!(telemetry_examples::runner::TOOL_CALLS.schema().name, "tool_calls");
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/TELEMETRY.md")).unwrap();
    // As if the code had changed `server_url` from a keyed hash to public.
    let stale = committed.replace(
        "| `server_url` | `String` | redact(hash) | keyed hash | keyed hash |",
        "| `server_url` | `String` | public | value | value |",
    );
    assert_ne!(stale, committed, "the committed page lists server_url as a keyed hash");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("TELEMETRY.md");
    std::fs::write(&path, stale).unwrap();
    let catalog = telemetry_examples::agent_catalog();
    let err = telemetry_runtime::testing::check_catalog_file(&catalog, "telemetry-agent-demo", &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("- | `server_url` | `String` | public | value | value |"), "{err}");
    assert!(err.contains("+ | `server_url` | `String` | redact(hash) | keyed hash | keyed hash |"), "{err}");
}
