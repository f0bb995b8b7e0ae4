//! `Telemetry::version_change`: first runs, upgrades and ordinary runs told
//! apart through a record in the cache directory, which is only read or
//! written with telemetry on.

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Level, Telemetry, VersionChange};
use telemetry_tests::Sandbox;

/// A client of `testapp` at `version`, with the sandbox's directories and
/// settings (`Sandbox::config` is always version 1.2.3).
fn client(sandbox: &Sandbox, version: &'static str) -> Telemetry {
    let config = telemetry_runtime::Config::new("testapp", version)
        .environment(telemetry_tests::env(&[]))
        .dirs(|_| telemetry_runtime::Dirs {
            cache: Some(sandbox.cache_dir()),
            config: Some(sandbox.config_dir()),
            data: Some(sandbox.data_dir()),
        })
        .default_level(Level::Usage)
        .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
        .sink(MemorySink::new());
    Telemetry::new(config).unwrap()
}

#[test]
fn first_run_unchanged_and_changed_across_runs() {
    let sandbox = Sandbox::new();
    let record = sandbox.cache_dir().join("telemetry_version");
    let first = client(&sandbox, "1.2.3");
    assert!(!record.exists(), "nothing is written before the question is asked");
    assert_eq!(first.version_change(), Some(VersionChange::FirstRun));
    assert_eq!(first.version_change(), Some(VersionChange::FirstRun), "one answer per process");
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), "1.2.3");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&record).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(client(&sandbox, "1.2.3").version_change(), Some(VersionChange::Unchanged));
    assert_eq!(
        client(&sandbox, "1.3.0").version_change(),
        Some(VersionChange::Changed { previous: "1.2.3".to_owned() })
    );
    assert_eq!(client(&sandbox, "1.3.0").version_change(), Some(VersionChange::Unchanged));
}

#[test]
fn with_consent_off_nothing_is_read_or_written_until_it_is_given() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().consent(Level::Off).sink(MemorySink::new())).unwrap();
    assert_eq!(telemetry.version_change(), None);
    assert!(sandbox.files().is_empty(), "{:?}", sandbox.files());
    telemetry.set_consent(Level::Usage);
    assert_eq!(telemetry.version_change(), Some(VersionChange::FirstRun));
    telemetry.set_consent(Level::Off);
    assert_eq!(telemetry.version_change(), None, "off again: no answer");
}

#[test]
fn a_reset_makes_the_next_run_a_first_run() {
    let sandbox = Sandbox::new();
    let telemetry = client(&sandbox, "1.2.3");
    assert_eq!(telemetry.version_change(), Some(VersionChange::FirstRun));
    assert_eq!(client(&sandbox, "1.2.3").version_change(), Some(VersionChange::Unchanged));
    telemetry.reset_identity().unwrap();
    assert!(!sandbox.cache_dir().join("telemetry_version").exists());
    assert_eq!(client(&sandbox, "1.2.3").version_change(), Some(VersionChange::FirstRun));
}

#[test]
fn an_unwritable_cache_directory_means_a_first_run_and_no_failure() {
    let sandbox = Sandbox::new();
    // A cache directory that cannot be created: a file is in its way.
    std::fs::write(sandbox.path().join("blocked"), "").unwrap();
    let config = sandbox
        .config()
        .dirs(|d| telemetry_runtime::Dirs { cache: Some(sandbox.path().join("blocked").join("cache")), ..d })
        .sink(MemorySink::new());
    let telemetry = Telemetry::new(config).unwrap();
    // Unwritable: every run looks like a first run, and nothing panics.
    assert_eq!(telemetry.version_change(), Some(VersionChange::FirstRun));
}

#[cfg(unix)]
#[test]
fn a_link_at_the_record_is_never_followed() {
    let sandbox = Sandbox::new();
    let target = sandbox.path().join("precious");
    std::fs::write(&target, "1.2.3\n").unwrap();
    std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
    std::os::unix::fs::symlink(&target, sandbox.cache_dir().join("telemetry_version")).unwrap();
    // Not read through the link (it would say Unchanged), not written through it.
    assert_eq!(client(&sandbox, "2.0.0").version_change(), Some(VersionChange::FirstRun));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "1.2.3\n");
    assert!(sandbox
        .cache_dir()
        .join("telemetry_version")
        .symlink_metadata()
        .unwrap()
        .file_type()
        .is_symlink());
}
