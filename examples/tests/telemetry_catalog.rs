//! The agent's committed `TELEMETRY.md` must match the events compiled into
//! it. After a deliberate change, review and regenerate it with
//! `TELEMETRY_CATALOG_UPDATE=1 cargo test -p telemetry-examples --test telemetry_catalog`.

use telemetry_runtime::Catalog;

#[test]
fn telemetry_md_matches_the_code() {
    // Referencing the agent's code links it in, and with it every event it registers.
    assert_eq!(telemetry_examples::runner::TOOL_CALLS.schema().name, "tool_calls");
    let catalog = Catalog::collect();
    for event in ["run_started", "step_completed", "tool_called", "run_failed", "run_finished", "plan_step"] {
        assert!(catalog.event(event).is_some(), "{event} is not registered");
    }
    catalog
        .assert_markdown_file("telemetry-agent-demo", concat!(env!("CARGO_MANIFEST_DIR"), "/TELEMETRY.md"));
}
