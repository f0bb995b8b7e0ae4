//! The subcommands: [`run_command`] reads them from words,
//! `TelemetryCommand` holds one as a value (clap's, with the `clap`
//! feature) and runs it; `on`, `full`,
//! `off`, `local` and `reset` are here, the others in modules of their own.

use std::io::{self, Write};
use std::path::PathBuf;

use super::preview::preview;
use super::report::report;
use super::status::Status;
use crate::error::Because;
use crate::local::identity::IdSource;
use crate::{ConsentSource, Level, Telemetry};

/// The subcommands and what they do, for `help`.
pub(crate) const USAGE: &str = "\
status            what telemetry does now, and why
on | full | off   save your choice: usage data, also opt-in fields, or nothing
local             keep events in a file on this machine only
reset             delete the anonymous id and what was kept with it (keeps your choice)
catalog [--json]  list every event and field the program can send
preview [--full]  show the events as they would be sent (at usage, or at full)
report [--html FILE]
                  show the reports by period: the counts so far, and the reports waiting
                  and sent, exactly as sent; with --html, also as a page with charts";

/// Runs one subcommand (`args` excludes the program and `telemetry` words)
/// and writes its output to `out`. No arguments means `status`; `help`
/// lists the subcommands.
///
/// ```
/// use telemetry_runtime::{cli, Config, Level, Telemetry};
///
/// let client = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Off))?;
/// let mut out = Vec::new();
/// cli::run_command(&client, &["catalog", "--json"], &mut out)?;
/// assert!(String::from_utf8(out)?.starts_with('{'));
/// assert!(cli::run_command(&client, &["bogus"], &mut Vec::new()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_command<S: AsRef<str>>(client: &Telemetry, args: &[S], out: &mut dyn Write) -> io::Result<()> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let command = match args.as_slice() {
        [] | ["status"] => TelemetryCommand::Status,
        ["on"] => TelemetryCommand::On,
        ["full"] => TelemetryCommand::Full,
        ["off"] => TelemetryCommand::Off,
        ["local"] => TelemetryCommand::Local,
        ["reset"] => TelemetryCommand::Reset,
        ["catalog"] => TelemetryCommand::Catalog { json: false },
        ["catalog", "--json"] => TelemetryCommand::Catalog { json: true },
        ["preview"] => TelemetryCommand::Preview { full: false },
        ["preview", "--full"] => TelemetryCommand::Preview { full: true },
        ["report"] => TelemetryCommand::Report { html: None },
        ["report", "--html", file] => TelemetryCommand::Report { html: Some(PathBuf::from(file)) },
        ["help" | "--help" | "-h"] => return writeln!(Output(out), "{USAGE}"),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown telemetry command {:?}\n\n{USAGE}", args.join(" ")),
            ))
        }
    };
    command.run(client, out)
}

/// One of the ready `telemetry` subcommands, as [`run_command`] reads them
/// from words and, with the `clap` feature, as the subcommand of
/// `TelemetryArgs`. Its doc comments are the commands' help.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Subcommand))]
pub(crate) enum TelemetryCommand {
    /// Show what telemetry does now, and why.
    Status,
    /// Save your choice: send anonymous usage data.
    On,
    /// Save your choice: send usage data and the fields marked opt-in.
    Full,
    /// Save your choice: send nothing.
    Off,
    /// Save your choice: keep events in a file on this machine only.
    Local,
    /// Delete the anonymous id and the saved choice.
    Reset,
    /// List every event and field the program can send.
    Catalog {
        /// Print JSON instead of Markdown.
        #[cfg_attr(feature = "clap", arg(long))]
        json: bool,
    },
    /// Show the events as they would be sent, with placeholder values.
    Preview {
        /// Show them as sent at full consent instead of usage.
        #[cfg_attr(feature = "clap", arg(long))]
        full: bool,
    },
    /// Show the reports by period: the counts so far, and the reports waiting and sent, exactly as
    /// sent.
    Report {
        /// Also write them as one page, with a chart per count, to this file.
        #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
        html: Option<PathBuf>,
    },
}

impl TelemetryCommand {
    /// Runs the subcommand on `client` and writes its output to `out`,
    /// exactly as [`run_command`] does for the same words.
    pub(crate) fn run(self, client: &Telemetry, out: &mut dyn Write) -> io::Result<()> {
        let out = &mut Output(out);
        match self {
            TelemetryCommand::Status => Status::of(client).write_to(out)?,
            TelemetryCommand::On => choose(client, "usage", out)?,
            TelemetryCommand::Full => choose(client, "full", out)?,
            TelemetryCommand::Off => choose(client, "off", out)?,
            TelemetryCommand::Local => choose(client, "local", out)?,
            TelemetryCommand::Reset => reset(client, out)?,
            TelemetryCommand::Catalog { json: false } => {
                out.write_all(client.catalog().to_markdown(client.app_name()).as_bytes())?
            }
            TelemetryCommand::Catalog { json: true } => {
                out.write_all(client.catalog().to_json().as_bytes())?
            }
            TelemetryCommand::Preview { full } => {
                preview(client, if full { Level::Full } else { Level::Usage }, out)?
            }
            TelemetryCommand::Report { html } => report(client, html.as_deref(), out)?,
        }
        Ok(())
    }
}

/// A command's output: a write that fails says so, with the reason as its
/// source.
struct Output<'a>(&'a mut dyn Write);

impl Write for Output<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(cannot_write)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(cannot_write)
    }
}

fn cannot_write(err: io::Error) -> io::Error {
    Because::io("cannot write the command's output".to_owned(), err)
}

fn choose(client: &Telemetry, choice: &str, out: &mut dyn Write) -> io::Result<()> {
    client
        .persist_choice(choice)
        .map_err(|e| Because::io("cannot save the telemetry choice".to_owned(), e))?;
    if let Some(path) = client.consent_path() {
        writeln!(out, "Saved \"{choice}\" in {}.", path.display())?;
    }
    let consent = client.consent();
    if !matches!(consent.source, ConsentSource::Persisted(_)) {
        writeln!(
            out,
            "Note: {} still decides while it is set (telemetry is {}).",
            consent.source, consent.level
        )?;
    }
    Ok(())
}

fn reset(client: &Telemetry, out: &mut dyn Write) -> io::Result<()> {
    client.reset_identity().map_err(|e| Because::io("cannot delete the anonymous id".to_owned(), e))?;
    match (client.id_source(), client.id_path()) {
        (IdSource::Install, Some(path)) => writeln!(
            out,
            "Deleted the anonymous id ({}) and the key of hashed values; new ones are made when \
             telemetry next sends.",
            path.display()
        )?,
        (IdSource::Install, None) => writeln!(out, "Replaced this run's anonymous id (no cache directory).")?,
        (IdSource::Hashed(_), _) => writeln!(
            out,
            "Renewed the key of hashed values: the id this program sends (a keyed hash of its own) \
             changes with it."
        )?,
        (IdSource::Given(_), _) => writeln!(
            out,
            "This program supplies its own id: there is none here to delete. Renewed the key of hashed \
             values."
        )?,
    }
    writeln!(out, "Deleted what was kept with the old id: unsent batches, the record of recent deliveries.")?;
    // The user's decision is theirs, not the id's: it stays.
    let consent = client.consent();
    writeln!(out, "Telemetry: {} (decided by {}); your choice is kept.", consent.level, consent.source)?;
    Ok(())
}
