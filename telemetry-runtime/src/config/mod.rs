//! Everything the application decides, built in code.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::local::consent::{process_env, EnvLookup, EnvVar, Polarity};
use crate::model::catalog::Catalog;
use crate::pipeline::report::Clock;
use crate::pipeline::route::Route;
use crate::sink::Sink;
use crate::Level;

mod groups;
mod identity;

pub use groups::{Delivery, Dirs, EnvVars, Notice};
pub(crate) use identity::env_var_for;
pub use identity::DistinctId;
use identity::{is_app_name, is_version};

/// A sink as configured: the sink, its route, and what it sends to (see
/// [`sink::destination`](crate::sink::destination)).
pub(crate) type ConfiguredSink = (Box<dyn Sink>, Route, String);

/// The configuration of one telemetry client: the application's name and
/// version, where events go, and a few groups of settings, each with its
/// defaults filled in and changed through a closure that returns it
/// ([`env`](Config::env), [`dirs`](Config::dirs), [`notice`](Config::notice),
/// [`delivery`](Config::delivery)), so that calls compose.
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::sink::JsonlSink;
/// use telemetry_runtime::{Config, Delivery, EnvVars, Level, Polarity};
///
/// let config = Config::new("mytool", "1.4.0")
///     .default_level(Level::Usage) // opt-out: on unless the user says otherwise
///     .env(|vars| EnvVars {
///         legacy: vec![("MYTOOL_ANONYMIZED_TELEMETRY".into(), Polarity::Enables)],
///         ..vars
///     })
///     .sink(JsonlSink::new("/tmp/mytool-events.jsonl"))
///     .delivery(|d| Delivery { flush_interval: Duration::from_secs(2), ..d });
/// ```
pub struct Config {
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) default_level: Level,
    pub(crate) explicit: Option<Level>,
    pub(crate) env_vars: EnvVars,
    pub(crate) env: EnvLookup,
    /// Each sink with its route and what it sends to (see
    /// [`sink::destination`](crate::sink::destination)). Behind a mutex only
    /// so that a `Config` is `Sync` although a sink need only be `Send`; it
    /// is never locked by two threads at once.
    pub(crate) sinks: Mutex<Vec<ConfiguredSink>>,
    pub(crate) distinct_id: DistinctId,
    /// Send `$geoip_disable: true` with every event (the default).
    pub(crate) disable_geoip: bool,
    pub(crate) dirs: Dirs,
    pub(crate) notice: Notice,
    pub(crate) catalog: Option<Catalog>,
    pub(crate) delivery: Delivery,
    /// The clock that decides the periods of reports (tests set their own).
    pub(crate) report_clock: Option<Clock>,
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
    /// use telemetry_runtime::{Config, ConfigErrorKind, Telemetry};
    ///
    /// let config = Config::new("mytool", env!("CARGO_PKG_VERSION"));
    /// assert!(Telemetry::new(config).is_ok());
    /// let err = Telemetry::new(Config::new("mytool", "latest")).unwrap_err();
    /// assert_eq!(err.kind(), ConfigErrorKind::AppVersion);
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
    /// and the [`Delivery`] defaults.
    pub fn new(app_name: &'static str, app_version: &'static str) -> Config {
        Config {
            app_name: app_name.to_owned(),
            app_version: app_version.to_owned(),
            default_level: Level::Off,
            explicit: None,
            env_vars: EnvVars {
                main: env_var_for(app_name),
                legacy: Vec::new(),
                documented: None,
                detect_ci: true,
            },
            env: process_env(),
            sinks: Mutex::new(Vec::new()),
            distinct_id: DistinctId::Install,
            disable_geoip: true,
            dirs: Dirs::default(),
            notice: Notice { enabled: true, requires_terminal: false, commands: None, text: None },
            catalog: None,
            report_clock: None,
            delivery: Delivery {
                queue_capacity: 10_000,
                queue_bytes: 16 * 1024 * 1024,
                batch_size: 100,
                max_batch_size: 1_000,
                flush_interval: Duration::from_secs(5),
                shutdown_timeout: Duration::from_secs(2),
                max_event_bytes: 900 * 1024,
                recent_deliveries: 100,
                spool: false,
                spool_max_bytes: 10 * 1024 * 1024,
                spool_max_age: Duration::from_secs(7 * 24 * 3600),
                sample_rate: 1.0,
                sample_seed: None,
                debug: false,
                local_only: false,
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

    /// The environment variables that decide consent, changed by `change`.
    ///
    /// ```
    /// # use telemetry_runtime::{Config, EnvVars, Polarity};
    /// let config = Config::new("browser_use", "0.1.0").env(|vars| EnvVars {
    ///     legacy: vec![("ANONYMIZED_TELEMETRY".into(), Polarity::Enables)],
    ///     documented: Some("ANONYMIZED_TELEMETRY".into()),
    ///     ..vars
    /// });
    /// ```
    pub fn env(mut self, change: impl FnOnce(EnvVars) -> EnvVars) -> Config {
        self.env_vars = change(self.env_vars);
        self
    }

    /// Reads environment variables through `lookup` instead of the process
    /// environment; for tests and for hosts that keep their own.
    pub fn environment(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Config {
        self.env = Arc::new(lookup);
        self
    }

    /// Adds a sink that receives every event (`Route::default()`).
    pub fn sink(self, sink: impl Sink) -> Config {
        self.route(sink, Route::default())
    }

    /// Adds a sink that receives only what `route` lets through.
    pub fn route(mut self, sink: impl Sink, route: Route) -> Config {
        let destination = crate::sink::destination(&sink);
        self.sinks.get_mut().unwrap_or_else(|e| e.into_inner()).push((Box::new(sink), route, destination));
        self
    }

    /// The id events carry, instead of the generated install id (see
    /// [`DistinctId`]).
    ///
    /// ```
    /// use telemetry_runtime::{Config, DistinctId, Level, Telemetry};
    /// let ok = Config::new("mytool", "1.0.0").distinct_id(DistinctId::Uuid("0b6e8f1c-3d4a-4f5e-9a7b-1c2d3e4f5a6b".into()));
    /// assert!(Telemetry::new(ok.consent(Level::Off)).is_ok());
    /// let refused = Config::new("mytool", "1.0.0").distinct_id(DistinctId::Uuid("jane@example.com".into()));
    /// assert!(Telemetry::new(refused).is_err());
    /// ```
    pub fn distinct_id(mut self, id: DistinctId) -> Config {
        self.distinct_id = id;
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

    /// Where the library keeps its files, changed by `change` (see [`Dirs`]).
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Dirs};
    /// # let dir = std::env::temp_dir();
    /// // Everything in one directory:
    /// let config = Config::new("mytool", "1.0.0").dirs(|_| Dirs::from(&dir));
    /// // Only the saved choice somewhere else:
    /// let config = config.dirs(|dirs| Dirs { config: Some(dir.join("etc")), ..dirs });
    /// ```
    pub fn dirs(mut self, change: impl FnOnce(Dirs) -> Dirs) -> Config {
        self.dirs = change(self.dirs);
        self
    }

    /// The first-run notice, changed by `change` (see [`Notice`]).
    ///
    /// ```
    /// # use telemetry_runtime::{Config, Notice};
    /// let config = Config::new("mytool", "1.0.0")
    ///     .notice(|notice| Notice { commands: Some("mytool telemetry".into()), ..notice });
    /// ```
    pub fn notice(mut self, change: impl FnOnce(Notice) -> Notice) -> Config {
        self.notice = change(self.notice);
        self
    }

    /// The catalog the notice and `$catalog_digest` are based on (default:
    /// every event registered in the program, [`Catalog::collect`]).
    pub fn catalog(mut self, catalog: Catalog) -> Config {
        self.catalog = Some(catalog);
        self
    }

    /// Queueing, batching, deadlines and the spool, changed by `change`
    /// (see [`Delivery`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use telemetry_runtime::{Config, Delivery};
    /// // A CLI: a short deadline at exit, and what it cuts off kept for the next run.
    /// let config = Config::new("mytool", "1.0.0").delivery(|d| Delivery {
    ///     shutdown_timeout: Duration::from_millis(500),
    ///     spool: true,
    ///     ..d
    /// });
    /// ```
    pub fn delivery(mut self, change: impl FnOnce(Delivery) -> Delivery) -> Config {
        self.delivery = change(self.delivery);
        self
    }

    /// The variables read, in order: the main one, then the legacy ones.
    pub(crate) fn env_var_list(&self) -> Vec<EnvVar> {
        let main = EnvVar { name: self.env_vars.main.clone(), polarity: Polarity::Enables };
        let legacy = self
            .env_vars
            .legacy
            .iter()
            .map(|(name, polarity)| EnvVar { name: name.clone(), polarity: *polarity });
        std::iter::once(main).chain(legacy).collect()
    }

    /// Which of the variables is the documented switch (0: the main one).
    pub(crate) fn documented_index(&self) -> Result<usize, ConfigError> {
        let Some(name) = &self.env_vars.documented else { return Ok(0) };
        self.env_var_list()
            .iter()
            .position(|var| var.name == *name && var.polarity != Polarity::OptInFull)
            .ok_or_else(|| {
                ConfigError::new(
                    ConfigErrorKind::EnvVar,
                    format!("documented variable {name} is not one the configuration reads, or cannot turn telemetry off"),
                )
            })
    }

    /// The configured sinks' names.
    fn sink_names(&self) -> Vec<String> {
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        sinks.iter().map(|(sink, _, _)| sink.name().to_owned()).collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !is_app_name(&self.app_name) {
            return Err(ConfigError::new(
                ConfigErrorKind::AppName,
                format!(
                    "app name {:?} must be 1-64 ASCII letters, digits, '-', '_' or '.', starting with a \
                 letter or digit",
                    self.app_name
                ),
            ));
        }
        if !is_version(&self.app_version) {
            return Err(ConfigError::new(
                ConfigErrorKind::AppVersion,
                format!(
                    "app version {:?} does not look like a version: expected 1 to 4 numbers separated \
                 by dots (1.4.0, as env!(\"CARGO_PKG_VERSION\") gives), optionally followed by \
                 -pre.release and +build of ASCII letters, digits, '-' and '.', 64 characters at most",
                    self.app_version
                ),
            ));
        }
        if self.env_var_list().iter().any(|v| v.name.is_empty()) {
            return Err(ConfigError::new(
                ConfigErrorKind::EnvVar,
                "environment variable names must not be empty",
            ));
        }
        self.distinct_id.validate()?;
        self.documented_index()?;
        if !(0.0..=1.0).contains(&self.delivery.sample_rate) {
            return Err(ConfigError::new(
                ConfigErrorKind::SampleRate,
                format!("sample rate {} is not in [0, 1]", self.delivery.sample_rate),
            ));
        }
        let sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(period) =
            sinks.iter().filter_map(|(_, route, _)| route.period()).find(|p| p.as_secs() < 60)
        {
            return Err(ConfigError::new(
                ConfigErrorKind::Limits,
                format!("a route's period ({period:?}) must be at least a minute"),
            ));
        }
        drop(sinks);
        let s = &self.delivery;
        if s.queue_capacity == 0
            || s.queue_bytes == 0
            || s.batch_size == 0
            || s.max_batch_size == 0
            || s.flush_interval.is_zero()
            || s.max_event_bytes == 0
        {
            return Err(ConfigError::new(
                ConfigErrorKind::Limits,
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
            .field("dirs", &self.dirs)
            .field("delivery", &self.delivery)
            .field("sinks", &self.sink_names())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_name_from_app_name() {
        assert_eq!(env_var_for("my-tool.rs"), "MY_TOOL_RS_TELEMETRY");
        assert_eq!(
            Config::new("agent", "1")
                .env(|e| crate::EnvVars { main: "AGENT_STATS".into(), ..e })
                .env_vars
                .main,
            "AGENT_STATS"
        );
    }

    #[test]
    fn bad_names_and_numbers_are_refused() {
        for name in ["", ".hidden", "-dash", "a/b", "spa ce", "émoji", "x\u{200b}"] {
            assert!(Config::new(name, "1").validate().is_err(), "{name:?}");
        }
        assert!(!is_app_name(&"x".repeat(65)));
        assert!(is_app_name(&"x".repeat(64)));
        assert!(Config::new("ok", "1")
            .delivery(|d| crate::Delivery { batch_size: 0, ..d })
            .validate()
            .is_err());
        assert!(Config::new("ok", "1")
            .delivery(|d| crate::Delivery { max_batch_size: 0, ..d })
            .validate()
            .is_err());
        assert!(Config::new("ok", "1")
            .delivery(|d| crate::Delivery { queue_capacity: 0, ..d })
            .validate()
            .is_err());
        assert!(Config::new("ok", "1")
            .delivery(|d| crate::Delivery { queue_bytes: 0, ..d })
            .validate()
            .is_err());
        assert!(Config::new("ok", "1").distinct_id(crate::DistinctId::Uuid(" ".into())).validate().is_err());
        assert!(Config::new("ok", "1")
            .distinct_id(crate::DistinctId::Uuid("jane@example.com".into()))
            .validate()
            .is_err());
        assert!(Config::new("ok", "1")
            .distinct_id(crate::DistinctId::Uuid(uuid::Uuid::nil().to_string()))
            .validate()
            .is_err());
        let uuid = "0B6E8F1C-3D4A-4F5E-9A7B-1C2D3E4F5A6B";
        assert!(Config::new("ok", "1").distinct_id(crate::DistinctId::Uuid(uuid.into())).validate().is_ok());
        assert!(Config::new("ok", "1").distinct_id(crate::DistinctId::Hashed("".into())).validate().is_err());
        assert!(Config::new("ok", "1")
            .distinct_id(crate::DistinctId::Hashed("jane@example.com".into()))
            .validate()
            .is_ok());
        for reason in ["", "\u{200b}", "--", "x y", "because"] {
            let raw =
                Config::new("ok", "1").distinct_id(crate::DistinctId::Raw { id: "runner-7".into(), reason });
            assert!(raw.validate().is_err(), "{reason:?}");
        }
        let raw = Config::new("ok", "1").distinct_id(crate::DistinctId::Raw {
            id: "runner\n7".into(),
            reason: "machine names of the fleet",
        });
        assert!(raw.validate().is_err());
        assert!(Config::new("ok", "1")
            .distinct_id(crate::DistinctId::Raw { id: "runner-7".into(), reason: "machine names" })
            .validate()
            .is_ok());
        for rate in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(
                Config::new("ok", "1").delivery(|d| Delivery { sample_rate: rate, ..d }).validate().is_err(),
                "{rate}"
            );
        }
        assert!(Config::new("ok", "1").delivery(|d| Delivery { sample_rate: 0.0, ..d }).validate().is_ok());
        assert!(Config::new("ok", "1")
            .env(|e| crate::EnvVars { documented: Some("NOPE".into()), ..e })
            .validate()
            .is_err());
        let opt_in = Config::new("ok", "1").env(|mut e| {
            e.legacy.push(("OK_TRAJECTORY".into(), Polarity::OptInFull));
            e
        });
        assert!(opt_in
            .env(|e| crate::EnvVars { documented: Some("OK_TRAJECTORY".into()), ..e })
            .validate()
            .is_err());
        let legacy = Config::new("ok", "1").env(|mut e| {
            e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        });
        assert_eq!(
            legacy
                .env(|e| crate::EnvVars { documented: Some("ANONYMIZED_TELEMETRY".into()), ..e })
                .documented_index(),
            Ok(1)
        );
        assert!(Config::new("ok", "1").validate().is_ok());
        let every = |seconds| {
            let route = Route::default().per_period(Duration::from_secs(seconds));
            Config::new("ok", "1").route(crate::testing::MemorySink::new(), route).validate()
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
