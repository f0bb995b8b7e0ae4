//! Compile-time tests of the macros (trybuild): every audit rule and misuse
//! in `ui/fail` with its reviewed `.stderr`, every supported shape in
//! `ui/pass`. Regenerate snapshots with
//! `TRYBUILD=overwrite cargo test -p telemetry-tests --test ui`, then review
//! them with `git diff`.
//!
//! Cases in `ui/pending` show behaviour the macros do not have yet;
//! they are not run.

use std::process::Command;

/// Diagnostics drift between compiler versions: the snapshots are for stable.
fn on_stable() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc).arg("--version").output().map(|o| o.stdout).unwrap_or_default();
    let version = String::from_utf8_lossy(&version);
    !version.is_empty()
        && !version.contains("nightly")
        && !version.contains("beta")
        && !version.contains("dev")
}

#[test]
fn ui() {
    if !on_stable() {
        return telemetry_tests::skip("ui", "the snapshots are for the stable compiler");
    }
    // trybuild builds its cases in a project of its own, in
    // `target/tests/trybuild`, with every dependency of this crate (about
    // 150 crates, built again: its flags differ from the workspace's) and
    // without the workspace's profile, so with full debug info. The cases
    // need none (their diagnostics are the same): a fresh run took 112 s
    // instead of 196 s. The cargo that trybuild starts reads this variable;
    // this binary runs this one test.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "false");
    let cases = trybuild::TestCases::new();
    // Relative to this crate's directory (`tests/`), where cargo runs the test.
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
