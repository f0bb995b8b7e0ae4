//! Everything the application decides, built in code.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ConfigError;
use crate::local::consent::{process_env, EnvLookup, EnvVar, Polarity};
use crate::local::identity::IdSource;
use crate::model::catalog::Catalog;
use crate::model::redact::Digest;
use crate::pipeline::report::Clock;
use crate::pipeline::route::Route;
use crate::pipeline::shared::Settings;
use crate::pipeline::spool::SpoolSettings;
use crate::sink::Sink;
use crate::Level;

/// A sink as configured: the sink, its route, and what it sends to (see
/// [`sink::destination`](crate::sink::destination)).
pub(crate) type ConfiguredSink = (Box<dyn Sink>, Route, String);

/// The configuration of one telemetry client.
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::{sink::JsonlSink, Config, Level, Polarity};
///
/// let config = Config::new("mytool", "1.4.0")
///     .default_level(Level::Usage) // opt-out: on unless the user says otherwise
///     .legacy_env_var("MYTOOL_ANONYMIZED_TELEMETRY", Polarity::Enables)
///     .sink(JsonlSink::new("/tmp/mytool-events.jsonl"))
///     .flush_interval(Duration::from_secs(2));
/// assert_eq!(config.env_var_name(), "MYTOOL_TELEMETRY");
/// ```
pub struct Config {
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) default_level: Level,
    pub(crate) explicit: Option<Level>,
    pub(crate) env_vars: Vec<EnvVar>,
    pub(crate) detect_ci: bool,
    pub(crate) env: EnvLookup,
    /// Each sink with its route and what it sends to (see
    /// [`sink::destination`](crate::sink::destination)). Behind a mutex only
    /// so that a `Config` is `Sync` although a sink need only be `Send`; it
    /// is never locked by two threads at once.
    pub(crate) sinks: Mutex<Vec<ConfiguredSink>>,
    pub(crate) distinct_id: DistinctId,
    /// Send `$geoip_disable: true` with every event (the default).
    pub(crate) disable_geoip: bool,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) config_dir: Option<PathBuf>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) debug: bool,
    pub(crate) local_only: bool,
    pub(crate) notice: Notice,
    pub(crate) catalog: Option<Catalog>,
    pub(crate) settings: Settings,
    pub(crate) sample_rate: f64,
    pub(crate) sample_seed: Option<u64>,
    pub(crate) documented_env_var: Option<String>,
    /// The clock that decides the periods of reports (tests set their own).
    pub(crate) report_clock: Option<Clock>,
}

/// How the first-run notice behaves.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    pub(crate) enabled: bool,
    pub(crate) requires_terminal: bool,
    pub(crate) text: Option<String>,
    pub(crate) commands: Option<String>,
}

impl Config {
    /// A configuration for `app_name` at `app_version`. Both are sent with
    /// every event (`$app_name`, `$app_version`), so both come from the
    /// code: `&'static str`, as a literal or `env!("CARGO_PKG_VERSION")`
    /// gives them, never text read at run time. Their shape is checked when
    /// the client is built ([`Telemetry::new`](crate::Telemetry::new),
    /// [`init`](crate::init)), which refuses with a [`ConfigError`]:
    ///
    /// - the name: 1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting
    ///   with a letter or digit (it also names the cache and config
    ///   directories and the environment variable);
    /// - the version: 1 to 4 numbers separated by dots (`1`, `1.4`,
    ///   `1.4.0`), then optionally a pre-release (`-beta.2`) and build
    ///   metadata (`+abc123`) of letters, digits, `-` and `.`; 64 characters
    ///   at most.
    ///
    /// ```
    /// use telemetry_runtime::{Config, Telemetry};
    ///
    /// let config = Config::new("mytool", env!("CARGO_PKG_VERSION"));
    /// assert!(Telemetry::new(config).is_ok());
    /// let err = Telemetry::new(Config::new("mytool", "latest")).unwrap_err();
    /// assert!(err.to_string().contains("does not look like a version"));
    /// ```
    ///
    /// Text built at run time does not compile:
    ///
    /// ```compile_fail
    /// let name = std::env::args().next().unwrap_or_default();
    /// let config = telemetry_runtime::Config::new(&name, "1.0.0"); // error: `name` does not live long enough
    /// ```
    ///
    /// Defaults: opt-in (`Level::Off` unless the user turns telemetry on),
    /// environment variable `<APP>_TELEMETRY`, CI detection on, no sinks,
    /// a queue of 10,000 events and 16 MiB, batches of 100 (up to 1,000 per
    /// request when more are waiting), a 5 s flush interval, a 2 s shutdown
    /// deadline and a 900 KiB limit per event.
    pub fn new(app_name: &'static str, app_version: &'static str) -> Config {
        let primary = EnvVar { name: env_var_for(app_name), polarity: Polarity::Enables };
        Config {
            app_name: app_name.to_owned(),
            app_version: app_version.to_owned(),
            default_level: Level::Off,
            explicit: None,
            env_vars: vec![primary],
            detect_ci: true,
            env: process_env(),
            sinks: Mutex::new(Vec::new()),
            distinct_id: DistinctId::Install,
            disable_geoip: true,
            cache_dir: None,
            config_dir: None,
            data_dir: None,
            debug: false,
            local_only: false,
            notice: Notice { enabled: true, requires_terminal: false, text: None, commands: None },
            catalog: None,
            sample_rate: 1.0,
            sample_seed: None,
            documented_env_var: None,
            report_clock: None,
            settings: Settings {
                queue_capacity: 10_000,
                queue_bytes: 16 * 1024 * 1024,
                batch_size: 100,
                max_batch_size: 1_000,
                flush_interval: Duration::from_secs(5),
                shutdown_timeout: Duration::from_secs(2),
                max_event_bytes: 900 * 1024,
                recent_deliveries: 100,
                spool: None,
            },
        }
    }

    /// The level used when no user setting decides: `Level::Usage` makes
    /// telemetry opt-out, `Level::Off` (the default) opt-in.
    pub fn default_level(mut self, level: Level) -> Config {
        self.default_level = level;
        self
    }

    /// An explicit choice for this run, typically from the user's own
    /// command-line flag (`--no-telemetry`). It outranks every other source.
    pub fn consent(mut self, level: Level) -> Config {
        self.explicit = Some(level);
        self
    }

    /// Renames the application's main environment variable (default
    /// `<APP>_TELEMETRY`, the app name upper-cased with `-` and `.` as `_`).
    pub fn env_var(mut self, name: impl Into<String>) -> Config {
        self.env_vars[0].name = name.into();
        self
    }

    /// Adds a variable read after the main one, for names an earlier version
    /// of the application honoured.
    pub fn legacy_env_var(mut self, name: impl Into<String>, polarity: Polarity) -> Config {
        self.env_vars.push(EnvVar { name: name.into(), polarity });
        self
    }

    /// The variable the program's own documentation tells users to set,
    /// when it is not the main one: for a tool whose users know
    /// `ANONYMIZED_TELEMETRY=false`, the notice and log lines then say
    /// "Set ANONYMIZED_TELEMETRY=false to disable" rather than naming the
    /// main variable, unless another variable decided (that one is named).
    /// It must be one of the variables read (added with
    /// [`legacy_env_var`](Config::legacy_env_var), with a polarity that can
    /// turn telemetry off).
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Polarity};
    /// let config = Config::new("browser_use", "0.1.0")
    ///     .legacy_env_var("ANONYMIZED_TELEMETRY", Polarity::Enables)
    ///     .documented_env_var("ANONYMIZED_TELEMETRY");
    /// ```
    pub fn documented_env_var(mut self, name: impl Into<String>) -> Config {
        self.documented_env_var = Some(name.into());
        self
    }

    /// Which of the variables is the documented switch (0: the main one).
    pub(crate) fn documented_index(&self) -> Result<usize, ConfigError> {
        let Some(name) = &self.documented_env_var else { return Ok(0) };
        self.env_vars
            .iter()
            .position(|var| var.name == *name && var.polarity != Polarity::OptInFull)
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "documented variable {name} is not one the configuration reads, or cannot turn telemetry off"
                ))
            })
    }

    /// The main environment variable's name.
    pub fn env_var_name(&self) -> &str {
        &self.env_vars[0].name
    }

    /// Whether a CI environment turns telemetry off (default `true`).
    pub fn detect_ci(mut self, detect: bool) -> Config {
        self.detect_ci = detect;
        self
    }

    /// Reads environment variables through `lookup` instead of the process
    /// environment; for tests and for hosts that keep their own.
    pub fn environment(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Config {
        self.env = Arc::new(lookup);
        self
    }

    /// Adds a sink that receives every event (see [`Route::all`]).
    pub fn sink(self, sink: impl Sink) -> Config {
        self.route(sink, Route::all())
    }

    /// Adds a sink that receives only what `route` lets through.
    pub fn route(mut self, sink: impl Sink, route: Route) -> Config {
        let destination = crate::sink::destination(&sink);
        self.sinks.get_mut().unwrap_or_else(|e| e.into_inner()).push((Box::new(sink), route, destination));
        self
    }

    /// Uses an id the application already has instead of the generated
    /// install id: an opaque one, a UUID (for example the id an earlier
    /// version stored). Anything else is refused when the client is made;
    /// a value that is not opaque (an account name, an e-mail address) goes
    /// through [`distinct_id_hashed`](Config::distinct_id_hashed).
    ///
    /// ```
    /// use telemetry_runtime::{Config, Level, Telemetry};
    /// let ok = Config::new("mytool", "1.0.0").distinct_id("0b6e8f1c-3d4a-4f5e-9a7b-1c2d3e4f5a6b");
    /// assert!(Telemetry::new(ok.consent(Level::Off)).is_ok());
    /// let refused = Config::new("mytool", "1.0.0").distinct_id("jane@example.com");
    /// assert!(Telemetry::new(refused).is_err());
    /// ```
    pub fn distinct_id(mut self, uuid: impl Into<String>) -> Config {
        self.distinct_id = DistinctId::Uuid(uuid.into());
        self
    }

    /// Sends, as the id, a hash of `value` keyed with this installation's
    /// secret key (the one of `redact = "hash"` fields): the same on this
    /// machine for the same value, never the value, unlinkable to it without
    /// the key file, and new after a reset. For a program with accounts of
    /// its own that wants one id per account and machine.
    ///
    /// ```
    /// use telemetry_runtime::Config;
    /// let config = Config::new("mytool", "1.0.0").distinct_id_hashed("account-1842");
    /// ```
    pub fn distinct_id_hashed(mut self, value: impl Into<String>) -> Config {
        self.distinct_id = DistinctId::Hashed(value.into());
        self
    }

    /// Sends `id` as it is with every event: a written decision, like a
    /// public field's. `reason` (words, shown in the catalog beside
    /// `distinct_id`) says why the receiver needs this id rather than an
    /// opaque one. Prefer [`distinct_id`](Config::distinct_id) or
    /// [`distinct_id_hashed`](Config::distinct_id_hashed).
    ///
    /// ```
    /// use telemetry_runtime::Config;
    /// let config = Config::new("mytool", "1.0.0")
    ///     .distinct_id_raw("ci-runner-7", "the fleet's own runner names, which identify machines, not people");
    /// ```
    pub fn distinct_id_raw(mut self, id: impl Into<String>, reason: &'static str) -> Config {
        self.distinct_id = DistinctId::Raw(id.into(), reason);
        self
    }

    /// Whether every event carries `$geoip_disable: true` (the default), so
    /// that PostHog does not look up a location from the IP address the
    /// events come from. A program that wants that location says so here,
    /// and its catalog says it too. The IP address itself still reaches
    /// the receiver (see the README's "What a receiver still sees").
    ///
    /// ```
    /// use telemetry_runtime::Config;
    /// let config = Config::new("mytool", "1.0.0").disable_geoip(false);
    /// ```
    pub fn disable_geoip(mut self, disable: bool) -> Config {
        self.disable_geoip = disable;
        self
    }

    /// The directory for the install id (default: the platform cache
    /// directory joined with the app name).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The directory for the persisted consent choice (default: the platform
    /// config directory joined with the app name).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.config_dir = Some(dir.into());
        self
    }

    /// The directory for local-only events and the record of recent
    /// deliveries (default: the platform data directory joined with the app
    /// name).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.data_dir = Some(dir.into());
        self
    }

    /// Debug mode: each event is printed to stderr as the exact JSON that
    /// would be sent, and nothing is sent. Users can also turn it on with
    /// `<APP>_TELEMETRY_DEBUG=1`, or the main variable's name with `_DEBUG`
    /// when [`env_var`](Config::env_var) renamed it.
    pub fn debug(mut self, debug: bool) -> Config {
        self.debug = debug;
        self
    }

    /// Local-only mode: events go only to `telemetry_events.jsonl` in the
    /// data directory, where the user can read them; nothing leaves the
    /// machine. Users can also choose it with `<APP>_TELEMETRY=local`.
    pub fn local_only(mut self, local: bool) -> Config {
        self.local_only = local;
        self
    }

    /// Whether telemetry that is on by default first shows a notice and sends
    /// nothing in that run (default `true`). Turn it off only if the program
    /// tells its users in another way before its first run.
    pub fn first_run_notice(mut self, enabled: bool) -> Config {
        self.notice.enabled = enabled;
        self
    }

    /// When stderr is not a terminal (a script, a pipe), neither show the
    /// notice nor send anything until a run on a terminal has shown it
    /// (default `false`: the notice goes to stderr wherever it points).
    pub fn notice_requires_terminal(mut self, required: bool) -> Config {
        self.notice.requires_terminal = required;
        self
    }

    /// How users reach the telemetry subcommands (for example
    /// `"mytool telemetry"`); the notice tells them about `catalog` and `off`.
    ///
    /// A run of those commands themselves (`mytool telemetry off`, also
    /// `mytool --no-telemetry telemetry status`: the words after the
    /// program's name come first among its arguments that are not options)
    /// does not show the notice, which would tell the user to run what they
    /// are running, and sends nothing: the notice stays due for the next
    /// run, unless the command saved a choice (`off`, `on`, ...), which
    /// needs none.
    pub fn commands(mut self, invocation: impl Into<String>) -> Config {
        self.notice.commands = Some(invocation.into());
        self
    }

    /// Replaces the notice's text.
    pub fn notice_text(mut self, text: impl Into<String>) -> Config {
        self.notice.text = Some(text.into());
        self
    }

    /// The catalog the notice and `$catalog_digest` are based on (default:
    /// every event registered in the program, [`Catalog::collect`]).
    pub fn catalog(mut self, catalog: Catalog) -> Config {
        self.catalog = Some(catalog);
        self
    }

    /// How many delivered events are kept, for the user to read, in
    /// `telemetry_recent.jsonl` in the data directory (default 100; 0 keeps none).
    pub fn recent_deliveries(mut self, events: usize) -> Config {
        self.settings.recent_deliveries = events;
        self
    }

    /// Keeps every batch on disk until it is delivered, so that events a
    /// short-lived program could not send before exiting (or before the
    /// shutdown deadline) are sent by its next run, oldest first. Off by
    /// default. The spool lives in `telemetry_spool` in the cache directory
    /// (files 0600), holds at most 10 MiB and keeps batches at most 7 days;
    /// see [`spool_limits`](Config::spool_limits). When a later run has
    /// consent off, the spool is deleted unsent.
    ///
    /// A spooled batch is sent again only to the sink it was written for,
    /// recognised by what it sends to and its route (never by its name),
    /// through that route and the consent in force then; a batch whose sink
    /// is no longer configured is deleted and counted as
    /// [`DropReason::Undeliverable`](crate::DropReason::Undeliverable). Each
    /// file is claimed by one process before it is sent, and what a sink
    /// delivered of a batch is not kept. A crash between delivery and
    /// deletion sends the batch again on the next run, with the same event
    /// uuids, which receivers such as PostHog de-duplicate, and so does a
    /// request whose answer never came: delivery is at least once, and
    /// exactly once wherever the library knows what was delivered.
    pub fn spool(mut self, enabled: bool) -> Config {
        self.settings.spool = enabled.then(|| {
            self.settings.spool.clone().unwrap_or(SpoolSettings {
                max_bytes: 10 * 1024 * 1024,
                max_age: Duration::from_secs(7 * 24 * 3600),
            })
        });
        self
    }

    /// Turns the spool on with these limits: total size in bytes (the oldest
    /// batches go first) and the age after which a batch is deleted unsent.
    pub fn spool_limits(mut self, max_bytes: u64, max_age: Duration) -> Config {
        self.settings.spool = Some(SpoolSettings { max_bytes, max_age });
        self
    }

    /// The share of events kept, in `[0, 1]` (default 1: every event).
    ///
    /// Each event (derived or declared with [`event!`](crate::event)) is
    /// kept with this probability, times the event's own sample rate; a kept
    /// event carries `$sample_rate` (the product) so that counts can be
    /// scaled back up, and a sampled-out one is counted in
    /// [`Stats::sampled_out`](crate::Stats::sampled_out). Counters
    /// ([`increment`](crate::Telemetry::increment)) are not sampled: they
    /// already cost one event per series and interval.
    ///
    /// Users and operators can set it too: `<APP>_TELEMETRY_SAMPLE_RATE=0.1`
    /// (the app name upper-cased, as in the main variable's default name,
    /// whatever [`env_var`](Config::env_var) renames it to) outranks this
    /// value; a value that is not a number in `[0, 1]` is logged and ignored.
    ///
    /// ```
    /// # use telemetry_runtime::Config;
    /// let config = Config::new("mytool", "1.0.0").sample_rate(0.25);
    /// ```
    pub fn sample_rate(mut self, rate: f64) -> Config {
        self.sample_rate = rate;
        self
    }

    /// Makes sampling reproducible: the keep-or-drop decisions are drawn
    /// from a generator seeded with `seed`, so the same sequence of captures
    /// keeps the same events in every run (for tests, benchmarks and
    /// replayed workloads). Without a seed each decision is drawn from a
    /// per-thread generator seeded by the operating system.
    ///
    /// Decisions are made per event, on the caller's thread, rather than
    /// per installation (keyed by the install id): the install id is read
    /// from disk by the worker thread only, and a capture never touches the
    /// disk. With several threads capturing, the seeded sequence is shared
    /// in the order the captures reach it.
    pub fn sample_seed(mut self, seed: u64) -> Config {
        self.sample_seed = Some(seed);
        self
    }

    /// Events kept in memory before new ones are dropped and counted as
    /// [`DropReason::QueueFull`](crate::DropReason::QueueFull) (default
    /// 10,000). See also [`queue_bytes`](Config::queue_bytes).
    ///
    /// The queue is what absorbs a burst: the worker sends while callers
    /// capture, but a capture never waits for it. With the defaults, a
    /// tight loop of 200,000 captures, against a loopback endpoint in
    /// another process, delivered from 14,000 to 87,000 events (half the
    /// runs 21,000 to 43,000; see `BENCHMARKS.md`), the queue's worth plus
    /// what the worker sent meanwhile, and counted the rest as
    /// `queue_full`. A program that captures more than 10,000 events faster
    /// than its endpoint takes them should raise this (each queued event
    /// holds its record, 48 bytes, and its packed properties, typically
    /// 100-300 bytes), or aggregate with counters.
    ///
    /// ```
    /// # use telemetry_runtime::Config;
    /// // Bursts of up to 100,000 events, each under about 300 bytes.
    /// let config = Config::new("mytool", "1.0.0").queue_capacity(100_000).queue_bytes(32 << 20);
    /// ```
    pub fn queue_capacity(mut self, events: usize) -> Config {
        self.settings.queue_capacity = events;
        self
    }

    /// The most bytes the queued events' properties may hold before new
    /// events are dropped and counted as
    /// [`DropReason::QueueFull`](crate::DropReason::QueueFull) (default
    /// 16 MiB), so that memory is bounded by size as well as by count: ten
    /// thousand events each carrying a 100 KB opt-in text would otherwise
    /// hold a gigabyte.
    ///
    /// The default is chosen so that it never binds before the event count
    /// for ordinary events: a full default queue of 10,000 events fits in
    /// it as long as they average under 1.6 KiB of properties, five times
    /// the largest typical event, so the burst
    /// [`queue_capacity`](Config::queue_capacity) describes is absorbed
    /// the same. It binds only for large events (about 160 events of
    /// 100 KB), and it is under PostHog's 20 MiB per request. Memory held
    /// for events is then at most about twice this (the queue, and one
    /// take of the worker while it sends), plus the JSON of one request.
    /// An event larger than the limit is never queued.
    pub fn queue_bytes(mut self, bytes: usize) -> Config {
        self.settings.queue_bytes = bytes;
        self
    }

    /// Events per batch (default 100). A full batch is sent at once, without
    /// waiting for the flush interval.
    pub fn batch_size(mut self, events: usize) -> Config {
        self.settings.batch_size = events;
        self
    }

    /// The most events one request carries when more than a batch is
    /// waiting (default 1,000; never fewer than [`batch_size`](Self::batch_size)).
    ///
    /// After a burst of captures, or when the endpoint was slow, the worker
    /// sends what is waiting in as few requests as this allows: every request
    /// costs a round trip and a fixed amount of work on both ends. HTTP sinks
    /// still split requests to stay within their body size limit. Set it to
    /// the batch size for requests of at most one batch.
    ///
    /// ```
    /// # use telemetry_runtime::Config;
    /// let config = Config::new("mytool", "1.0.0").batch_size(50).max_batch_size(50);
    /// ```
    pub fn max_batch_size(mut self, events: usize) -> Config {
        self.settings.max_batch_size = events;
        self
    }

    /// The longest an event waits before its batch is sent (default 5 s).
    pub fn flush_interval(mut self, interval: Duration) -> Config {
        self.settings.flush_interval = interval;
        self
    }

    /// How long the guard's drop may spend delivering what is left (default 2 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Config {
        self.settings.shutdown_timeout = timeout;
        self
    }

    /// The largest serialized event sent; larger ones are dropped with a
    /// warning (default 900 KiB, under PostHog's 1 MB).
    pub fn max_event_bytes(mut self, bytes: usize) -> Config {
        self.settings.max_event_bytes = bytes;
        self
    }

    /// The configured sinks' names.
    fn sink_names(&self) -> Vec<String> {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        sinks.iter().map(|(sink, _, _)| sink.name().to_owned()).collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !is_app_name(&self.app_name) {
            return Err(ConfigError::new(format!(
                "app name {:?} must be 1-64 ASCII letters, digits, '-', '_' or '.', starting with a \
                 letter or digit",
                self.app_name
            )));
        }
        if !is_version(&self.app_version) {
            return Err(ConfigError::new(format!(
                "app version {:?} does not look like a version: expected 1 to 4 numbers separated \
                 by dots (1.4.0, as env!(\"CARGO_PKG_VERSION\") gives), optionally followed by \
                 -pre.release and +build of ASCII letters, digits, '-' and '.', 64 characters at most",
                self.app_version
            )));
        }
        if self.env_vars.iter().any(|v| v.name.is_empty()) {
            return Err(ConfigError::new("environment variable names must not be empty"));
        }
        self.distinct_id.validate()?;
        self.documented_index()?;
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(ConfigError::new(format!("sample rate {} is not in [0, 1]", self.sample_rate)));
        }
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(period) =
            sinks.iter().filter_map(|(_, route, _)| route.period()).find(|p| p.as_secs() < 60)
        {
            return Err(ConfigError::new(format!("a route's period ({period:?}) must be at least a minute")));
        }
        drop(sinks);
        let s = &self.settings;
        if s.queue_capacity == 0
            || s.queue_bytes == 0
            || s.batch_size == 0
            || s.max_batch_size == 0
            || s.flush_interval.is_zero()
            || s.max_event_bytes == 0
        {
            return Err(ConfigError::new(
                "queue capacity and bytes, batch sizes, flush interval and event size limit must be above zero",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_name", &self.app_name)
            .field("app_version", &self.app_version)
            .field("default_level", &self.default_level)
            .field("env_vars", &self.env_vars)
            .field("sinks", &self.sink_names())
            .finish_non_exhaustive()
    }
}

/// Where the id events carry comes from, as configured.
#[derive(Debug, Clone)]
pub(crate) enum DistinctId {
    /// The generated install id.
    Install,
    /// A UUID the application gives.
    Uuid(String),
    /// A value of the application's, sent as its keyed hash.
    Hashed(String),
    /// An id sent as it is, with the application's written reason.
    Raw(String, &'static str),
}

impl DistinctId {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            DistinctId::Install => Ok(()),
            DistinctId::Uuid(text) => match uuid::Uuid::parse_str(text.trim()) {
                Ok(id) if !id.is_nil() && !id.is_max() => Ok(()),
                // The value itself is not repeated: it may be what must not leak.
                _ => Err(ConfigError::new(
                    "the distinct id must be a UUID (an opaque id); send another value as its keyed hash \
                     with Config::distinct_id_hashed",
                )),
            },
            DistinctId::Hashed(value) if value.is_empty() => {
                Err(ConfigError::new("the value of a hashed distinct id must not be empty"))
            }
            DistinctId::Hashed(_) => Ok(()),
            DistinctId::Raw(id, reason) => {
                if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
                    return Err(ConfigError::new(
                        "a raw distinct id must be 1-200 bytes without control characters",
                    ));
                }
                if !has_words(reason) {
                    return Err(ConfigError::new(
                        "the reason for a raw distinct id must say why, in words (it is shown in the catalog)",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The id source the identity is built on.
    pub(crate) fn source(&self) -> IdSource {
        match self {
            DistinctId::Install => IdSource::Install,
            DistinctId::Uuid(text) => IdSource::Given(
                uuid::Uuid::parse_str(text.trim()).map_or_else(|_| text.clone(), |id| id.to_string()),
            ),
            DistinctId::Hashed(value) => IdSource::Hashed(Digest::of(value)),
            DistinctId::Raw(id, _) => IdSource::Given(id.clone()),
        }
    }

    /// What the catalog says `distinct_id` holds, when the application
    /// supplies it.
    pub(crate) fn described(&self) -> Option<String> {
        match self {
            DistinctId::Install => None,
            DistinctId::Uuid(_) => Some("an opaque id (a UUID) the application supplies".into()),
            DistinctId::Hashed(_) => Some(
                "an id of the application's, sent as its hash keyed with a secret of this installation \
                 (never the id itself)"
                    .into(),
            ),
            DistinctId::Raw(_, reason) => {
                Some(format!("an id the application supplies, sent as it is. *Sent because:* {reason}"))
            }
        }
    }
}

/// Whether `text` holds at least two words of two letters or more: a
/// written reason, not a placeholder, punctuation or an invisible character.
pub(crate) fn has_words(text: &str) -> bool {
    text.split(|c: char| !c.is_alphabetic()).filter(|word| word.chars().count() >= 2).count() >= 2
}

/// 1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter
/// or digit.
fn is_app_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `1`, `1.4`, `1.4.0` or `1.4.0.2`, then optionally `-pre.release` and
/// `+build` of ASCII letters, digits, `-` and `.` (no empty part), 64
/// characters at most: the shape of a SemVer version, and of most others.
fn is_version(version: &str) -> bool {
    let identifiers = |part: &str| {
        part.split('.').all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let (rest, build) = version.split_once('+').map_or((version, None), |(v, b)| (v, Some(b)));
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(v, p)| (v, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    version.len() <= 64
        && (1..=4).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

/// `my-tool` -> `MY_TOOL_TELEMETRY`.
pub(crate) fn env_var_for(app_name: &str) -> String {
    let stem: String = app_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("{stem}_TELEMETRY")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_name_from_app_name() {
        assert_eq!(env_var_for("my-tool.rs"), "MY_TOOL_RS_TELEMETRY");
        assert_eq!(Config::new("agent", "1").env_var("AGENT_STATS").env_var_name(), "AGENT_STATS");
    }

    #[test]
    fn bad_names_and_numbers_are_refused() {
        for name in ["", ".hidden", "-dash", "a/b", "spa ce", "émoji", "x\u{200b}"] {
            assert!(Config::new(name, "1").validate().is_err(), "{name:?}");
        }
        assert!(!is_app_name(&"x".repeat(65)));
        assert!(is_app_name(&"x".repeat(64)));
        assert!(Config::new("ok", "1").batch_size(0).validate().is_err());
        assert!(Config::new("ok", "1").max_batch_size(0).validate().is_err());
        assert!(Config::new("ok", "1").queue_capacity(0).validate().is_err());
        assert!(Config::new("ok", "1").queue_bytes(0).validate().is_err());
        assert!(Config::new("ok", "1").distinct_id(" ").validate().is_err());
        assert!(Config::new("ok", "1").distinct_id("jane@example.com").validate().is_err());
        assert!(Config::new("ok", "1").distinct_id(uuid::Uuid::nil().to_string()).validate().is_err());
        let uuid = "0B6E8F1C-3D4A-4F5E-9A7B-1C2D3E4F5A6B";
        assert!(Config::new("ok", "1").distinct_id(uuid).validate().is_ok());
        assert!(Config::new("ok", "1").distinct_id_hashed("").validate().is_err());
        assert!(Config::new("ok", "1").distinct_id_hashed("jane@example.com").validate().is_ok());
        for reason in ["", "\u{200b}", "--", "x y", "because"] {
            let raw = Config::new("ok", "1").distinct_id_raw("runner-7", reason);
            assert!(raw.validate().is_err(), "{reason:?}");
        }
        let raw = Config::new("ok", "1").distinct_id_raw("runner\n7", "machine names of the fleet");
        assert!(raw.validate().is_err());
        assert!(Config::new("ok", "1").distinct_id_raw("runner-7", "machine names").validate().is_ok());
        for rate in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Config::new("ok", "1").sample_rate(rate).validate().is_err(), "{rate}");
        }
        assert!(Config::new("ok", "1").sample_rate(0.0).validate().is_ok());
        assert!(Config::new("ok", "1").documented_env_var("NOPE").validate().is_err());
        let opt_in = Config::new("ok", "1").legacy_env_var("OK_TRAJECTORY", Polarity::OptInFull);
        assert!(opt_in.documented_env_var("OK_TRAJECTORY").validate().is_err());
        let legacy = Config::new("ok", "1").legacy_env_var("ANONYMIZED_TELEMETRY", Polarity::Enables);
        assert_eq!(legacy.documented_env_var("ANONYMIZED_TELEMETRY").documented_index(), Ok(1));
        assert!(Config::new("ok", "1").validate().is_ok());
        let every = |seconds| {
            let route = Route::all().per_period(Duration::from_secs(seconds));
            Config::new("ok", "1").route(crate::sink::MemorySink::new(), route).validate()
        };
        assert!(every(59).is_err() && every(0).is_err());
        assert!(every(60).is_ok());
    }

    #[test]
    fn names_and_versions_have_the_shape_of_names_and_versions() {
        for name in ["mytool", "my-tool.rs", "my_tool", "7zip", env!("CARGO_PKG_NAME")] {
            assert!(Config::new(name, "1.0.0").validate().is_ok(), "{name:?}");
        }
        for version in [
            "1",
            "1.4",
            "1.4.0",
            "1.4.0.2",
            "0.1.0-beta.2",
            "1.0.0+abc123",
            "1.0.0-rc-1+build.5",
            env!("CARGO_PKG_VERSION"),
        ] {
            assert!(Config::new("ok", version).validate().is_ok(), "{version:?}");
        }
        for version in [
            "",
            "latest",
            "v1.0.0",
            "1.",
            ".1",
            "1..0",
            "1.2.3.4.5",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-beta..1",
            "1.0.0 ",
            "1.0.0-ada@example.com",
            "1.0.0-/home/ada",
            "1.0.0-\u{200b}",
        ] {
            let err = Config::new("ok", version).validate().unwrap_err();
            assert!(err.to_string().contains("does not look like a version"), "{version:?}: {err}");
        }
        assert!(is_version(&format!("1.0.0-{}", "a".repeat(58))));
        assert!(!is_version(&format!("1.0.0-{}", "a".repeat(59))));
        let err = Config::new("a/b", "1").validate().unwrap_err();
        assert!(err.to_string().contains("app name \"a/b\" must be 1-64 ASCII letters"), "{err}");
    }
}
