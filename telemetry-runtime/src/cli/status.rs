//! What `telemetry status` prints, as data: [`Status`].

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;

use crate::local::consent;
use crate::{Consent, ConsentSource, Level, Stats, Telemetry};

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
    /// (`MYTOOL_TELEMETRY`, or the one [`EnvVars::main`](crate::EnvVars::main) names).
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
    /// see [`Consent::user_owned`](crate::Consent::user_owned).
    pub user_owned_level: Level,
    /// Where the anonymous install id is kept (it may not exist yet); `None`
    /// without a cache directory, when each run has a new one.
    pub id_path: Option<PathBuf>,
    /// Where the saved choice is kept (it may not exist); `None` without a
    /// config directory.
    pub consent_path: Option<PathBuf>,
    /// Where the most recently delivered events are kept for the user to
    /// read (it may not exist yet); `None` without a data directory, or when
    /// [`Delivery::recent_deliveries`](crate::Delivery::recent_deliveries) is 0.
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
            user_owned_level: client.consent().user_owned,
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
    pub(super) fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
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
