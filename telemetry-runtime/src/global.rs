//! The global client: [`init`] installs it, the free functions use it, and
//! a gated call costs one atomic load while it is off.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use crate::model::counter::{Counter, Labels};
use crate::model::dynamic::DynamicEvent;
use crate::model::span::SpanIds;
use crate::{Config, ConfigError, ConfigErrorKind, Level, Properties, Telemetry, TelemetryEvent};

/// The global client's level: what [`is_enabled`] reads. Off until [`init`].
static GLOBAL_LEVEL: AtomicU8 = AtomicU8::new(Level::Off as u8);
static GLOBAL: OnceLock<Telemetry> = OnceLock::new();

/// Installs the global client. Keep the returned guard alive for the life
/// of the program: dropping it delivers what is queued, waiting at most the
/// configured shutdown timeout, then turns telemetry off. The guard is the
/// client too (it dereferences to [`Telemetry`]).
///
/// Calls made before `init` do nothing and cost one atomic load. A refused
/// configuration is an error, and so is a second `init` in the process
/// (of kind [`ConfigErrorKind::AlreadyInitialized`]).
///
/// ```
/// use telemetry_runtime::{Config, ConfigErrorKind, Level};
///
/// let err = telemetry_runtime::init(Config::new("", "1.0.0")).unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::AppName);
/// let telemetry = telemetry_runtime::init(Config::new("mytool", "1.0.0").consent(Level::Off))?;
/// assert!(telemetry.flush(std::time::Duration::from_secs(1)));
/// let again = telemetry_runtime::init(Config::new("mytool", "1.0.0")).unwrap_err();
/// assert_eq!(again.kind(), ConfigErrorKind::AlreadyInitialized);
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
pub fn init(config: Config) -> Result<Guard, ConfigError> {
    // Held until the client is installed, so that a refused concurrent init
    // never writes its level into the global gate.
    static INIT: Mutex<()> = Mutex::new(());
    let _init = INIT.lock().unwrap_or_else(|e| e.into_inner());
    let already = || {
        ConfigError::new(
            ConfigErrorKind::AlreadyInitialized,
            "telemetry is already initialised in this process",
        )
    };
    if GLOBAL.get().is_some() {
        return Err(already());
    }
    let client = Telemetry::with_level_cell(config, Some(&GLOBAL_LEVEL))?;
    match GLOBAL.set(client.clone()) {
        Ok(()) => Ok(Guard { client }),
        Err(_) => Err(already()),
    }
}

/// Flushes and stops the global client when dropped.
#[must_use = "dropping the guard shuts telemetry down at once"]
#[derive(Debug)]
pub struct Guard {
    client: Telemetry,
}

/// The client this guard stops.
impl std::ops::Deref for Guard {
    type Target = Telemetry;

    fn deref(&self) -> &Telemetry {
        &self.client
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // What it gives up on is counted and logged by the client.
        let _ = self.client.shutdown(self.client.shutdown_timeout());
    }
}

/// Ends the process like [`std::process::exit`], after stopping the global
/// client within its shutdown deadline
/// ([`Delivery::shutdown_timeout`](crate::Delivery::shutdown_timeout), 2 s by default).
///
/// A program that ends with `process::exit` never drops the [`Guard`] that
/// [`init`] returned, and what is still queued would be lost without a
/// word: call this instead. What the deadline cuts off is counted and
/// logged as at any shutdown, and kept for the next run when the spool is
/// on. Without a global client it is `process::exit`.
///
/// ```no_run
/// # fn run() -> Result<(), String> { Ok(()) }
/// let _telemetry = telemetry_runtime::init(telemetry_runtime::Config::new("mytool", "1.0.0"));
/// if let Err(message) = run() {
///     eprintln!("{message}");
///     telemetry_runtime::exit(2);
/// }
/// ```
pub fn exit(code: i32) -> ! {
    if let Some(client) = GLOBAL.get() {
        // What it gives up on is counted and logged by the client.
        let _ = client.shutdown(client.shutdown_timeout());
    }
    std::process::exit(code)
}

/// The global client, once [`init`] has run.
pub fn global() -> Option<&'static Telemetry> {
    GLOBAL.get()
}

/// Counting on the global client (see [`init`]).
impl<L: Labels> Counter<L> {
    /// Adds `n` for these label values (in the declared order: the
    /// label's enum for one label, a tuple for more, `()` for none) on the
    /// global client; see [`Telemetry::add`].
    #[inline]
    pub fn add(&self, values: L, n: u64) {
        if is_enabled() {
            if let Some(client) = global() {
                client.add(self, values, n);
            }
        }
    }
}

/// Whether the global client collects events: one relaxed atomic load.
#[inline]
pub fn is_enabled() -> bool {
    enabled_at(Level::Usage)
}

/// Whether the global client captures at `level`: the gate of
/// `#[requires_telemetry]`. One relaxed load of the byte, compared with a
/// constant, and a branch: the cell only ever holds a `Level as u8`, so
/// the raw byte orders like the levels and need not be turned back into a
/// `Level` first (which cost a `dec` and a `cmp` in every gated function).
#[inline(always)]
pub(crate) fn enabled_at(level: Level) -> bool {
    crate::__private::COMPILED_IN && GLOBAL_LEVEL.load(Relaxed) >= level as u8
}

/// Captures a typed event on the global client. Never blocks.
#[inline]
pub fn capture<E: TelemetryEvent>(event: &E) {
    if is_enabled() {
        if let Some(client) = GLOBAL.get() {
            client.capture(event);
        }
    }
}

/// Captures a declared event with properties built at run time on the
/// global client; see [`Telemetry::capture_with`] and [`event!`](crate::event).
pub fn capture_with(event: &DynamicEvent, properties: Properties) {
    if is_enabled() {
        if let Some(client) = GLOBAL.get() {
            client.capture_with(event, properties);
        }
    }
}

/// Captures an instrumented call's event with its span, through the global
/// client.
pub(crate) fn capture_call(event: &DynamicEvent, properties: Properties, span: SpanIds) {
    if is_enabled() {
        if let Some(client) = GLOBAL.get() {
            client.capture_call(event, properties, span);
        }
    }
}
