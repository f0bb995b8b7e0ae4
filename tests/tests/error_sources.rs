//! Errors say what went wrong and keep what caused it: `source()` leads
//! from a refused `init` to the configuration error, and from a failed
//! subcommand to the I/O error behind it.

use std::error::Error;
use std::io::{self, Write};

use telemetry_runtime::{cli, Config, InitError, Level, Telemetry};
use telemetry_tests::Sandbox;

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
fn a_refused_init_leads_to_the_configuration_error() {
    let err = telemetry_runtime::init(Config::new("", "1.0.0")).expect_err("an empty app name is refused");
    assert!(matches!(err, InitError::Config(_)), "{err:?}");
    let source = err.source().expect("the configuration error is the source");
    assert!(source.to_string().contains("app name"), "{source}");
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
