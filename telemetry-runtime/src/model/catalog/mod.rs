//! The catalog: every event compiled into the program, listed from the code
//! itself. Each derived event (and each instrumented function) registers its
//! schema at link time, so the "what we collect" page cannot drift from what
//! the program sends.
//!
//! What the catalog reads from a schema's fields is in [`fields`], the
//! events' JSON in [`json`](mod@json), the Markdown page in [`markdown`],
//! and how it describes reports by period in [`reports`].

mod fields;
mod json;
mod markdown;
mod reports;

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::{json, Value as Json};

use self::fields::flattened;
pub(crate) use self::fields::placeholder;
use self::json::event_json;
pub(crate) use self::reports::PeriodNote;
use crate::model::schema::EventSchema;

/// A schema registered by the derive. Not public API.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration(pub &'static EventSchema);

inventory::collect!(Registration);

/// The properties the runtime adds to every event, with what they hold.
pub(crate) const ENVELOPE: [(&str, &str); 15] = [
    ("distinct_id", INSTALL_ID),
    ("uuid", "the id of the event, to de-duplicate retries: a UUID v7 of the capture time (the timestamp's millisecond) and random bits"),
    ("timestamp", "when the event was captured, UTC"),
    ("$lib", "the library name: telemetry-runtime"),
    ("$lib_version", "the library version"),
    ("$app_name", "the application name"),
    ("$app_version", "the application version"),
    ("$os", "the operating system family (linux, macos, windows, ...)"),
    ("$arch", "the CPU architecture (x86_64, aarch64, ...)"),
    (
        "$os_version",
        "on Linux and macOS, when the system gives one: the distribution's or macOS's version, \
         major.minor (VERSION_ID of /etc/os-release, ProductVersion of SystemVersion.plist); never the \
         kernel build or the host name",
    ),
    ("$session_id", "a random id for this run of the program"),
    ("$catalog_digest", "which version of this catalog produced the event"),
    ("$process_person_profile", "always false: events never build a profile of a person"),
    (
        "$geoip_disable",
        "always true: the receiver (PostHog) does not look up a location from the IP address the events \
         come from",
    ),
    ("$sample_rate", "on sampled events only: the share of such events that is kept"),
];

/// Every event the program can send.
///
/// ```
/// use telemetry_runtime::{Catalog, TelemetryEvent};
///
/// /// The program started.
/// #[derive(TelemetryEvent)]
/// struct Started {
///     plugins: u32,
/// }
///
/// let catalog = Catalog::collect();
/// let started = catalog.events().iter().find(|event| event.name == "started").unwrap();
/// assert_eq!(started.description, "The program started.");
/// assert!(catalog.to_markdown("mytool").contains("## `started`"));
/// ```
#[derive(Debug, Clone)]
pub struct Catalog {
    events: Vec<&'static EventSchema>,
    envelope: Envelope,
    /// The program's routes that report by period, set by the client that
    /// has them (see [`Route::per_period`](crate::Route::per_period)).
    reports: Vec<PeriodNote>,
}

/// What `distinct_id` holds when the program does not supply it.
const INSTALL_ID: &str = "a random install id (UUID v4) kept in the cache directory";

/// What a client sends with every event beyond the fixed properties: set
/// from its configuration, so that its catalog (and digest) say it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Envelope {
    /// What `distinct_id` holds, when the program supplies it.
    pub(crate) identity: Option<String>,
    /// The program lets the receiver look up a location from the IP
    /// address (`$geoip_disable` is not sent).
    pub(crate) geoip: bool,
}

impl Catalog {
    /// The events registered in this program, sorted by name.
    pub fn collect() -> Catalog {
        Catalog::registered(|_| true)
    }

    /// The events registered in this program that were declared in one of
    /// `modules` or a module below it, sorted by name: the catalog of one
    /// program when its binary links the events of others too (a host and a
    /// library with telemetry of its own, or several example programs
    /// sharing one library crate). A module is named as `module_path!()`
    /// names it, starting with the crate (`mytool::events`); `mytool`
    /// covers the whole crate. Every module whose events the program sends
    /// must be listed, or the catalog, the first-run notice and
    /// `$catalog_digest` leave them out.
    ///
    /// ```
    /// use telemetry_runtime::{Catalog, Config, TelemetryEvent};
    ///
    /// mod cache {
    ///     /// The cache was cleared.
    ///     #[derive(telemetry_runtime::TelemetryEvent)]
    ///     pub struct CacheCleared {
    ///         pub entries: u64,
    ///     }
    /// }
    ///
    /// mod plugin {
    ///     /// A plugin's own event.
    ///     #[derive(telemetry_runtime::TelemetryEvent)]
    ///     pub struct PluginLoaded {
    ///         pub plugins: u32,
    ///     }
    /// }
    ///
    /// let has = |catalog: &Catalog, name: &str| catalog.events().iter().any(|event| event.name == name);
    /// let ours = Catalog::collect_under([concat!(module_path!(), "::cache")]);
    /// assert!(has(&ours, "cache_cleared"));
    /// assert!(!has(&ours, "plugin_loaded"));
    /// assert!(has(&Catalog::collect(), "plugin_loaded"));
    /// let config = Config::new("mytool", "1.0.0").catalog(ours);
    /// ```
    pub fn collect_under<'a>(modules: impl IntoIterator<Item = &'a str>) -> Catalog {
        let modules: Vec<&str> = modules.into_iter().map(|m| m.trim_end_matches("::")).collect();
        Catalog::registered(|event| modules.iter().any(|m| is_within(event.module, m)))
    }

    fn registered(keep: impl Fn(&EventSchema) -> bool) -> Catalog {
        let mut events: Vec<&'static EventSchema> =
            inventory::iter::<Registration>().map(|r| r.0).filter(|e| keep(e)).collect();
        events.sort_by(|a, b| a.name.cmp(b.name).then(a.description.cmp(b.description)));
        events.dedup_by(|a, b| a == b);
        Catalog { events, envelope: Envelope::default(), reports: Vec::new() }
    }

    /// A catalog of exactly these events (for tests and previews).
    pub fn of(mut events: Vec<&'static EventSchema>) -> Catalog {
        events.sort_by(|a, b| a.name.cmp(b.name));
        Catalog { events, envelope: Envelope::default(), reports: Vec::new() }
    }

    /// The same events, with what a client's configuration sends with each.
    pub(crate) fn with_envelope(mut self, envelope: Envelope) -> Catalog {
        self.envelope = envelope;
        self
    }

    /// The properties sent with every event and what each holds, as this
    /// catalog's client sends them.
    pub(crate) fn envelope(&self) -> impl Iterator<Item = (&'static str, &str)> {
        ENVELOPE.iter().filter(|(name, _)| *name != "$geoip_disable" || !self.envelope.geoip).map(
            |(name, what)| match (*name, &self.envelope.identity) {
                ("distinct_id", Some(identity)) => (*name, identity.as_str()),
                _ => (*name, *what),
            },
        )
    }

    /// This catalog, saying that the program reports by period as `notes`
    /// describe (the client sets it from its routes).
    pub(crate) fn with_reports(mut self, notes: Vec<PeriodNote>) -> Catalog {
        self.reports = notes;
        self
    }

    /// How the program reports by period, one note per route that does.
    pub(crate) fn reports(&self) -> &[PeriodNote] {
        &self.reports
    }

    /// The events, sorted by name.
    pub fn events(&self) -> &[&'static EventSchema] {
        &self.events
    }

    /// The event with this name.
    pub(crate) fn event(&self, name: &str) -> Option<&'static EventSchema> {
        self.events.iter().copied().find(|e| e.name == name)
    }

    /// Every (event, property) pair: what "adds fields or events" compares.
    pub(crate) fn field_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for event in &self.events {
            names.push(event.name.to_owned());
            names.extend(flattened(event).into_iter().map(|(path, ..)| format!("{}.{path}", event.name)));
        }
        names
    }

    /// The catalog as JSON (stable: keys sorted, events sorted by name):
    /// what `telemetry catalog --json` prints.
    pub(crate) fn to_json(&self) -> String {
        let events: Vec<Json> = self.events.iter().map(|e| event_json(e)).collect();
        let envelope: Vec<Json> =
            self.envelope().map(|(name, what)| json!({ "name": name, "description": what })).collect();
        let mut doc = json!({ "catalog_version": 1, "envelope": envelope, "events": events });
        // Only a program that reports by period has the key: the JSON of
        // the others (and so their digest) is unchanged.
        if !self.reports.is_empty() {
            doc["reports"] = Json::Array(self.reports.iter().map(PeriodNote::to_json).collect());
        }
        serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
    }

    /// A hash of [`to_json`](Catalog::to_json): 16 hex digits, sent with
    /// every event as `$catalog_digest` (and shown by `telemetry status`).
    pub(crate) fn digest(&self) -> String {
        crate::model::redact::fingerprint(self.to_json().as_bytes())
    }

    /// The "what we collect" page, in Markdown.
    pub fn to_markdown(&self, app_name: &str) -> String {
        markdown::page(app_name, self.envelope(), self.envelope.geoip, &self.reports, &self.events)
    }

    /// Compares the Markdown page with the file at `path`. With the
    /// environment variable `TELEMETRY_CATALOG_UPDATE=1` the file is
    /// rewritten instead. The error, when they differ, shows the
    /// differences line by line.
    pub(crate) fn check_markdown_file(&self, app_name: &str, path: impl AsRef<Path>) -> io::Result<()> {
        let update = std::env::var_os("TELEMETRY_CATALOG_UPDATE").is_some_and(|v| v == "1");
        self.check_or_update(app_name, path.as_ref(), update)
    }

    /// [`check_markdown_file`](Catalog::check_markdown_file), or with
    /// `update` the rewrite.
    fn check_or_update(&self, app_name: &str, path: &Path, update: bool) -> io::Result<()> {
        let expected = self.to_markdown(app_name);
        if update {
            return std::fs::write(path, &expected)
                .map_err(|err| crate::error::Because::io(format!("cannot write {}", path.display()), err));
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if committed == expected {
            return Ok(());
        }
        let message = format!(
            "{} does not match the events compiled into the program.\n\
             Review the change and rewrite the file with TELEMETRY_CATALOG_UPDATE=1.\n\n{}",
            path.display(),
            line_diff(&committed, &expected)
        );
        Err(io::Error::new(io::ErrorKind::InvalidData, message))
    }
}

/// A line diff (longest common subsequence): `-` committed, `+` generated.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        }
    }
    out
}

/// Whether `module` is `parent` or a module below it.
fn is_within(module: &str, parent: &str) -> bool {
    !parent.is_empty()
        && module.strip_prefix(parent).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{Classification, FieldSchema, RedactMode};
    use crate::Level;

    static FIELDS: [FieldSchema; 3] = [
        FieldSchema {
            name: "tool",
            ty: "String",
            classification: Classification::Public,
            description: "Which tool.",
            reason: None,
            values: &[],
            unit: "",
            fields: &[],
        },
        FieldSchema {
            name: "query",
            ty: "String",
            classification: Classification::OptIn,
            description: "What was asked.",
            reason: None,
            values: &[],
            unit: "",
            fields: &[],
        },
        FieldSchema {
            name: "server_url",
            ty: "String",
            classification: Classification::Redact(RedactMode::Hash),
            description: "",
            reason: None,
            values: &[],
            unit: "",
            fields: &[],
        },
    ];
    static EVENT: EventSchema = EventSchema {
        name: "tool_call",
        description: "A tool call.",
        min_level: Level::Usage,
        sample_rate: 1.0,
        fields: &FIELDS,
        module: "agent::events",
    };

    static PLUGIN_EVENT: EventSchema = EventSchema {
        module: "agent_plugin::events",
        ..EventSchema::undocumented("plugin_loaded", Level::Usage)
    };
    static NESTED_EVENT: EventSchema = EventSchema {
        module: "agent::events::tools",
        ..EventSchema::undocumented("tool_listed", Level::Usage)
    };
    inventory::submit! { Registration(&EVENT) }
    inventory::submit! { Registration(&PLUGIN_EVENT) }
    inventory::submit! { Registration(&NESTED_EVENT) }

    #[test]
    fn a_module_covers_itself_and_the_modules_below_it_only() {
        assert!(is_within("agent::events", "agent"));
        assert!(is_within("agent::events", "agent::events"));
        assert!(is_within("agent::events::tools", "agent::events"));
        assert!(!is_within("agent_plugin::events", "agent"), "a crate whose name starts the same");
        assert!(!is_within("agent::eventsx", "agent::events"));
        assert!(!is_within("agent", "agent::events"), "a parent is not below its child");
        assert!(!is_within("", ""), "a hand-written schema is in no module");
        assert!(!is_within("agent", ""));
    }

    #[test]
    fn collect_under_keeps_the_named_modules_events() {
        let names = |catalog: Catalog| catalog.events().iter().map(|e| e.name).collect::<Vec<_>>();
        assert_eq!(names(Catalog::collect_under(["agent"])), ["tool_call", "tool_listed"]);
        assert_eq!(names(Catalog::collect_under(["agent::events::tools"])), ["tool_listed"]);
        assert_eq!(names(Catalog::collect_under(["agent::events::"])), ["tool_call", "tool_listed"]);
        assert_eq!(
            names(Catalog::collect_under(["agent::events", "agent_plugin"])),
            ["plugin_loaded", "tool_call", "tool_listed"]
        );
        assert!(names(Catalog::collect_under(["nowhere"])).is_empty());
        assert!(names(Catalog::collect_under([])).is_empty());
        let all = names(Catalog::collect());
        assert!(["plugin_loaded", "tool_call", "tool_listed"].iter().all(|n| all.contains(n)), "{all:?}");
    }

    #[test]
    fn the_module_is_not_part_of_the_json() {
        static MOVED: EventSchema = EventSchema { module: "elsewhere", ..EVENT };
        assert_eq!(Catalog::of(vec![&EVENT]).to_json(), Catalog::of(vec![&MOVED]).to_json());
        assert_eq!(Catalog::of(vec![&EVENT]).to_markdown("a"), Catalog::of(vec![&MOVED]).to_markdown("a"));
    }

    #[test]
    fn markdown_says_what_is_sent_at_each_level() {
        let md = Catalog::of(vec![&EVENT]).to_markdown("agent");
        assert!(md.starts_with("# What agent collects"));
        assert!(md.contains("| `tool` | `String` | public | value | value | Which tool. |"), "{md}");
        assert!(md.contains("| `query` | `String` | opt_in | nothing | value | What was asked. |"));
        assert!(md.contains("| `server_url` | `String` | redact(hash) | keyed hash | keyed hash |  |"));
        assert!(md.contains("`$catalog_digest`"));
    }

    #[test]
    fn json_and_digest_are_stable() {
        let catalog = Catalog::of(vec![&EVENT]);
        assert_eq!(catalog.to_json(), catalog.to_json());
        assert_eq!(catalog.digest(), Catalog::of(vec![&EVENT]).digest());
        assert_ne!(catalog.digest(), Catalog::of(vec![]).digest());
        let json: Json = serde_json::from_str(&catalog.to_json()).unwrap();
        assert_eq!(json["events"][0]["fields"][1]["sent"]["usage"], "nothing");
    }

    #[test]
    fn drift_is_reported_with_a_diff() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("TELEMETRY.md");
        let catalog = Catalog::of(vec![&EVENT]);
        std::fs::write(&path, catalog.to_markdown("agent").replace("Which tool.", "Old text.")).unwrap();
        let err = catalog.check_markdown_file("agent", &path).unwrap_err();
        assert!(std::error::Error::source(&err).is_none(), "a difference has no cause");
        let err = err.to_string();
        assert!(err.contains("- | `tool` | `String` | public | value | value | Old text. |"), "{err}");
        assert!(err.contains("+ | `tool` | `String` | public | value | value | Which tool. |"), "{err}");
        std::fs::write(&path, catalog.to_markdown("agent")).unwrap();
        assert!(catalog.check_markdown_file("agent", &path).is_ok());
    }

    #[test]
    fn a_failed_rewrite_leads_to_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("TELEMETRY.md");
        let err = Catalog::of(vec![&EVENT]).check_or_update("agent", &path, true).unwrap_err();
        assert!(err.to_string().starts_with("cannot write "), "{err}");
        let source = std::error::Error::source(&err).expect("the I/O error is the source");
        let io = source.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }
}
