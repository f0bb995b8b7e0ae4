//! Errors say what went wrong and keep what caused it: `source()` leads
//! from a refused `init` to the configuration error, and from a failed
//! subcommand to the I/O error behind it. Each message is in one place: an
//! error whose cause is its source does not repeat the source's message, so
//! a chain printed whole (`anyhow`'s `{:#}`) shows every message once. Every
//! error type of the crate is walked here.

use std::error::Error;
use std::io::{self, Write};
use std::time::Duration;

use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::{cli, Catalog, Config, ConfigErrorKind, Level, Properties, Telemetry};
use telemetry_tests::{child, logs, Sandbox, SOON};

telemetry_runtime::event! {
    /// Sent to a local file that cannot be written.
    static UNWRITTEN = "unwritten" {}
}

/// The messages of `err` and its sources, outermost first.
fn chain(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut source = err.source();
    while let Some(next) = source {
        messages.push(next.to_string());
        source = next.source();
    }
    messages
}

/// Walks the chain of `err`: `links` messages, none empty, and none
/// containing a message further down (printed whole, it would show twice).
/// Returns the chain as `{:#}` would print it.
fn assert_each_message_once(err: &(dyn Error + 'static), links: usize) -> String {
    let messages = chain(err);
    assert_eq!(messages.len(), links, "{messages:?}");
    for (i, outer) in messages.iter().enumerate() {
        assert!(!outer.trim().is_empty(), "an empty message in {messages:?}");
        for inner in &messages[i + 1..] {
            assert!(!outer.contains(inner.as_str()), "{inner:?} shows twice in the chain {messages:?}");
        }
    }
    messages.join(": ")
}

/// A terminal that is gone: every write fails.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "the terminal is gone"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_refused_init_is_the_configuration_error() {
    let err = telemetry_runtime::init(Config::new("", "1.0.0")).expect_err("an empty app name is refused");
    assert_eq!(err.kind(), ConfigErrorKind::AppName, "{err:?}");
    assert!(err.to_string().contains("app name"), "{err}");
}

#[test]
fn a_failed_subcommand_leads_to_the_io_error_behind_it() {
    let sandbox = Sandbox::new();
    let client = Telemetry::new(sandbox.config().consent(Level::Off)).unwrap();
    let err = cli::run_command(&client, &["status"], &mut Closed).expect_err("writing fails");
    let source = err.source().expect("the I/O error is the source");
    let io = source.downcast_ref::<io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), io::ErrorKind::BrokenPipe);

    let unknown = cli::run_command(&client, &["bogus"], &mut Vec::new()).expect_err("an unknown command");
    assert!(unknown.to_string().contains("unknown telemetry command"), "{unknown}");
    assert!(unknown.source().is_none(), "nothing behind a usage error");
}

#[test]
fn a_refused_init_shows_each_message_once() {
    let err = telemetry_runtime::init(Config::new("", "1.0.0")).expect_err("an empty app name is refused");
    // A configuration error has nothing behind it.
    let whole = assert_each_message_once(&err, 1);
    assert!(whole.starts_with("invalid telemetry configuration: app name"), "{whole}");
    // A configuration refused by a sink's constructor, without `init`.
    let sink = telemetry_runtime::sink::HttpSink::new("ftp://example.com").expect_err("not http(s)");
    assert_each_message_once(&sink, 1);
}

#[test]
fn failed_subcommands_show_each_message_once() {
    let sandbox = Sandbox::new();
    let client = Telemetry::new(sandbox.config().consent(Level::Off)).unwrap();
    // Output that cannot be written, for every command that writes some.
    for args in [&["status"][..], &["catalog"], &["catalog", "--json"], &["preview"], &["help"]] {
        let err = cli::run_command(&client, args, &mut Closed).expect_err("writing fails");
        let whole = assert_each_message_once(&err, 2);
        assert_eq!(whole, "cannot write the command's output: the terminal is gone", "{args:?}");
    }
    // A choice that cannot be saved: a directory where the file goes.
    std::fs::create_dir_all(sandbox.config_dir().join("telemetry_consent")).unwrap();
    let err = cli::run_command(&client, &["off"], &mut Vec::new()).expect_err("the choice cannot be saved");
    let whole = assert_each_message_once(&err, 2);
    assert!(whole.starts_with("cannot save the telemetry choice: "), "{whole}");
    // A usage error has nothing behind it.
    let unknown = cli::run_command(&client, &["bogus"], &mut Vec::new()).expect_err("an unknown command");
    assert_each_message_once(&unknown, 1);
}

#[test]
fn a_catalog_page_that_differs_shows_its_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("TELEMETRY.md");
    std::fs::write(&path, "# An old page\n").unwrap();
    let err = telemetry_runtime::testing::check_catalog_file(&Catalog::collect(), "testapp", &path)
        .expect_err("the page differs");
    assert_each_message_once(&err, 1);
}

/// The child's part: rewriting the catalog page where a directory stands.
fn rewrite_a_catalog_page_over_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("TELEMETRY.md");
    std::fs::create_dir(&path).unwrap();
    let err = telemetry_runtime::testing::check_catalog_file(&Catalog::collect(), "testapp", &path)
        .expect_err("the page cannot be written");
    let whole = assert_each_message_once(&err, 2);
    child::report("chain", whole);
}

#[test]
fn a_catalog_page_that_cannot_be_rewritten_shows_each_message_once() {
    if child::mode().is_some() {
        return rewrite_a_catalog_page_over_a_directory();
    }
    // The rewrite is asked for through the process environment: in a child,
    // so that no other test of this binary sees the variable.
    let update = [("TELEMETRY_CATALOG_UPDATE", std::ffi::OsStr::new("1"))];
    let output = child::run(
        "error_sources::a_catalog_page_that_cannot_be_rewritten_shows_each_message_once",
        "rewrite",
        &update,
        Duration::from_secs(30),
    );
    assert!(output.success(), "the child failed:\n{}", output.stderr);
    let chain = output.value("chain").expect("the child reported the chain");
    assert!(chain.starts_with("cannot write ") && chain.contains("TELEMETRY.md: "), "{chain}");
}

#[test]
fn a_local_file_that_cannot_be_written_is_logged_with_each_message_once() {
    logs::install();
    let sandbox = Sandbox::new();
    // A directory where the events file goes: it cannot be opened for appending.
    let path = sandbox.path().join("events.jsonl");
    std::fs::create_dir(&path).unwrap();
    let telemetry = Telemetry::new(sandbox.config().sink(JsonlSink::new(&path))).unwrap();
    telemetry.capture_with(&UNWRITTEN, Properties::new());
    assert!(!telemetry.flush(SOON), "the event was not written");
    let shown = format!("cannot append to {}", path.display());
    let line = logs::wait_for(SOON, |l| l.message.contains(&shown)).expect("the failure is logged");
    // The sink's error, then the I/O error behind it, each once.
    let (_, io) = line.message.split_once(&format!("{shown}: ")).expect("the I/O error follows");
    assert!(!io.is_empty() && !io.contains(&shown), "{line:?}");
    assert_eq!(line.message.matches(&shown).count(), 1, "{line:?}");
    assert_eq!(line.message.matches(io).count(), 1, "{line:?}");
}
