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

/// File name of the persisted consent choice inside the config directory.
const CONSENT_FILE: &str = "telemetry_consent";
/// A scratch buffer larger than this (after an unusually large event) is
/// freed rather than kept for the thread's next capture.
const MAX_SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    /// Each thread's buffer for packing a typed event's properties.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A handle to one telemetry client. Cheap to clone; every clone is the same
/// client.
///
/// Applications usually use the global client through [`crate::init`];
/// a library that collects its own telemetry keeps a `Telemetry` of its own
/// so that it never competes with its host for the global one.
///
/// ```
/// use telemetry_runtime::{sink::MemorySink, Config, Level, Properties, Telemetry};
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
/// [`shutdown_timeout`](Config::shutdown_timeout): what is queued is
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
    /// the spool ([`Config::spool`](crate::Config::spool)) or a route that
    /// reports by period ([`Route::per_period`]) it lists their folders: it
    /// deletes what they hold unsent when consent is off, and starts the
    /// worker when something waits to be sent.
    pub fn new(config: Config) -> Result<Telemetry, ConfigError> {
        Telemetry::with_level_cell(config, None)
    }

    pub(crate) fn with_level_cell(
        config: Config,
        global_gate: Option<&'static AtomicU8>,
    ) -> Result<Telemetry, ConfigError> {
        config.validate()?;
        let documented = config.documented_index()?;
        let app_dir = |over: &Option<PathBuf>, platform: Option<PathBuf>| {
            over.clone().or_else(|| platform.map(|d| d.join(&config.app_name)))
        };
        let cache_dir = app_dir(&config.cache_dir, platform::cache_dir());
        let config_dir = app_dir(&config.config_dir, platform::config_dir());
        let data_dir = app_dir(&config.data_dir, platform::data_dir());
        let catalog = config.catalog.unwrap_or_else(Catalog::collect).with_envelope(Envelope {
            identity: config.distinct_id.described(),
            geoip: !config.disable_geoip,
        });
        // The OpenTelemetry switch every SDK honours; only "true" turns it off.
        let otel_disabled =
            (config.env)("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let resolver_env = Arc::clone(&config.env);
        let resolver = Resolver {
            explicit: Mutex::new(config.explicit),
            env: config.env,
            env_vars: config.env_vars,
            consent_path: config_dir.as_ref().map(|d| d.join(CONSENT_FILE)),
            detect_ci: config.detect_ci,
            default: config.default_level,
            notice_pending: AtomicBool::new(false),
            notice_shown: AtomicBool::new(false),
            documented,
        };
        let env_var = resolver.env_vars[0].name.clone();
        // The main variable's name with `_DEBUG`, and the app's own
        // `<APP>_TELEMETRY_DEBUG` when the main variable was renamed
        // (`CUA_TELEMETRY_ENABLED` -> `CUA_TELEMETRY_DEBUG` too).
        let app_var = crate::config::env_var_for(&config.app_name);
        let debug_on =
            |name: &str| (resolver.env)(name).and_then(|v| Level::parse(&v)).is_some_and(|l| l > Level::Off);
        let debug = config.debug
            || debug_on(&format!("{env_var}_DEBUG"))
            || (app_var != env_var && debug_on(&format!("{app_var}_DEBUG")));
        // Named after the app, like the main variable's default name, so that
        // renaming the main variable (`CUA_TELEMETRY_ENABLED`) leaves it as
        // `CUA_TELEMETRY_SAMPLE_RATE`.
        let sample_var = format!("{app_var}_SAMPLE_RATE");
        let sample_rate = sample_rate_from_env(&resolver.env, &sample_var).unwrap_or(config.sample_rate);
        let mut consent = resolver.resolve();
        let local_only = config.local_only || consent.local_only;
        // The notice is about data leaving the machine for the vendor: debug
        // and local-only modes, and programs whose vendor sinks are all
        // local, send the vendor nothing.
        let configured = config.sinks.into_inner().unwrap_or_else(|e| e.into_inner());
        // What the catalog and the notice say about reports by period.
        let catalog = catalog.with_reports(report::notes(configured.iter().map(|(_, route, _)| route)));
        let sends_away = !debug
            && !local_only
            && configured.iter().any(|(s, route, _)| !s.is_local() && !route.is_user_owned());
        if config.notice.enabled && sends_away && consent.source == ConsentSource::Default {
            // Decided by the default: the documented variable is the switch.
            let (name, value) = consent::off_switch(&consent, &resolver.env_vars, resolver.documented)
                .unwrap_or((&env_var, "off"));
            let reports = catalog.reports().iter().map(|note| note.seconds).min();
            let commands = config.notice.commands.as_deref();
            let text = || notice::default_text(&config.app_name, name, value, commands, reports);
            // `mytool telemetry off` on a first run: a notice telling the
            // user to run what they are running does not fit, and is not
            // shown; it stays due for the next run that is not one of these.
            let running_commands =
                commands.is_some_and(|invocation| notice::runs_command(invocation, std::env::args_os()));
            consent = first_run_notice(
                running_commands,
                &config.notice,
                &resolver,
                consent.clone(),
                config_dir.as_deref(),
                &catalog,
                text,
            );
        }
        let local = |sink: Box<dyn Sink>| (sink, Route::all(), String::new());
        let routed: Vec<(Box<dyn Sink>, Route, String)> = if debug {
            vec![local(Box::new(StderrSink::new()))]
        } else if local_only {
            match &data_dir {
                Some(dir) => vec![local(Box::new(JsonlSink::new(dir.join(LOCAL_EVENTS_FILE))))],
                None => {
                    log::warn!("No data directory for local-only telemetry: nothing is recorded.");
                    Vec::new()
                }
            }
        } else {
            configured
        };
        let sink_ids = spool::sink_identities(routed.iter().map(|(_, route, to)| (to.as_str(), route)));
        let (sinks, routes): (Vec<Box<dyn Sink>>, Vec<Route>) =
            routed.into_iter().map(|(sink, route, _)| (sink, route)).unzip();
        let level = compiled_level(consent.level) as u8;
        let user_level = if otel_disabled {
            Level::Off
        } else {
            compiled_level(routes.iter().map(|r| r.user_level(Level::Full)).max().unwrap_or(Level::Off))
        } as u8;
        let gate_level = level.max(user_level);
        let sink_routes: Vec<SinkRoute> = sinks
            .iter()
            .zip(sink_ids)
            .zip(routes)
            .map(|((sink, id), route)| {
                let name = sink.name().to_owned();
                let local = catch_unwind(AssertUnwindSafe(|| sink.is_local())).unwrap_or_else(|_| {
                    log::error!(
                        "Telemetry sink {name} panicked when asked where it keeps data; taken as remote."
                    );
                    false
                });
                SinkRoute { name, id, route, local }
            })
            .collect();
        let reports = Reports::new(
            data_dir.as_deref(),
            config.report_clock,
            sink_routes.iter().map(|sink| (sink.name.as_str(), sink.id.as_str(), &sink.route)),
        );
        if let Some(gate) = global_gate {
            gate.store(gate_level, Relaxed);
        }
        log_decision(&consent, &resolver);
        let inner = Inner {
            global_gate,
            own_gate: AtomicU8::new(gate_level),
            allowance: Arc::new(Allowance::new(Level::from_u8(level), Level::from_u8(user_level))),
            changing: Mutex::new(()),
            counter_consent: AtomicU8::new(level),
            consent: Mutex::new(consent),
            resolver,
            queue: Queue::new(
                config.settings.queue_capacity,
                config.settings.queue_bytes,
                config.settings.batch_size,
            ),
            counters: Counters::default(),
            identity: Arc::new(Identity::new(
                cache_dir.as_ref().map(|d| d.join(ID_FILE)),
                config.distinct_id.source(),
            )),
            version: VersionRecord::new(cache_dir.as_ref().map(|d| d.join(VERSION_FILE))),
            files_lock: Mutex::new(()),
            session_id: Uuid::new_v4().to_string(),
            app_name: config.app_name,
            app_version: config.app_version,
            settings: config.settings,
            sink_routes,
            sinks: Mutex::new(Some(sinks)),
            otel_resource: crate::sink::otel_resource(&*resolver_env),
            worker_started: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            shutdown_lost: AtomicBool::new(false),
            pid: std::process::id(),
            dropped_at_flush: AtomicU64::new(0),
            aggregates: Aggregates::default(),
            reports,
            catalog_digest: catalog.digest(),
            disable_geoip: config.disable_geoip,
            catalog,
            os_version: OnceLock::new(),
            data_dir,
            cache_dir,
            debug,
            local_only,
            sample_rate,
            sample_state: config.sample_seed.map(AtomicU64::new),
            worker_main: crate::pipeline::worker::run,
            keep_queued: crate::pipeline::worker::keep_queued,
        };
        let inner = Arc::new(inner);
        let telemetry = Telemetry { _owner: Arc::new(Owner(Arc::clone(&inner))), inner };
        telemetry.settle_spool();
        telemetry.settle_reports();
        Ok(telemetry)
    }

    /// With routes that report by period: deletes what was not sent when
    /// consent is off, or starts the worker when a report waits to be sent.
    fn settle_reports(&self) {
        let inner = &self.inner;
        if inner.reports.is_empty() {
            return;
        }
        let consent = lock(&inner.consent).clone();
        if consent.level == Level::Off && consent.source != ConsentSource::NoticePending {
            inner.reports.forget_pending(inner.user_level() > Level::Off);
        }
        let (consent, user) = (inner.consent_level(), inner.user_level());
        if inner.reports.has_due(&|route| route.level_under(consent, user) >= Level::Usage) {
            inner.ensure_worker();
        }
    }

    /// With the spool on: deletes it when consent is off, or starts the
    /// worker to deliver what an earlier run left.
    fn settle_spool(&self) {
        let Some(spool) = self.inner.spool() else { return };
        if self.inner.consent_level() == Level::Off && self.inner.user_level() == Level::Off {
            if let Err(err) = spool.clear() {
                log::warn!("Cannot delete the telemetry spool ({err}).");
            }
        } else if !spool.is_empty() {
            self.inner.ensure_worker();
        }
    }

    /// Whether events are being collected (one relaxed atomic load).
    #[inline]
    pub fn is_enabled(&self) -> bool {
        crate::__private::COMPILED_IN && self.inner.gate().load(Relaxed) != Level::Off as u8
    }

    /// The level events are captured at (one relaxed atomic load): the
    /// consent level in force, or the level of the user-owned sinks (see
    /// [`Route::user_owned`]) when that is higher. What the vendor's sinks
    /// may receive is [`consent`](Telemetry::consent).
    #[inline]
    pub fn level(&self) -> Level {
        self.inner.level()
    }

    /// The level in force and the source that decided it.
    pub fn consent(&self) -> Consent {
        lock(&self.inner.consent).clone()
    }

    /// Makes an explicit choice for this run (not saved), outranking every
    /// other source. Takes effect for the next capture. Lowering it takes
    /// effect for what was captured before too: once this returns, no byte
    /// carrying data above `level` is written to any socket. Queued events
    /// the new level does not allow, events waiting to be retried, and
    /// requests being sent are checked against it (the library's HTTP
    /// sinks check every write to the socket), and what no longer qualifies
    /// is dropped and counted as [`DropReason::ConsentWithdrawn`]. At
    /// `Off`, counts taken by [`increment`](Telemetry::increment) are
    /// discarded too, and so is what routes that report by period
    /// ([`Route::per_period`]) have not sent yet.
    ///
    /// What it may cost: a write to a socket that was checked against the
    /// old level and is still under way is waited for, at most the sink's
    /// request timeout (10 s by default; see `HttpTransport::timeouts`),
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
    /// the config directory, with mode 0600, and applies it. An environment
    /// variable or `DO_NOT_TRACK` still outranks it, as the user set those too.
    pub fn persist_consent(&self, level: Level) -> io::Result<()> {
        self.persist_choice(level.as_str())
    }

    /// Saves `choice` (a level name, or `local`) and applies it.
    pub(crate) fn persist_choice(&self, choice: &str) -> io::Result<()> {
        let path = self.consent_path().ok_or_else(|| io::Error::other("no config directory"))?;
        self.inner.change_consent(|| files::write_private(path, &format!("{choice}\n"), Existing::Replace))
    }

    /// Forgets the saved choice (the next resolution falls through to CI
    /// detection and the default).
    pub fn forget_consent(&self) -> io::Result<()> {
        self.inner.change_consent(|| self.consent_path().map_or(Ok(()), files::remove_if_present))
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
    /// use telemetry_runtime::{sink::MemorySink, Config, Level, Telemetry, VersionChange};
    /// # let dir = tempfile::tempdir().unwrap();
    ///
    /// let telemetry = Telemetry::new(
    ///     Config::new("mytool", "2.0.0").consent(Level::Usage).cache_dir(dir.path()).sink(MemorySink::new()),
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

    /// The highest level the user's own settings give the user-owned sinks
    /// (see [`Route::user_owned`]): `Off` when there are none, or the user
    /// set `OTEL_SDK_DISABLED=true`. A program can skip building details
    /// that only the user's own collector would receive while it is off.
    ///
    /// ```
    /// # use telemetry_runtime::{sink::MemorySink, Config, Level, Telemetry};
    /// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Usage).sink(MemorySink::new()))?;
    /// assert_eq!(telemetry.user_owned_level(), Level::Off); // no user-owned sink
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn user_owned_level(&self) -> Level {
        self.inner.user_level()
    }

    /// Captures a typed event. Never blocks: when the queue is full the event
    /// is dropped and counted.
    #[inline]
    pub fn capture<E: TelemetryEvent>(&self, event: &E) {
        self.capture_timed(event, None);
    }

    /// Captures a typed event that happened at `time` (for example one read
    /// from a log, or recorded while offline): it is sent with that
    /// timestamp, in UTC, instead of the time of the call. A time with an
    /// offset, as text, is read by [`parse_rfc3339`](crate::parse_rfc3339).
    ///
    /// ```
    /// # use telemetry_runtime::{sink::MemorySink, Config, Level, Telemetry, TelemetryEvent};
    /// /// A build finished.
    /// #[derive(TelemetryEvent)]
    /// struct BuildFinished {
    ///     ok: bool,
    /// }
    /// # let memory = MemorySink::new();
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(memory.clone()))?;
    /// let when = telemetry_runtime::parse_rfc3339("2025-01-02T08:34:05+05:30").expect("a valid time");
    /// telemetry.capture_at(&BuildFinished { ok: true }, when);
    /// telemetry.flush(std::time::Duration::from_secs(5));
    /// assert_eq!(memory.events()[0]["timestamp"], "2025-01-02T03:04:05.000Z");
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn capture_at<E: TelemetryEvent>(&self, event: &E, time: SystemTime) {
        self.capture_timed(event, Some(time));
    }

    #[inline]
    fn capture_timed<E: TelemetryEvent>(&self, event: &E, time: Option<SystemTime>) {
        let Some((level, rate)) = self.admits(E::MIN_LEVEL, E::SAMPLE_RATE) else { return };
        self.enqueue_packed(E::NAME, E::MIN_LEVEL, rate, time, None, |properties| {
            event.write_properties(level, properties);
        });
    }

    /// The level to capture at and the sample rate in force, for an event
    /// of `min_level` and its own `sample_rate`; `None` when it is not
    /// captured (consent below it, or sampled out, counted).
    #[inline]
    fn admits(&self, min_level: Level, sample_rate: f64) -> Option<(Level, f64)> {
        let level = self.level();
        if level < min_level || level == Level::Off {
            return None;
        }
        let rate = sample_rate * self.inner.sample_rate;
        if rate < 1.0 && !self.inner.keep(rate) {
            return None;
        }
        Some((level, rate))
    }

    /// Packs an event's properties with `pack` into this thread's scratch
    /// buffer and queues it: the queue copies the bytes into its own
    /// buffer, so nothing is allocated per event.
    #[inline]
    fn enqueue_packed(
        &self,
        name: &'static str,
        min_level: Level,
        rate: f64,
        time: Option<SystemTime>,
        span: Option<SpanIds>,
        pack: impl FnOnce(&mut Properties),
    ) {
        let mut properties = Properties::from_buffer(SCRATCH.try_with(Cell::take).unwrap_or_default());
        pack(&mut properties);
        if rate < 1.0 {
            properties.push("$sample_rate", Level::Usage, &Value::Float(rate));
        }
        let mut record = Record::at(Cow::Borrowed(name), time);
        if let Some(span) = span {
            properties.end_with_span(&span.to_bytes());
            record.kind = RecordKind::Call;
        }
        record.min_level = min_level;
        record.consent = self.inner.consent_level();
        self.inner.enqueue(record, &properties);
        let buffer = properties.into_buffer();
        if buffer.capacity() <= MAX_SCRATCH_BYTES {
            let _ = SCRATCH.try_with(|scratch| scratch.set(buffer));
        }
    }

    /// Captures a declared event with properties built at run time. Never
    /// blocks. Each property is checked against the declaration (see
    /// [`event!`](crate::event)): one it does not declare, or whose value has
    /// another type, is left out and counted as
    /// [`Stats::undeclared`]; the others are classified as declared.
    pub fn capture_with(&self, event: &DynamicEvent, properties: Properties) {
        self.capture_with_timed(event, properties, None);
    }

    /// [`capture_with`](Telemetry::capture_with) for an event that happened
    /// at `time`; see [`capture_at`](Telemetry::capture_at).
    pub fn capture_with_at(&self, event: &DynamicEvent, properties: Properties, time: SystemTime) {
        self.capture_with_timed(event, properties, Some(time));
    }

    /// Captures an instrumented call's event (see
    /// [`capture_with`](Telemetry::capture_with)) with its span, which the
    /// OTLP sink sends on the routes that ask for spans.
    pub(crate) fn capture_call(&self, event: &DynamicEvent, properties: Properties, span: SpanIds) {
        self.capture_dynamic(event, properties, None, Some(span));
    }

    fn capture_with_timed(&self, event: &DynamicEvent, properties: Properties, time: Option<SystemTime>) {
        self.capture_dynamic(event, properties, time, None);
    }

    fn capture_dynamic(
        &self,
        event: &DynamicEvent,
        properties: Properties,
        time: Option<SystemTime>,
        span: Option<SpanIds>,
    ) {
        let schema = event.schema();
        let Some((level, rate)) = self.admits(schema.min_level, schema.sample_rate) else { return };
        if properties.too_deep() {
            // Its too-deep value is already null: refuse the whole event, as
            // `enqueue` does for typed events.
            log::warn!("Telemetry event {:?} nests lists deeper than {MAX_DEPTH}: dropped.", schema.name);
            self.inner.counters.dropped(DropReason::Invalid, 1);
            return;
        }
        self.enqueue_packed(schema.name, schema.min_level, rate, time, span, |classified| {
            let refused = event.classify(level, &properties, classified);
            if refused > 0 {
                self.inner.counters.undeclared(refused);
            }
        });
    }

    /// Adds one to a declared counter (see [`counter!`](crate::counter)).
    /// Counters are kept in memory and sent as one event per series (the
    /// name, the labels and a `count`) each flush interval and at flush, so
    /// frequent actions cost almost nothing on the wire.
    ///
    /// The label values are given in the declared order, typed: the
    /// label's enum for one label, a tuple of them for more, `()` for none.
    ///
    /// ```
    /// # use telemetry_runtime::{sink::MemorySink, Config, Level, Telemetry, TelemetryProperty};
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
    ///     telemetry.increment(&TOOL_CALLS, Status::Ok);
    /// }
    /// assert!(telemetry.flush(std::time::Duration::from_secs(5)));
    /// let events = memory.events();
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0]["properties"]["count"], 1000);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    #[inline]
    pub fn increment<L: Labels>(&self, counter: &Counter<L>, values: L) {
        self.add(counter, values, 1);
    }

    /// Adds `n` to a declared counter; see [`increment`](Telemetry::increment).
    pub fn add<L: Labels>(&self, counter: &Counter<L>, values: L, n: u64) {
        if !self.is_enabled() {
            return;
        }
        self.inner.ensure_worker();
        counter.with_series(&values, |series| self.inner.aggregates.add(counter.name(), series, n));
    }

    /// Every event this client can send: the catalog it was configured with
    /// ([`Config::catalog`](crate::Config::catalog)), or every event compiled
    /// into the program. Its [`digest`](Catalog::digest) is sent with every
    /// event as `$catalog_digest`.
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
    /// # use telemetry_runtime::{sink::MemorySink, Config, Level, Properties, Telemetry, Value};
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
    /// With the spool on ([`Config::spool`](crate::Config::spool)), what the
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
    /// [`Route::user_owned`]), governed by the user's OpenTelemetry
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

/// Telemetry is about to be on by default: unless the user was already told
/// about this catalog, tell them now (or wait for a terminal, or for a run
/// that is not one of the telemetry commands, `running_commands`) and send
/// nothing in this run.
fn first_run_notice(
    running_commands: bool,
    notice: &Notice,
    resolver: &Resolver,
    consent: Consent,
    config_dir: Option<&Path>,
    catalog: &Catalog,
    default_text: impl FnOnce() -> String,
) -> Consent {
    if consent.level == Level::Off {
        return consent;
    }
    let record = config_dir.map(|d| d.join(notice::NOTICE_FILE));
    if record.as_deref().is_some_and(|path| notice::acknowledged(path, catalog)) {
        return consent;
    }
    if !running_commands {
        let text = notice.text.clone().unwrap_or_else(default_text);
        if notice::show(&text, notice.requires_terminal) {
            resolver.notice_shown.store(true, Relaxed);
            if let Some(path) = &record {
                notice::record(path, catalog);
            }
        }
    }
    resolver.notice_pending.store(true, Relaxed);
    resolver.resolve()
}

/// The rate in `name`, when it is set to a number in `[0, 1]`; any other
/// value is logged and ignored.
fn sample_rate_from_env(env: &EnvLookup, name: &str) -> Option<f64> {
    let value = env(name).filter(|v| !v.trim().is_empty())?;
    match value.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Some(rate),
        _ => {
            let shown: String = value.chars().take(40).collect();
            log::warn!("Ignoring {name}={shown:?}: a sample rate is a number from 0 to 1.");
            None
        }
    }
}
