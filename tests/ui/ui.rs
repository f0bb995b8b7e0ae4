//! Compile-time tests of the macros (trybuild): every audit rule and misuse
//! in `fail` with its reviewed `.stderr`, every supported shape in `pass`.
//! Regenerate snapshots with
//! `TRYBUILD=overwrite cargo test -p telemetry-ui-tests`, then review them
//! with `git diff`.
//!
//! Cases in `pending` show behaviour the macros do not have yet; they are
//! not run.

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

/// Says that the cases cannot run here, as `telemetry_tests::skip` does
/// (this package leaves the integration tests' dependencies out): on the
/// test's output, or as a failure with `TELEMETRY_TESTS_NO_SKIP=1`.
fn skip(why: &str) {
    use std::io::Write;
    if std::env::var_os("TELEMETRY_TESTS_NO_SKIP").is_some_and(|v| v == "1") {
        panic!("ui cannot run here ({why}), and TELEMETRY_TESTS_NO_SKIP=1 allows no skipped test");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED ui: {why}");
}

#[test]
fn ui() {
    if !on_stable() {
        return skip("the snapshots are for the stable compiler");
    }
    // trybuild builds its cases in a project of its own, in
    // `target/tests/trybuild`, with every dependency of this package (built
    // again: its flags differ from the workspace's) and without the
    // workspace's profile, so with full debug info. The cases need none
    // (their diagnostics are the same): a fresh run took 112 s instead of
    // 196 s. The cargo that trybuild starts reads this variable; this binary
    // runs this one test.
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "false");
    let cases = trybuild::TestCases::new();
    // Relative to this package's directory (`tests/ui`), where cargo runs
    // the test.
    cases.compile_fail("fail/*.rs");
    cases.pass("pass/*.rs");
}
