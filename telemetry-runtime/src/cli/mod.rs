//! Ready-made `telemetry` subcommands for a host command-line program, and
//! the report behind `telemetry status`.
//!
//! What it offers:
//!
//! - [`run_command`]: runs one subcommand from the words after `telemetry`
//!   (`status`, `on`, `off`, `full`, `local`, `reset`, `catalog [--json]`,
//!   `preview [--full]`, `report [--html FILE]`, `help`, which lists them)
//!   and writes its output;
//! - [`Status`]: what `status` prints, as data: the consent in force and
//!   where it came from, where events go (sinks, debug or local-only mode),
//!   and the files the library keeps on this machine (install id, saved
//!   choice, recent deliveries, local events);
//! - with the `clap` feature, `TelemetryArgs` (the `telemetry` subcommand
//!   for a clap derive parser) and `NoTelemetry` (a `--no-telemetry` flag).
//!
//! A subcommand that cannot run returns an `io::Error`: of kind
//! `InvalidInput` for words that are not a subcommand (its message lists
//! them), otherwise saying what could not be done (`cannot save the
//! telemetry choice`, `cannot write the command's output`, ...), with the
//! reason as its [`source`](std::error::Error::source).
//!
//! A program that parses its arguments by hand passes the words after
//! `telemetry` to [`run_command`]:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let client = telemetry_runtime::Telemetry::new(telemetry_runtime::Config::new("mytool", "1.0.0"))?;
//! let args: Vec<String> = std::env::args().collect();
//! if args.get(1).map(String::as_str) == Some("telemetry") {
//!     // mytool telemetry [status|on|off|full|local|reset|catalog [--json]|preview [--full]]
//!     telemetry_runtime::cli::run_command(&client, &args[2..], &mut std::io::stdout())?;
//!     return Ok(());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! With the `clap` feature, a program built on clap's derive mounts
//! [`TelemetryArgs`](struct.TelemetryArgs.html) as its `telemetry`
//! subcommand and flattens [`NoTelemetry`](struct.NoTelemetry.html) into its
//! arguments for a `--no-telemetry` flag; see `TelemetryArgs` for a whole
//! program.

// Links to the clap types are plain: the types exist only with the feature,
// and an intra-doc link to them would break the docs built without it.

#[cfg(feature = "clap")]
mod clap_args;
mod command;
mod preview;
mod report;
mod status;

#[cfg(feature = "clap")]
pub use self::clap_args::{NoTelemetry, TelemetryArgs};
pub use self::command::run_command;
pub use self::status::Status;
