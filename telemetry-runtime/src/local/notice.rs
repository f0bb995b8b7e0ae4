//! The first-run notice: before anything is sent by default, the user is
//! told what is collected and how to turn it off, and that run sends nothing.
//! The notice is shown again when the catalog gains events or fields.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;

use crate::local::files::{self, Existing};
use crate::model::catalog::Catalog;

/// File name, in the config directory, of the record of what the user was
/// last told about.
pub(crate) const NOTICE_FILE: &str = "telemetry_notice";

/// Whether the user was already told about every event and field in
/// `catalog`. A catalog that only lost fields needs no new notice.
pub(crate) fn acknowledged(path: &Path, catalog: &Catalog) -> bool {
    /// The record lists field names: a larger file is not one we wrote.
    const MAX_RECORD_BYTES: u64 = 4 << 20;
    let Ok(text) = files::read_capped(path, MAX_RECORD_BYTES) else { return false };
    let Ok(record) = serde_json::from_str::<serde_json::Value>(&text) else {
        log::warn!("The telemetry notice record {} is corrupt: the notice is shown again.", path.display());
        return false;
    };
    let known: Vec<&str> =
        record["names"].as_array().map(|a| a.iter().filter_map(|n| n.as_str()).collect()).unwrap_or_default();
    catalog.field_names().iter().all(|name| known.contains(&name.as_str()))
}

/// Shows the notice, unless stderr is not a terminal and `requires_terminal`
/// says to wait for one. Returns whether it was shown.
pub(crate) fn show(text: &str, requires_terminal: bool) -> bool {
    let stderr = std::io::stderr();
    if requires_terminal && !stderr.is_terminal() {
        return false;
    }
    // A closed stderr cannot be helped; the run still sends nothing.
    let _ = stderr.lock().write_all(text.as_bytes());
    true
}

/// Whether the program's arguments (`args`, the program's name first) run
/// the telemetry commands at `invocation` (what [`Config::commands`] was
/// given, such as `mytool telemetry`): the invocation's words after the
/// program's name come first among the arguments that are not options, as
/// in `mytool telemetry off` or `mytool --no-telemetry telemetry catalog`.
/// A wrong guess costs little either way: a run taken for one of them shows
/// no notice and sends nothing (the notice stays due), one not taken for
/// one shows the notice, as any first run does.
///
/// [`Config::commands`]: crate::Config::commands
pub(crate) fn runs_command(invocation: &str, args: impl IntoIterator<Item = OsString>) -> bool {
    let words: Vec<&str> = invocation.split_whitespace().skip(1).collect();
    let mut operands = args.into_iter().skip(1).filter(|arg| !arg.as_encoded_bytes().starts_with(b"-"));
    !words.is_empty() && words.iter().all(|word| operands.next().is_some_and(|arg| arg == *word))
}

/// Records that the user was told about `catalog`.
pub(crate) fn record(path: &Path, catalog: &Catalog) {
    let record = serde_json::json!({ "digest": catalog.digest(), "names": catalog.field_names() });
    if let Err(err) = files::write_private(path, &format!("{record}\n"), Existing::Replace) {
        log::warn!(
            "Cannot record the telemetry notice in {} ({err}): it will be shown again.",
            path.display()
        );
    }
}

/// The default notice text.
/// `env_var=off_value` is the switch that turns telemetry off; `report`,
/// the shortest period (in seconds) of the program's reports by period,
/// when it has any.
pub(crate) fn default_text(
    app_name: &str,
    env_var: &str,
    off_value: &str,
    commands: Option<&str>,
    report: Option<u64>,
) -> String {
    let (see, off) = match commands {
        Some(cli) => {
            (format!("run `{cli} catalog`"), format!("run `{cli} off`, or set {env_var}={off_value}"))
        }
        None => ("see the program's documentation".to_owned(), format!("set {env_var}={off_value}")),
    };
    let reports = match report {
        None => String::new(),
        Some(seconds) => {
            let period = crate::model::period::length_in_words(seconds);
            let show = match commands {
                Some(cli) => format!(" `{cli} report` shows them."),
                None => String::new(),
            };
            format!("Usage counts are kept on this machine and sent as one report a {period}.{show}\n")
        }
    };
    format!(
        "\n{app_name} collects anonymous usage telemetry to improve the program.\n\
         {reports}Nothing was sent this time. To see exactly what is collected, {see}.\n\
         To turn it off, {off} (DO_NOT_TRACK=1 works too).\n\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::EventSchema;
    use crate::Level;

    static A: EventSchema = EventSchema::undocumented("a", Level::Usage);
    static B: EventSchema = EventSchema::undocumented("b", Level::Usage);

    #[test]
    fn acknowledged_until_the_catalog_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NOTICE_FILE);
        let small = Catalog::of(vec![&A]);
        let big = Catalog::of(vec![&A, &B]);
        assert!(!acknowledged(&path, &small));
        record(&path, &big);
        assert!(acknowledged(&path, &big));
        assert!(acknowledged(&path, &small), "losing events needs no new notice");
        record(&path, &small);
        assert!(!acknowledged(&path, &big), "a new event needs a new notice");
        std::fs::write(&path, "garbage").unwrap();
        assert!(!acknowledged(&path, &small));
    }

    #[test]
    fn a_run_of_the_telemetry_commands_is_told_by_its_first_operands() {
        let runs = |invocation: &str, args: &[&str]| {
            runs_command(invocation, args.iter().map(OsString::from).collect::<Vec<_>>())
        };
        assert!(runs("agent telemetry", &["/usr/bin/agent", "telemetry", "off"]));
        assert!(runs("agent telemetry", &["agent", "telemetry"]));
        assert!(runs("agent telemetry", &["agent", "--no-telemetry", "telemetry", "catalog", "--json"]));
        assert!(runs("cargo tool telemetry", &["cargo-tool", "tool", "telemetry", "status"]));
        assert!(!runs("agent telemetry", &["agent", "run", "telemetry", "off"]), "a task's words");
        assert!(!runs("agent telemetry", &["agent", "run"]));
        assert!(!runs("agent telemetry", &["agent"]));
        assert!(!runs("agent telemetry", &[]));
        assert!(!runs("agent", &["agent", "telemetry"]), "no words after the program's name");
        assert!(!runs("cargo tool telemetry", &["cargo-tool", "telemetry"]));
    }

    #[test]
    fn text_says_how_to_turn_it_off() {
        let text = default_text("agent", "AGENT_TELEMETRY", "off", Some("agent telemetry"), None);
        assert!(text.contains("`agent telemetry off`") && text.contains("AGENT_TELEMETRY=off"));
        assert!(text.contains("`agent telemetry catalog`") && text.contains("Nothing was sent"));
        assert!(!text.contains("report"), "{text}");
        let weekly = default_text("agent", "AGENT_TELEMETRY", "off", Some("agent telemetry"), Some(604_800));
        assert!(
            weekly.contains("sent as one report a week. `agent telemetry report` shows them."),
            "{weekly}"
        );
    }
}
