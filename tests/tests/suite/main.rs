//! The integration tests, in one binary (one link of the runtime, ureq and
//! rustls instead of one per file), a module per area, as cargo's own
//! `tests/testsuite` does. Run one area with
//! `cargo test -p telemetry-tests --test suite consent::`.
//!
//! The modules' tests run in parallel in one process, so they share what a
//! process has: the `log` logger (`telemetry_tests::logs`, installed once;
//! each test reads the lines with its own marker: its server's URL, its
//! sandbox's paths, its thread), the threads and the memory. A test that
//! needs the process to itself (it counts the process's threads, reads its
//! resident memory, or switches a log target off for everyone) runs in a
//! process of its own with `telemetry_tests::child::isolated`. Tests of the
//! global client are in the `global` binary, the counting allocator's in
//! `capture_allocations`; the compile-time cases are a package of their own
//! (`tests/ui`).

mod async_host;
mod capture_v1;
mod cli_clap;
mod compression;
mod config_errors;
mod consent;
mod consent_in_flight;
mod consent_messages;
mod custom_sink;
mod deadlines;
mod debug_output;
mod error_sources;
mod event_log;
mod event_time;
mod faults_concurrency;
mod faults_exit;
mod faults_hung;
mod faults_input;
mod faults_memory;
mod faults_memory_bytes;
mod faults_oversized;
mod faults_panics;
mod faults_permanent;
mod faults_server;
mod faults_transient;
mod faults_values;
mod files_symlinks;
mod flush_result;
mod identity;
mod identity_reset;
mod lifecycle;
mod lifecycle_hung;
mod macros_classification;
mod macros_schema;
mod macros_wire;
mod objects;
mod otlp;
mod packaging;
mod privacy_declared;
mod privacy_logs;
mod privacy_security;
mod privacy_stderr;
mod privacy_wire;
mod recent_record;
mod reports;
mod retries;
mod routing;
mod sampling;
mod sinks;
mod spool;
mod spool_routes;
mod spool_typed;
mod standard_properties;
mod test_server;
mod transparency;
mod user_owned;
mod version_change;
mod wire_format;
/// The events of every module share one catalog (the binary's), and each
/// test server checks what it received against it by name: an event name
/// declared in two modules must have the same fields in both, or one
/// module's events would be checked against the other's declaration.
#[test]
fn an_event_name_declared_twice_has_the_same_fields() {
    fn paths(prefix: &str, fields: &[telemetry_runtime::FieldSchema], out: &mut Vec<String>) {
        for field in fields {
            let path = format!("{prefix}{}", field.name);
            paths(&format!("{path}."), field.fields, out);
            out.push(format!("{path} {:?}", field.values));
        }
    }
    let catalog = telemetry_runtime::Catalog::collect();
    let mut seen = std::collections::BTreeMap::<&str, (&str, Vec<String>)>::new();
    let mut differ = Vec::new();
    for event in catalog.events() {
        let mut fields = Vec::new();
        paths("", event.fields, &mut fields);
        match seen.get(event.name) {
            Some((module, first)) if *first != fields => {
                differ.push(format!(
                    "{:?} in {module} {first:?} and in {} {fields:?}",
                    event.name, event.module
                ));
            }
            Some(_) => {}
            None => {
                seen.insert(event.name, (event.module, fields));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "events declared twice with other fields (rename one):\n{}",
        differ.join("\n")
    );
    assert!(seen.len() > 100, "the modules' events are collected: {}", seen.len());
}
