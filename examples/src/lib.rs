//! The examples of `telemetry-runtime`.
//!
//! - The agent runner: a small command-line program in the style of an MCP
//!   or computer-use agent, instrumented with every feature of the library
//!   ([`events`], [`runner`]; `src/agent.rs` is its `main`).
//! - Ports of other tools' telemetry, each reproducing one published
//!   design with this library, its differences listed in its module docs:
//!   [`mcp_use`] (`src/bin/mcp_use.rs`), [`toolhive`] (`src/bin/thv.rs`).
//!
//! All of them share this library, so each binary links every example's
//! events: each program keeps its own catalog with
//! [`Catalog::collect_under`].

use telemetry_runtime::Catalog;

pub mod events;
pub mod mcp_use;
pub mod runner;
pub mod toolhive;

/// An error and the errors behind it on one line, `what failed: why: …`:
/// how these programs show an error of the library, whose own message says
/// what could not be done and whose [`source`](std::error::Error::source)
/// says why (each message once, as `anyhow`'s `{:#}` prints them).
///
/// ```
/// use telemetry_runtime::{cli, Config, Level, Telemetry};
///
/// /// An output that is gone.
/// struct Closed;
/// impl std::io::Write for Closed {
///     fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
///         Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the terminal is gone"))
///     }
///     fn flush(&mut self) -> std::io::Result<()> {
///         Ok(())
///     }
/// }
///
/// let client = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Off))?;
/// let err = cli::run_command(&client, &["catalog"], &mut Closed).unwrap_err();
/// let shown = telemetry_examples::error_chain(&err);
/// assert_eq!(shown, "cannot write the command's output: the terminal is gone");
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut shown = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        shown.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    shown
}

/// What the agent sends: the events of [`events`] and [`runner`].
pub fn agent_catalog() -> Catalog {
    Catalog::collect_under([concat!(module_path!(), "::events"), concat!(module_path!(), "::runner")])
}
