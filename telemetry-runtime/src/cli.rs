//! Ready-made `telemetry` subcommands for a host command-line program.
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

use std::fmt;
use std::io::{self, Write};

use serde_json::{json, Map, Value as Json};

use crate::catalog::ENVELOPE;
use crate::files;
use crate::schema::{Classification, EventSchema, RedactMode};
use crate::{ConsentSource, Level, Telemetry};

/// The subcommands and what they do, for `help`.
pub const USAGE: &str = "\
status            what telemetry does now, and why
on | full | off   save your choice: usage data, also opt-in fields, or nothing
local            keep events in a file on this machine only
reset             delete the anonymous id and the saved choice
catalog [--json]  list every event and field the program can send
preview [--full]  show the events as they would be sent (at usage, or at full)";

/// A subcommand that could not run.
#[derive(Debug)]
pub struct CommandError(String);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CommandError {}

impl From<io::Error> for CommandError {
    fn from(err: io::Error) -> CommandError {
        CommandError(err.to_string())
    }
}

/// Runs one subcommand (`args` excludes the program and `telemetry` words)
/// and writes its output to `out`. No arguments means `status`.
pub fn run_command<S: AsRef<str>>(
    client: &Telemetry,
    args: &[S],
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    match args.as_slice() {
        [] | ["status"] => status(client, out)?,
        ["on"] => choose(client, "usage", out)?,
        ["full"] => choose(client, "full", out)?,
        ["off"] => choose(client, "off", out)?,
        ["local"] => choose(client, "local", out)?,
        ["reset"] => reset(client, out)?,
        ["catalog"] => out.write_all(client.catalog().to_markdown(client.app_name()).as_bytes())?,
        ["catalog", "--json"] => out.write_all(client.catalog().to_json().as_bytes())?,
        ["preview"] => preview(client, Level::Usage, out)?,
        ["preview", "--full"] => preview(client, Level::Full, out)?,
        ["help" | "--help" | "-h"] => writeln!(out, "{USAGE}")?,
        _ => return Err(CommandError(format!("unknown telemetry command {:?}\n\n{USAGE}", args.join(" ")))),
    }
    Ok(())
}

fn status(client: &Telemetry, out: &mut dyn Write) -> io::Result<()> {
    let consent = client.consent();
    writeln!(out, "Telemetry: {} (decided by {})", consent.level, consent.source)?;
    let mode = if client.is_debug() {
        "debug: events are printed to stderr, nothing is sent".to_owned()
    } else if client.is_local_only() {
        match client.local_events_path() {
            Some(path) => format!("local only: events are written to {}", path.display()),
            None => "local only: no data directory, nothing is recorded".to_owned(),
        }
    } else if client.sink_names().is_empty() {
        "no destination configured".to_owned()
    } else {
        format!("sending to {}", client.sink_names().join(", "))
    };
    writeln!(out, "Mode: {mode}")?;
    let exists = |path: &std::path::Path| if path.exists() { "" } else { " (not created)" };
    match client.id_path() {
        Some(path) => writeln!(out, "Anonymous id: {}{}", path.display(), exists(path))?,
        None => writeln!(out, "Anonymous id: a new one each run (no cache directory)")?,
    }
    if let Some(path) = client.consent_path() {
        writeln!(out, "Saved choice: {}{}", path.display(), exists(path))?;
    }
    if let Some(path) = client.recent_deliveries_path() {
        writeln!(out, "Recently sent: {}{}", path.display(), exists(&path))?;
    }
    writeln!(
        out,
        "Catalog: {} events (digest {})",
        client.catalog().events().len(),
        client.catalog_digest()
    )?;
    let stats = client.stats();
    writeln!(
        out,
        "This run: {} captured, {} sent, {} dropped",
        stats.captured,
        stats.sent,
        stats.dropped_total()
    )?;
    if client.consent().source == ConsentSource::Explicit {
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
            client.env_var()
        )
    }
}

fn choose(client: &Telemetry, choice: &str, out: &mut dyn Write) -> Result<(), CommandError> {
    client
        .persist_choice(choice)
        .map_err(|e| CommandError(format!("cannot save the telemetry choice: {e}")))?;
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
    client.reset_identity().map_err(|e| CommandError(format!("cannot delete the anonymous id: {e}")))?;
    if let Some(path) = client.id_path() {
        writeln!(out, "Deleted the anonymous id ({}).", path.display())?;
    }
    if let Some(path) = client.consent_path() {
        files::remove_if_present(path)
            .map_err(|e| CommandError(format!("cannot delete the saved choice: {e}")))?;
        writeln!(out, "Deleted the saved choice ({}).", path.display())?;
    }
    client.forget_consent().map_err(|e| CommandError(e.to_string()))?;
    Ok(())
}

/// Every event as it would be sent at `level`, with placeholders for values.
fn preview(client: &Telemetry, level: Level, out: &mut dyn Write) -> io::Result<()> {
    let events: Vec<Json> = client
        .catalog()
        .events()
        .iter()
        .filter(|e| e.min_level <= level)
        .map(|e| sample_event(e, level))
        .collect();
    writeln!(out, "Events as sent at level \"{level}\" (values are placeholders):")?;
    writeln!(out, "{}", serde_json::to_string_pretty(&events).unwrap_or_default())
}

fn sample_event(event: &EventSchema, level: Level) -> Json {
    let mut properties = Map::new();
    for field in event.fields {
        let sample = match field.classification {
            Classification::OptIn if level < Level::Full => continue,
            Classification::Redact(RedactMode::Drop) => continue,
            Classification::Public | Classification::OptIn => json!(format!("<{}>", field.ty)),
            Classification::Redact(RedactMode::Marker) => json!("[redacted]"),
            Classification::Redact(RedactMode::Length) => json!("<length>"),
            Classification::Redact(RedactMode::Hash) => json!("<keyed hash>"),
        };
        properties.insert(field.name.to_owned(), sample);
    }
    for (name, _) in ENVELOPE.iter().filter(|(n, _)| n.starts_with('$')) {
        let sample = match *name {
            "$process_person_profile" => json!(false),
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
