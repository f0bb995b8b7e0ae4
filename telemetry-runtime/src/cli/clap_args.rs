//! The subcommands and the `--no-telemetry` flag as clap derive types
//! (the `clap` feature): [`TelemetryArgs`] and [`NoTelemetry`].

use std::io::{self, Write};

use super::command::TelemetryCommand;
use crate::{Config, Level, Telemetry};

/// The `telemetry` subcommand of a program whose arguments are parsed by
/// clap's derive: mount it as a variant of the program's own
/// [`clap::Subcommand`] enum, and [`run`](TelemetryArgs::run) it on the
/// client. Without a subcommand it runs `status`, as
/// [`run_command`](super::run_command) does.
///
/// ```
/// use clap::{Parser, Subcommand};
/// use telemetry_runtime::cli::{NoTelemetry, TelemetryArgs};
/// use telemetry_runtime::{Config, Level};
///
/// /// mytool: builds things.
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     telemetry: NoTelemetry,
///     #[command(subcommand)]
///     command: Command,
/// }
///
/// #[derive(Subcommand)]
/// enum Command {
///     /// Build the project.
///     Build,
///     /// See or change what telemetry collects.
///     Telemetry(TelemetryArgs),
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     # let dir = tempfile::tempdir()?;
///     let cli = Cli::try_parse_from(["mytool", "--no-telemetry", "telemetry", "status"])?;
///     let config = Config::new("mytool", "1.0.0").default_level(Level::Usage);
///     # let config = config.dirs(|d| telemetry_runtime::Dirs { config: Some(dir.path().into()), cache: Some(dir.path().into()), ..d });
///     let telemetry = telemetry_runtime::init(cli.telemetry.configure(config))?;
///     match cli.command {
///         Command::Build => { /* ... */ }
///         Command::Telemetry(command) => command.run(&telemetry, &mut std::io::stdout())?,
///     }
///     assert!(!telemetry.is_enabled());
///     Ok(())
/// }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct TelemetryArgs {
    /// The subcommand; `None` runs `status`.
    #[command(subcommand)]
    command: Option<TelemetryCommand>,
}

impl TelemetryArgs {
    /// Runs the subcommand (`status` when there is none) on `client` and
    /// writes its output to `out`.
    pub fn run(self, client: &Telemetry, out: &mut dyn Write) -> io::Result<()> {
        self.command.unwrap_or(TelemetryCommand::Status).run(client, out)
    }
}

/// A `--no-telemetry` flag to `#[command(flatten)]` into a clap derive
/// parser: the user's explicit choice for this run, which outranks every
/// other consent source. It is global: it may come before or after a
/// subcommand. See [`TelemetryArgs`] for a whole program.
///
/// ```
/// use clap::Parser;
/// use telemetry_runtime::cli::NoTelemetry;
/// use telemetry_runtime::{Config, ConsentSource, Level, Telemetry};
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     telemetry: NoTelemetry,
/// }
///
/// let cli = Cli::try_parse_from(["mytool", "--no-telemetry"])?;
/// let config = Config::new("mytool", "1.0.0").default_level(Level::Usage);
/// let telemetry = Telemetry::new(cli.telemetry.configure(config))?;
/// assert_eq!(telemetry.consent().source, ConsentSource::Explicit);
/// assert!(!telemetry.is_enabled());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct NoTelemetry {
    /// Turn telemetry off for this run: nothing is collected, written or sent.
    #[arg(long = "no-telemetry", global = true)]
    pub no_telemetry: bool,
}

impl NoTelemetry {
    /// The consent the flag asks for: `Some(Level::Off)` when it was given,
    /// `None` when the other sources decide; for [`Config::consent`].
    pub(crate) fn consent(self) -> Option<Level> {
        self.no_telemetry.then_some(Level::Off)
    }

    /// `config` with the flag's choice applied: [`Config::consent`] with
    /// `Level::Off` when it was given, `config` unchanged otherwise.
    pub fn configure(self, config: Config) -> Config {
        match self.consent() {
            Some(level) => config.consent(level),
            None => config,
        }
    }
}
