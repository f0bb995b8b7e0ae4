//! A telemetry client: consent, identity, queue and the lazily started worker.

use std::borrow::Cow;
use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::config::{Config, Notice};
use crate::error::ConfigError;
use crate::local::consent::{self, Consent, ConsentSource, EnvLookup};
use crate::local::files::{self, Existing};
use crate::local::identity::{Identity, ID_FILE};
use crate::local::notice;
use crate::local::platform;
use crate::local::version::{VersionChange, VersionRecord, VERSION_FILE};
use crate::model::catalog::{Catalog, Envelope};
use crate::model::counter::{Counter, Labels};
use crate::model::dynamic::DynamicEvent;
use crate::model::event::{Record, RecordKind};
use crate::model::packed::MAX_DEPTH;
use crate::model::span::SpanIds;
use crate::model::stats::{Counters, DropReason, Stats};
use crate::model::time::deadline_after;
use crate::pipeline::aggregate::Aggregates;
use crate::pipeline::queue::Queue;
use crate::pipeline::report::{self, Reports, RouteReports};
use crate::pipeline::route::Route;
use crate::pipeline::shared::{
    compiled_level, log_decision, Inner, Resolver, SinkRoute, LOCAL_EVENTS_FILE, RECENT_FILE,
};
use crate::pipeline::spool::{self};
use crate::sink::allowance::Allowance;
use crate::sink::{JsonlSink, Sink, StderrSink};
use crate::sync::{lock, Mutex};
use crate::{Level, Properties, TelemetryEvent, Value};

mod capture;
mod start;

/// File name of the persisted consent choice inside the config directory.
const CONSENT_FILE: &str = "telemetry_consent";
/// A handle to one telemetry client. Cheap to clone; every clone is the same
/// client.
///
/// Applications usually use the global client through [`crate::init`];
/// a library that collects its own telemetry keeps a `Telemetry` of its own
/// so that it never competes with its host for the global one.
///
/// ```
/// use telemetry_runtime::{testing::MemorySink, Config, Level, Properties, Telemetry};
///
/// telemetry_runtime::event! {
///     /// A document was parsed.
///     static PARSED = "parsed" {
///         /// Its size.
///         bytes: u64,
///     }
/// }
///
/// let memory = MemorySink::new();
/// let telemetry = Telemetry::new(
///     Config::new("mylib", "0.3.1").consent(Level::Usage).sink(memory.clone()),
/// )?;
/// telemetry.capture_with(&PARSED, Properties::new().with("bytes", 512u32));
/// assert!(telemetry.flush(std::time::Duration::from_secs(5)));
/// assert_eq!(memory.events()[0]["properties"]["bytes"], 512);
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
///
/// Dropping the last handle (the last clone) shuts the client down like
/// [`shutdown`](Telemetry::shutdown) with the configured
/// [`shutdown_timeout`](crate::Delivery::shutdown_timeout): what is queued is
/// delivered within that deadline and the worker thread ends, so a program
/// that creates a client per task (per agent, per request) does not collect
/// threads. Call `shutdown(Duration::ZERO)` first to not wait at all. The
/// drop never waits past the deadline: a worker still in a request the
/// endpoint does not answer ends when that request does (its own timeout,
/// see the sinks' `timeouts`), and what it held is counted as
/// [`DropReason::Shutdown`].
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
    /// Shared by every clone of this handle (not by the worker, which holds
    /// `inner` alone): its drop is the last handle's drop.
    _owner: Arc<Owner>,
}

/// Shuts the client down when the last handle goes.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        let timeout = self.0.settings.shutdown_timeout;
        self.0.shutdown(timeout);
    }
}

impl Telemetry {
    /// Creates a client. Reads the environment and, when no variable decides,
    /// the small persisted-choice file; touches nothing else on disk and
    /// starts no thread until the first event is captured, except that with
    /// the spool ([`Delivery::spool`](crate::Delivery::spool)) or a route that
    /// reports by period ([`Route::per_period`]) it lists their folders: it
    /// deletes what they hold unsent when consent is off, and starts the
    /// worker when something waits to be sent.
    pub fn new(config: Config) -> Result<Telemetry, ConfigError> {
        Telemetry::with_level_cell(config, None)
    }

    /// Whether events are being collected (one relaxed atomic load).
    #[inline]
    pub fn is_enabled(&self) -> bool {
        crate::__private::COMPILED_IN && self.inner.gate().load(Relaxed) != Level::Off as u8
    }

    /// The level events are captured at (one relaxed atomic load): the
    /// consent level in force, or the level of the user-owned sinks (see
    /// [`Route::owned_by_user`]) when that is higher. What the vendor's sinks
    /// may receive is [`consent`](Telemetry::consent).
    #[inline]
    pub fn level(&self) -> Level {
        self.inner.level()
    }

    /// The level in force and the source that decided it, and the level of
    /// the user-owned sinks.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, ConsentSource, Level, Telemetry};
    /// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Usage).sink(MemorySink::new()))?;
    /// let consent = telemetry.consent();
    /// assert_eq!((consent.level, consent.source), (Level::Usage, ConsentSource::Explicit));
    /// assert_eq!(consent.user_owned, Level::Off); // no user-owned sink
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn consent(&self) -> Consent {
        Consent { user_owned: self.inner.user_level(), ..lock(&self.inner.consent).clone() }
    }

    /// Makes an explicit choice for this run (not saved), outranking every
    /// other source. Takes effect for the next capture. Lowering it takes
    /// effect for what was captured before too: once this returns, no byte
    /// carrying data above `level` is written to any socket. Queued events
    /// the new level does not allow, events waiting to be retried, and
    /// requests being sent are checked against it (the library's HTTP
    /// sinks check every write to the socket), and what no longer qualifies
    /// is dropped and counted as [`DropReason::ConsentWithdrawn`]. At
    /// `Off`, counts taken by [`add`](Telemetry::add) are
    /// discarded too, and so is what routes that report by period
    /// ([`Route::per_period`]) have not sent yet.
    ///
    /// What it may cost: a write to a socket that was checked against the
    /// old level and is still under way is waited for, at most the sink's
    /// request timeout (10 s by default; see [`HttpOptions`](crate::sink::HttpOptions)),
    /// and only when the endpoint stops reading mid-request. Calls from
    /// several threads take effect one at a time, and the state, everywhere,
    /// is that of the last one.
    pub fn set_consent(&self, level: Level) {
        let explicit = &self.inner.resolver.explicit;
        let choose = || {
            *lock(explicit) = Some(level);
            Ok::<(), std::convert::Infallible>(())
        };
        let _ = self.inner.change_consent(choose);
    }

    /// Saves the user's choice (for a host CLI's `telemetry off` command) in
    /// the config directory, with mode 0600, and applies it; `None` deletes
    /// the saved choice, and the next resolution falls through to CI
    /// detection and the default. An environment variable or
    /// `DO_NOT_TRACK` still outranks a saved choice, as the user set those
    /// too.
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Level, Telemetry};
    /// # let dir = tempfile::tempdir().unwrap();
    /// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").dirs(|_| dir.path().into()))?;
    /// telemetry.save_consent(Some(Level::Off)).expect("the config directory is writable");
    /// assert_eq!(telemetry.consent().level, Level::Off);
    /// telemetry.save_consent(None).expect("the config directory is writable");
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn save_consent(&self, choice: Option<Level>) -> io::Result<()> {
        match choice {
            Some(level) => self.persist_choice(level.as_str()),
            None => {
                self.inner.change_consent(|| self.consent_path().map_or(Ok(()), files::remove_if_present))
            }
        }
    }

    /// Saves `choice` (a level name, or `local`) and applies it.
    pub(crate) fn persist_choice(&self, choice: &str) -> io::Result<()> {
        let path = self.consent_path().ok_or_else(|| io::Error::other("no config directory"))?;
        self.inner.change_consent(|| files::write_private(path, &format!("{choice}\n"), Existing::Replace))
    }

    /// Deletes the install id (and the key of hashed values); later events
    /// carry a new one. Once this returns, the old id and the old key never
    /// leave the process again, whatever the worker was doing: events
    /// already prepared with them (waiting to be retried, or in a request
    /// being sent: every write to the socket is checked) are dropped and
    /// counted as [`DropReason::IdentityReset`], spooled batches written
    /// with them are deleted unsent, and so are the record of recent
    /// deliveries and the local-only events file. The counts and reports of
    /// routes that report by period ([`Route::per_period`]) are deleted,
    /// sent or not. Events captured before the reset and still queued are
    /// sent with the new id. The recorded version is deleted too: to
    /// [`version_change`](Telemetry::version_change), the next run is a
    /// first run. Like [`set_consent`](Telemetry::set_consent), it waits
    /// for a socket write of the old id still under way, at most the
    /// sink's request timeout.
    pub fn reset_identity(&self) -> io::Result<()> {
        let inner = &self.inner;
        if inner.forked() {
            return Err(io::Error::other(
                "a telemetry client made before fork() is off in the child process: reset it in the parent",
            ));
        }
        let files_lock = lock(&inner.files_lock);
        let reset = inner.identity.reset().and(inner.version.forget());
        let recent = inner.recent_path().map_or(Ok(()), |path| files::remove_if_present(&path));
        if let Some(spool) = inner.spool() {
            spool.forget_written_until_now();
        }
        let reports = inner.reports.forget();
        drop(files_lock);
        // A write of the old id still under way (to a socket, or by a local
        // sink) ends before this returns; every later one is refused.
        inner.allowance.settle();
        let local = self.local_events_path().map_or(Ok(()), |path| crate::sink::remove_with_rotated(&path));
        // A worker waiting to retry drops what the reset made stale now.
        inner.queue.consent_changed();
        reset.and(recent).and(reports).and(local)
    }

    /// How this run's application version (the one given to
    /// [`Config::new`](crate::Config::new)) compares with the version the
    /// last run with telemetry on recorded on this machine, for download
    /// analytics that count installations and upgrades. The first call
    /// with telemetry on reads the record (`telemetry_version` in the cache
    /// directory, beside the install id) and replaces it with this version;
    /// later calls in the process give the same answer. It reads and writes
    /// a small file on the caller's thread: call it once, at start-up.
    ///
    /// `None`, with nothing read or written, while telemetry is off (a
    /// later call, after consent is given, answers), and when there is no
    /// cache directory. [`reset_identity`](Telemetry::reset_identity)
    /// deletes the record.
    ///
    /// ```
    /// use telemetry_runtime::{testing::MemorySink, Config, Level, Telemetry, VersionChange};
    /// # let dir = tempfile::tempdir().unwrap();
    ///
    /// let telemetry = Telemetry::new(
    ///     Config::new("mytool", "2.0.0").consent(Level::Usage).dirs(|d| telemetry_runtime::Dirs { cache: Some(dir.path().into()), ..d }).sink(MemorySink::new()),
    /// )?;
    /// match telemetry.version_change() {
    ///     Some(VersionChange::FirstRun) => { /* capture an "installed" event */ }
    ///     Some(VersionChange::Changed { previous }) => { /* an "upgraded" event, from `previous` */ }
    ///     _ => {}
    /// }
    /// # assert_eq!(telemetry.version_change(), Some(VersionChange::FirstRun));
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn version_change(&self) -> Option<VersionChange> {
        if !self.is_enabled() {
            return None;
        }
        self.inner.version.change(&self.inner.app_version)
    }

    /// This process's session id: a random UUID per client, sent with every
    /// event as `$session_id`. A program whose own events carry a session
    /// (a port of an existing schema, say) can reuse it instead of making a
    /// second one; it says nothing about the installation, unlike the
    /// install id, which is never handed out.
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Level, Telemetry};
    /// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Off))?;
    /// assert_eq!(telemetry.session_id().len(), 36);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// Captures a typed event. Never blocks: when the queue is full the event
    /// is dropped and counted.
    #[inline]
    pub fn capture<E: TelemetryEvent>(&self, event: &E) {
        self.capture_timed(event, None);
    }

    /// Captures a typed event that happened at `time` (for example one read
    /// from a log, or recorded while offline): it is sent with that
    /// timestamp, in UTC, instead of the time of the call.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, Level, Telemetry, TelemetryEvent};
    /// /// A build finished.
    /// #[derive(TelemetryEvent)]
    /// struct BuildFinished {
    ///     ok: bool,
    /// }
    /// # let memory = MemorySink::new();
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(memory.clone()))?;
    /// // 2025-01-02T08:34:05+05:30, read from a log by the program.
    /// let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_787_045);
    /// telemetry.capture_at(&BuildFinished { ok: true }, when);
    /// telemetry.flush(std::time::Duration::from_secs(5));
    /// assert_eq!(memory.events()[0]["timestamp"], "2025-01-02T03:04:05.000Z");
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn capture_at<E: TelemetryEvent>(&self, event: &E, time: SystemTime) {
        self.capture_timed(event, Some(time));
    }

    /// Captures a declared event with properties built at run time. Never
    /// blocks. Each property is checked against the declaration (see
    /// [`event!`](crate::event)): one it does not declare, or whose value has
    /// another type, is left out and counted as
    /// [`Stats::undeclared`]; the others are classified as declared.
    pub fn capture_with(&self, event: &DynamicEvent, properties: Properties) {
        self.capture_with_timed(event, properties, None);
    }

    /// Adds `n` to a declared counter (see [`counter!`](crate::counter)).
    /// Counters are kept in memory and sent as one event per series (the
    /// name, the labels and a `count`) each flush interval and at flush, so
    /// frequent actions cost almost nothing on the wire.
    ///
    /// The label values are given in the declared order, typed: the
    /// label's enum for one label, a tuple of them for more, `()` for none.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, Level, Telemetry, TelemetryProperty};
    /// #[derive(TelemetryProperty, Clone, Copy)]
    /// enum Status {
    ///     Ok,
    ///     Error,
    /// }
    ///
    /// telemetry_runtime::counter! {
    ///     /// Tool calls, by outcome.
    ///     static TOOL_CALLS = "tool_calls", labels: [status: Status];
    /// }
    /// # let memory = MemorySink::new();
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(memory.clone()))?;
    /// for _ in 0..1000 {
    ///     telemetry.add(&TOOL_CALLS, Status::Ok, 1);
    /// }
    /// assert!(telemetry.flush(std::time::Duration::from_secs(5)));
    /// let events = memory.events();
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0]["properties"]["count"], 1000);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn add<L: Labels>(&self, counter: &Counter<L>, values: L, n: u64) {
        if !self.is_enabled() {
            return;
        }
        self.inner.ensure_worker();
        counter.with_series(&values, |series| self.inner.aggregates.add(counter.name(), series, n));
    }

    /// Every event this client can send: the catalog it was configured with
    /// ([`Config::catalog`](crate::Config::catalog)), or every event compiled
    /// into the program. A hash of its JSON is sent with every event as
    /// `$catalog_digest` (and shown by `telemetry status`).
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Level, Telemetry};
    /// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Off))?;
    /// let page = telemetry.catalog().to_markdown("mytool"); // the "what we collect" page
    /// assert!(page.contains("$session_id"));
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Delivers everything captured so far, waiting at most `timeout`.
    ///
    /// Returns `true` only when all of it was delivered: the worker finished
    /// within `timeout`, and no event was given up on, for any reason, since
    /// the previous flush returned (or the client started). `false` means
    /// that something was not delivered, or not yet: the deadline came
    /// first (what is queued is still sent later), or events were dropped
    /// (refused by the endpoint, retries exhausted, too large, the queue
    /// full, consent lowered, ...); [`stats`](Telemetry::stats) says how
    /// many and why.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, Level, Properties, Telemetry, Value};
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(MemorySink::new()))?;
    /// use std::time::Duration;
    /// telemetry_runtime::event! {
    ///     /// A document was parsed.
    ///     static PARSED = "parsed" {
    ///         /// How deep its lists were.
    ///         depth: u64,
    ///         /// Its lists of lists.
    ///         nested: Vec<Vec<u32>>,
    ///     }
    /// }
    /// telemetry.capture_with(&PARSED, Properties::new().with("depth", 1u8));
    /// assert!(telemetry.flush(Duration::from_secs(5)));
    /// // Lists nested deeper than parsers accept: the event is refused.
    /// let deep = (0..40).fold(Value::List(vec![]), |v, _| Value::List(vec![v]));
    /// telemetry.capture_with(&PARSED, Properties::new().with("nested", deep));
    /// assert!(!telemetry.flush(Duration::from_secs(5)));
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    #[must_use = "`false` means some events were not delivered"]
    pub fn flush(&self, timeout: Duration) -> bool {
        if self.inner.forked() {
            return self.inner.give_up_after_fork();
        }
        // Drops since the last flush returned, and during this one: read at
        // the start, and raised (never lowered) at the end, so that flushes
        // running at once each see every drop of their time.
        let before = self.inner.dropped_at_flush.load(Relaxed);
        let finished =
            !self.inner.worker_started.load(Relaxed) || self.inner.queue.flush(deadline_after(timeout));
        let dropped = self.inner.counters.dropped_total();
        self.inner.dropped_at_flush.fetch_max(dropped, Relaxed);
        finished && dropped == before
    }

    /// Stops the client: later captures do nothing; what is queued is
    /// delivered if that can be done within `timeout`. Returns whether the
    /// worker finished in time; if not, it is left to end with the process,
    /// and every event it had not delivered (still queued, or in a request
    /// the endpoint has not answered) is counted as dropped for
    /// [`DropReason::Shutdown`], with one warning that gives their number
    /// and the deadline. The counters are final from then on.
    ///
    /// With the spool on ([`Delivery::spool`](crate::Delivery::spool)), what the
    /// deadline cuts off is kept for the next run: a request in flight was
    /// spooled before it was sent, and what is queued behind it is written
    /// to the spool in the last quarter of `timeout` (up to 250 ms of it),
    /// for which the worker stops trying that much earlier.
    ///
    /// A later call (or one made while a first is still running) answers for
    /// the whole shutdown by its own deadline: `true` once the worker has
    /// finished, unless a deadline already gave events up.
    #[must_use = "`false` means the worker did not finish delivering in time"]
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.inner.shutdown(timeout)
    }

    /// The configured shutdown deadline.
    pub(crate) fn shutdown_timeout(&self) -> Duration {
        self.inner.settings.shutdown_timeout
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }
}

/// What the `cli` module's subcommands and status report read; not on the
/// public client, whose users have [`cli::Status`](crate::cli::Status).
impl Telemetry {
    /// Where the install id is kept, if there is a cache directory.
    pub(crate) fn id_path(&self) -> Option<&Path> {
        self.inner.identity.path()
    }

    /// The state this handle shares with its worker, for the model tests.
    #[cfg(all(test, shuttle))]
    pub(crate) fn shared(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Where the id events carry comes from.
    pub(crate) fn id_source(&self) -> &crate::local::identity::IdSource {
        self.inner.identity.source()
    }

    /// Where the persisted choice is kept, if there is a config directory.
    pub(crate) fn consent_path(&self) -> Option<&Path> {
        self.inner.resolver.consent_path.as_deref()
    }

    /// The names of the configured sinks.
    pub(crate) fn sink_names(&self) -> Vec<&str> {
        self.inner.sink_routes.iter().map(|sink| sink.name.as_str()).collect()
    }

    /// The names of the sinks whose routes are the user's own (see
    /// [`Route::owned_by_user`]), governed by the user's OpenTelemetry
    /// settings rather than by [`consent`](Telemetry::consent).
    pub(crate) fn user_owned_sink_names(&self) -> Vec<&str> {
        let owned = self.inner.sink_routes.iter().filter(|sink| sink.route.is_user_owned());
        owned.map(|sink| sink.name.as_str()).collect()
    }

    /// The digest of the catalog, sent as `$catalog_digest`.
    pub(crate) fn catalog_digest(&self) -> &str {
        &self.inner.catalog_digest
    }

    /// The application's name.
    pub(crate) fn app_name(&self) -> &str {
        &self.inner.app_name
    }

    /// The main environment variable users set to choose.
    pub(crate) fn env_var(&self) -> &str {
        &self.inner.resolver.env_vars[0].name
    }

    /// What consent is resolved from, for what `status` says about it.
    pub(crate) fn resolver(&self) -> &crate::pipeline::shared::Resolver {
        &self.inner.resolver
    }

    /// Whether debug mode is on: events are printed, nothing is sent.
    pub(crate) fn is_debug(&self) -> bool {
        self.inner.debug
    }

    /// Whether events are kept on this machine only.
    pub(crate) fn is_local_only(&self) -> bool {
        self.inner.local_only
    }

    /// Where the counts and reports of reports by period are kept, when a
    /// route reports by period and there is a data directory.
    pub(crate) fn reports_path(&self) -> Option<&Path> {
        self.inner.reports.path()
    }

    /// The reports by period, as `telemetry report` shows them.
    pub(crate) fn reports(&self) -> Vec<RouteReports> {
        self.inner.reports.shown(&self.inner.identity)
    }

    /// Where local-only events are written, if there is a data directory.
    pub(crate) fn local_events_path(&self) -> Option<PathBuf> {
        Some(self.inner.data_dir.as_ref()?.join(LOCAL_EVENTS_FILE))
    }

    /// Where the most recently delivered events are kept for the user to
    /// read, if there is a data directory and the record is enabled.
    pub(crate) fn recent_deliveries_path(&self) -> Option<PathBuf> {
        if self.inner.settings.recent_deliveries == 0 {
            return None;
        }
        Some(self.inner.data_dir.as_ref()?.join(RECENT_FILE))
    }
}

impl std::fmt::Debug for Telemetry {
    /// What the client does, never who it is: neither the install id nor
    /// the session id is printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Telemetry")
            .field("app_name", &inner.app_name)
            .field("app_version", &inner.app_version)
            .field("level", &inner.level())
            .field("consent", &self.consent())
            .field("sinks", &self.sink_names())
            .field("debug", &inner.debug)
            .field("local_only", &inner.local_only)
            .field("shut_down", &inner.shut_down.load(Relaxed))
            .finish_non_exhaustive()
    }
}
