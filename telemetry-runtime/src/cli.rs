//! Ready-made `telemetry` subcommands for a host command-line program, and
//! the report behind `telemetry status`.
//!
//! What it offers:
//!
//! - [`run_command`]: runs one subcommand from the words after `telemetry`
//!   (`status`, `on`, `off`, `full`, `local`, `reset`, `catalog [--json]`,
//!   `preview [--full]`, `report [--html FILE]`, `help`; see [`USAGE`]) and
//!   writes its output;
//! - [`TelemetryCommand`]: the same subcommands as a value, to
//!   [`run`](TelemetryCommand::run) on a client;
//! - [`Status`]: what `status` prints, as data: the consent in force and
//!   where it came from, where events go (sinks, debug or local-only mode),
//!   and the files the library keeps on this machine (install id, saved
//!   choice, recent deliveries, local events);
//! - [`CommandError`]: why a subcommand could not run;
//! - with the `clap` feature, `TelemetryArgs` (the `telemetry` subcommand
//!   for a clap derive parser) and `NoTelemetry` (a `--no-telemetry` flag).
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
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};

use std::sync::atomic::Ordering::Relaxed;

use crate::local::identity::IdSource;
use crate::local::{consent, files};
use crate::model::schema::{Classification, EventSchema, RedactMode};
use crate::pipeline::report::Shown;
#[cfg(feature = "clap")]
use crate::Config;
use crate::{Catalog, Consent, ConsentSource, Level, Stats, Telemetry};

/// The subcommands and what they do, for `help`.
pub const USAGE: &str = "\
status            what telemetry does now, and why
on | full | off   save your choice: usage data, also opt-in fields, or nothing
local             keep events in a file on this machine only
reset             delete the anonymous id and what was kept with it (keeps your choice)
catalog [--json]  list every event and field the program can send
preview [--full]  show the events as they would be sent (at usage, or at full)
report [--html FILE]
                  show the reports by period: the counts so far, and the reports waiting
                  and sent, exactly as sent; with --html, also as a page with charts";

/// A subcommand that could not run; its [`source`](std::error::Error::source)
/// is the I/O error behind it, when there is one. Its own message says what
/// could not be done and the source says why, each once: print the chain
/// (`anyhow`'s `{:#}`, or a loop over `source()`) to show both.
#[derive(Debug)]
pub struct CommandError {
    message: String,
    source: Option<io::Error>,
}

impl CommandError {
    fn new(message: String) -> CommandError {
        CommandError { message, source: None }
    }

    /// `what` could not be done because of `err` (the source, not repeated
    /// in the message).
    fn io(what: &str, err: io::Error) -> CommandError {
        CommandError { message: what.to_owned(), source: Some(err) }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|err| err as _)
    }
}

/// A failed write of the command's output (`?` on `writeln!`).
impl From<io::Error> for CommandError {
    fn from(err: io::Error) -> CommandError {
        CommandError::io("cannot write the command's output", err)
    }
}

/// Runs one subcommand (`args` excludes the program and `telemetry` words)
/// and writes its output to `out`. No arguments means `status`; `help`
/// prints [`USAGE`].
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
pub fn run_command<S: AsRef<str>>(
    client: &Telemetry,
    args: &[S],
    out: &mut dyn Write,
) -> Result<(), CommandError> {
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
        ["help" | "--help" | "-h"] => {
            writeln!(out, "{USAGE}")?;
            return Ok(());
        }
        _ => {
            return Err(CommandError::new(format!(
                "unknown telemetry command {:?}\n\n{USAGE}",
                args.join(" ")
            )))
        }
    };
    command.run(client, out)
}

/// One of the ready `telemetry` subcommands, as [`run_command`] reads them
/// from words and, with the `clap` feature, as a
/// [`clap::Subcommand`](https://docs.rs/clap/4/clap/trait.Subcommand.html)
/// (see [`TelemetryArgs`](struct.TelemetryArgs.html)). Its doc comments are
/// the commands' help.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Subcommand))]
#[non_exhaustive]
pub enum TelemetryCommand {
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
    pub fn run(self, client: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
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

/// What `telemetry status` reports, as data: taken from a client at one
/// moment by [`Status::of`]. Its fields are public to read; more may be
/// added.
///
/// ```
/// use telemetry_runtime::{cli::Status, testing::MemorySink, Config, ConsentSource, Level, Telemetry};
/// # let dir = tempfile::tempdir()?;
///
/// let config = Config::new("mytool", "1.0.0").consent(Level::Usage).sink(MemorySink::new());
/// # let config = config.dirs(|_| telemetry_runtime::Dirs::from(dir.path()));
/// let status = Status::of(&Telemetry::new(config)?);
/// assert_eq!(status.consent.source, ConsentSource::Explicit);
/// assert_eq!(status.sink_names, ["memory"]);
/// assert!(!status.debug && !status.local_only);
/// assert!(status.id_path.unwrap().ends_with("telemetry_user_id"));
/// assert_eq!(status.env_var, "MYTOOL_TELEMETRY");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// The level in force and the source that decided it.
    pub consent: Consent,
    /// The main environment variable the user sets to choose
    /// (`MYTOOL_TELEMETRY`, or the one [`Config::env_var`](crate::EnvVars::main) named).
    pub env_var: String,
    /// Debug mode: events are printed to stderr, nothing is sent.
    pub debug: bool,
    /// Events are kept in a file on this machine only
    /// ([`local_events_path`](Status::local_events_path)).
    pub local_only: bool,
    /// Where events are written in local-only mode; `None` without a data
    /// directory.
    pub local_events_path: Option<PathBuf>,
    /// The names of the sinks events go to, in the configured order: in
    /// debug mode only `stderr`, in local-only mode only the file's sink.
    pub sink_names: Vec<String>,
    /// Those of [`sink_names`](Status::sink_names) whose routes are the
    /// user's own (see [`Route::owned_by_user`](crate::Route::owned_by_user)),
    /// governed by the user's OpenTelemetry settings rather than by consent.
    pub user_owned_sink_names: Vec<String>,
    /// The highest level the user's own settings give the user-owned sinks;
    /// see [`Telemetry::user_owned_level`].
    pub user_owned_level: Level,
    /// Where the anonymous install id is kept (it may not exist yet); `None`
    /// without a cache directory, when each run has a new one.
    pub id_path: Option<PathBuf>,
    /// Where the saved choice is kept (it may not exist); `None` without a
    /// config directory.
    pub consent_path: Option<PathBuf>,
    /// Where the most recently delivered events are kept for the user to
    /// read (it may not exist yet); `None` without a data directory, or when
    /// [`Config::recent_deliveries`](crate::Delivery::recent_deliveries) is 0.
    pub recent_deliveries_path: Option<PathBuf>,
    /// Where the counts and reports of reports by period are kept (see
    /// [`Route::per_period`](crate::Route::per_period)); `None` when no
    /// route reports by period, or without a data directory.
    pub reports_path: Option<PathBuf>,
    /// How many events the client's catalog lists.
    pub catalog_events: usize,
    /// The catalog's digest, sent with every event as `$catalog_digest`.
    pub catalog_digest: String,
    /// The client's counters.
    pub stats: Stats,
    /// The value of the variable that decided, as it may be shown, when it
    /// was not understood and so means off.
    unrecognised_value: Option<String>,
    /// With the first-run notice pending: whether this run showed it, and
    /// the level runs get once it has been shown.
    notice: Option<(bool, Level)>,
}

impl Status {
    /// The status of `client` now.
    pub fn of(client: &Telemetry) -> Status {
        let consent = client.consent();
        let resolver = client.resolver();
        let unrecognised_value = match &consent.source {
            ConsentSource::EnvVar(name) => resolver
                .env_vars
                .iter()
                .find(|var| var.name == *name)
                .and_then(|var| consent::unrecognised_value(&resolver.env, var)),
            _ => None,
        };
        let notice = (consent.source == ConsentSource::NoticePending)
            .then(|| (resolver.notice_shown.load(Relaxed), resolver.default));
        Status {
            consent,
            env_var: client.env_var().to_owned(),
            debug: client.is_debug(),
            local_only: client.is_local_only(),
            local_events_path: client.local_events_path(),
            sink_names: client.sink_names().into_iter().map(str::to_owned).collect(),
            user_owned_sink_names: client.user_owned_sink_names().into_iter().map(str::to_owned).collect(),
            user_owned_level: client.user_owned_level(),
            id_path: client.id_path().map(Path::to_path_buf),
            consent_path: client.consent_path().map(Path::to_path_buf),
            recent_deliveries_path: client.recent_deliveries_path(),
            reports_path: client.reports_path().map(Path::to_path_buf),
            catalog_events: client.catalog().events().len(),
            catalog_digest: client.catalog_digest().to_owned(),
            stats: client.stats(),
            unrecognised_value,
            notice,
        }
    }

    /// Where events go, as it really is: with consent off, nowhere but the
    /// user's own collector.
    fn mode(&self) -> String {
        let own = &self.user_owned_sink_names;
        let own_on = !own.is_empty() && self.user_owned_level > Level::Off;
        let vendor: Vec<&str> =
            self.sink_names.iter().filter(|name| !own.contains(name)).map(String::as_str).collect();
        match self.notice {
            Some((shown, level)) => {
                let later = format!("later runs send at {level} to {}", vendor.join(", "));
                return if shown {
                    format!("nothing is sent in this run, which showed the first-run notice; {later}")
                } else {
                    format!(
                        "nothing is sent yet: the next run shows the first-run notice (what is collected, \
                         how to turn it off) and sends nothing; {later}"
                    )
                };
            }
            None if self.consent.level == Level::Off => {
                return match (own_on, vendor.is_empty()) {
                    (false, _) => "off: nothing is collected or sent".to_owned(),
                    (true, false) => format!("off: nothing is sent to {}", vendor.join(", ")),
                    (true, true) => "off: only your own collector (below) gets events".to_owned(),
                };
            }
            None => {}
        }
        if self.debug {
            "debug: events are printed to stderr, nothing is sent".to_owned()
        } else if self.local_only {
            match &self.local_events_path {
                Some(path) => format!("local only: events are written to {}", path.display()),
                None => "local only: no data directory, nothing is recorded".to_owned(),
            }
        } else if self.sink_names.is_empty() {
            "no destination configured".to_owned()
        } else {
            format!("sending to {}", self.sink_names.join(", "))
        }
    }

    /// Writes the report as `telemetry status` prints it.
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        let consent = &self.consent;
        match (&consent.source, &self.unrecognised_value, self.notice) {
            (ConsentSource::EnvVar(name), Some(value), _) => writeln!(
                out,
                "Telemetry: {} (decided by environment variable {name}, whose value {value} is not \
                 understood and means off)",
                consent.level
            )?,
            (_, _, Some((false, _))) => {
                writeln!(out, "Telemetry: off in this run (decided by first-run notice, not shown yet)")?
            }
            _ => writeln!(out, "Telemetry: {} (decided by {})", consent.level, consent.source)?,
        }
        writeln!(out, "Mode: {}", self.mode())?;
        let own = &self.user_owned_sink_names;
        if !own.is_empty() {
            let state = match self.user_owned_level {
                Level::Off => "off (OTEL_SDK_DISABLED)".to_owned(),
                level => format!("on at {level}"),
            };
            writeln!(
                out,
                "Your own collector: {} {state}, governed by your OpenTelemetry settings, not by the setting above",
                own.join(", ")
            )?;
        }
        let exists = |path: &Path| if path.exists() { "" } else { " (not created)" };
        match &self.id_path {
            Some(path) => writeln!(out, "Anonymous id: {}{}", path.display(), exists(path))?,
            None => writeln!(out, "Anonymous id: a new one each run (no cache directory)")?,
        }
        if let Some(path) = &self.consent_path {
            writeln!(out, "Saved choice: {}{}", path.display(), exists(path))?;
        }
        if let Some(path) = &self.recent_deliveries_path {
            writeln!(out, "Recently sent: {}{}", path.display(), exists(path))?;
        }
        if let Some(path) = &self.reports_path {
            writeln!(out, "Reports by period: {}{} (see the report command)", path.display(), exists(path))?;
        }
        writeln!(out, "Catalog: {} events (digest {})", self.catalog_events, self.catalog_digest)?;
        let stats = &self.stats;
        writeln!(
            out,
            "This run: {} captured, {} sent, {} dropped",
            stats.captured,
            stats.sent,
            stats.dropped_total()
        )?;
        if consent.source == ConsentSource::Explicit {
            // No variable outranks the program's own choice: do not claim one would.
            writeln!(
                out,
                "Change it: this run's choice was made by the program itself (for example a command-line \
                 flag); the on/off/full/local commands save a choice for runs without it."
            )
        } else {
            writeln!(
                out,
                "Change it: set {}=off|on|full|local, or use the on/off/full/local commands.",
                self.env_var
            )
        }
    }
}

fn choose(client: &Telemetry, choice: &str, out: &mut dyn Write) -> Result<(), CommandError> {
    client.persist_choice(choice).map_err(|e| CommandError::io("cannot save the telemetry choice", e))?;
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

fn reset(client: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
    client.reset_identity().map_err(|e| CommandError::io("cannot delete the anonymous id", e))?;
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

/// The reports by period, each report on a line of its own, exactly as it
/// will be or was sent; with `html`, also the page.
fn report(client: &Telemetry, html: Option<&Path>, out: &mut dyn Write) -> Result<(), CommandError> {
    let routes = client.reports();
    if let Some(path) = html {
        let page = crate::report_page::page(client.app_name(), client.catalog(), &routes);
        files::write_private(path, &page, files::Existing::Replace)
            .map_err(|e| CommandError::io(&format!("cannot write {}", path.display()), e))?;
        writeln!(out, "Wrote {}.", path.display())?;
    }
    if routes.is_empty() {
        writeln!(out, "This program does not report by period: what it sends, it sends as it happens.")?;
        return Ok(());
    }
    if let Some(dir) = client.reports_path() {
        writeln!(out, "Counts and reports are kept in {}.", dir.display())?;
    }
    for route in &routes {
        let period = crate::model::period::length_in_words(route.period);
        let id = if route.install_id {
            "with the install id"
        } else {
            "each with an id of its own (from the period and a key kept on this machine)"
        };
        writeln!(out, "\nTo {}: one report a {period}, {id}.", route.sink)?;
        let when = |shown: &Shown| {
            format!("{} to {} (UTC)", day(shown.counts.start_time()), day(shown.counts.end_time()))
        };
        match &route.current {
            Some(current) => {
                writeln!(out, "This {period} so far, {}; sent after it ends as:", when(current))?;
                writeln!(out, "{}", current.wire)?;
            }
            None => writeln!(out, "Nothing counted this {period} yet.")?,
        }
        if route.pending.is_empty() {
            writeln!(out, "No report waiting to be sent.")?;
        }
        for pending in &route.pending {
            writeln!(out, "Waiting to be sent, {}:", when(pending))?;
            writeln!(out, "{}", pending.wire)?;
        }
        // The last few; the page shows every one kept.
        for sent in route.sent.iter().rev().take(5).rev() {
            let at = sent.sent_at.as_deref().unwrap_or("at a time not recorded");
            writeln!(out, "Sent {at}, {}:", when(sent))?;
            writeln!(out, "{}", sent.wire)?;
        }
    }
    Ok(())
}

/// A day as `YYYY-MM-DD`, or with the time when it is not midnight UTC.
fn day(time: std::time::SystemTime) -> String {
    let text = crate::model::time::rfc3339(time);
    match text.strip_suffix("T00:00:00.000Z") {
        Some(day) => day.to_owned(),
        None => text,
    }
}

/// Every event as it would be sent at `level`, with placeholders for values.
fn preview(client: &Telemetry, level: Level, out: &mut dyn Write) -> io::Result<()> {
    let events: Vec<Json> = client
        .catalog()
        .events()
        .iter()
        .filter(|e| e.min_level <= level)
        .map(|e| sample_event(client.catalog(), e, level))
        .collect();
    writeln!(out, "Events as sent at level \"{level}\" (values are placeholders):")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&events).unwrap_or_default())
}

fn sample_event(catalog: &Catalog, event: &EventSchema, level: Level) -> Json {
    let mut properties = Map::new();
    for field in event.fields {
        let sample = match field.classification {
            Classification::OptIn if level < Level::Full => continue,
            Classification::Redact(RedactMode::Drop) => continue,
            Classification::Public | Classification::OptIn => {
                json!(crate::model::catalog::placeholder(field))
            }
            Classification::Redact(RedactMode::Marker) => json!("[redacted]"),
            Classification::Redact(RedactMode::Length) => json!("<length>"),
            Classification::Redact(RedactMode::Hash) => json!("<keyed hash>"),
        };
        properties.insert(field.name.to_owned(), sample);
    }
    for (name, _) in catalog.envelope().filter(|(n, _)| n.starts_with('$')) {
        let sample = match name {
            "$process_person_profile" => json!(false),
            "$geoip_disable" => json!(true),
            "$sample_rate" if event.sample_rate >= 1.0 => continue,
            "$sample_rate" => json!(event.sample_rate),
            _ => json!(format!("<{}>", &name[1..])),
        };
        properties.insert((*name).to_owned(), sample);
    }
    json!({
        "event": event.name,
        "distinct_id": "<anonymous id>",
        "uuid": "<event uuid>",
        "timestamp": "<time>",
        "properties": properties,
    })
}

/// The `telemetry` subcommand of a program whose arguments are parsed by
/// clap's derive: mount it as a variant of the program's own
/// [`clap::Subcommand`] enum, and [`run`](TelemetryArgs::run) it on the
/// client. Without a subcommand it runs `status`, as [`run_command`] does.
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
///         Command::Telemetry(command) => command.run(telemetry.client(), &mut std::io::stdout())?,
///     }
///     assert!(!telemetry.client().is_enabled());
///     Ok(())
/// }
/// ```
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct TelemetryArgs {
    /// The subcommand; `None` runs `status`.
    #[command(subcommand)]
    pub command: Option<TelemetryCommand>,
}

#[cfg(feature = "clap")]
impl TelemetryArgs {
    /// Runs the subcommand (`status` when there is none) on `client` and
    /// writes its output to `out`; see [`TelemetryCommand::run`].
    pub fn run(self, client: &Telemetry, out: &mut dyn Write) -> Result<(), CommandError> {
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
/// assert_eq!(cli.telemetry.consent(), Some(Level::Off));
/// let config = Config::new("mytool", "1.0.0").default_level(Level::Usage);
/// let telemetry = Telemetry::new(cli.telemetry.configure(config))?;
/// assert_eq!(telemetry.consent().source, ConsentSource::Explicit);
/// assert!(!telemetry.is_enabled());
///
/// assert_eq!(Cli::try_parse_from(["mytool"])?.telemetry.consent(), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "clap")]
#[cfg_attr(docsrs, doc(cfg(feature = "clap")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
#[non_exhaustive]
pub struct NoTelemetry {
    /// Turn telemetry off for this run: nothing is collected, written or sent.
    #[arg(long = "no-telemetry", global = true)]
    pub no_telemetry: bool,
}

#[cfg(feature = "clap")]
impl NoTelemetry {
    /// The consent the flag asks for: `Some(Level::Off)` when it was given,
    /// `None` when the other sources decide; for [`Config::consent`].
    pub fn consent(self) -> Option<Level> {
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
