#![doc = include_str!("guide.md")]
#![warn(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
#[doc = include_str!("audit.md")]
pub mod audit {}
pub mod cli;
mod client;
mod config;
mod error;
mod global;
mod local;
mod model;
#[cfg(all(test, shuttle))]
mod models;
mod pipeline;
mod report_page;
pub mod sink;
mod sync;
pub mod testing;

pub use client::Telemetry;
pub use config::{Config, Delivery, Dirs, DistinctId, EnvVars, Notice};
pub use error::{ConfigError, ConfigErrorKind};
pub use global::{capture, capture_with, exit, global, init, is_enabled, Guard};
pub(crate) use global::{capture_call, enabled_at};
pub use local::consent::{Consent, ConsentSource, Polarity};
pub use local::version::VersionChange;
pub use model::catalog::Catalog;
pub use model::counter::{Counter, Labels};
pub use model::dynamic::DynamicEvent;
pub use model::event::TelemetryEvent;
pub use model::level::Level;
pub use model::properties::Properties;
pub use model::property::{PropertyValue, PublicByDefault, RedactableText};
pub use model::schema::{Classification, EventSchema, FieldSchema, RedactMode};
pub use model::stats::{DropReason, Stats};
pub use model::value::Value;
pub use pipeline::route::Route;

/// Derives [`TelemetryEvent`](trait@TelemetryEvent) for a struct with named fields, auditing
/// every field at compile time.
///
/// The event name is `#[telemetry(name = "...")]` or the struct's name in
/// snake_case; the struct's doc comment (required) is the event's
/// description, and each field's doc comment describes its property.
///
/// Field attributes, one classification per field:
///
/// | attribute | sent |
/// |---|---|
/// | (none) | as is, at `Usage`; only for types public by default: numbers, `bool`, `Uuid`, `Duration`, `#[derive(TelemetryProperty)]` enums and objects whose fields are all public, and options and lists of these |
/// | `#[telemetry(public)]` | as is, at `Usage`; on free text (which has no default) only with a `reason = "..."` |
/// | `#[telemetry(opt_in)]` | as is, only at `Full` |
/// | `#[telemetry(redact)]` | nothing (also `redact = "drop"`) |
/// | `#[telemetry(redact = "marker")]` | `"[redacted]"` when a value is present |
/// | `#[telemetry(redact = "length")]` | the length in characters |
/// | `#[telemetry(redact = "hash")]` | a hash keyed with a secret of this installation |
///
/// plus `rename = "..."`, `skip`, and `reason = "..."`, which public text
/// needs, and so does a field whose name looks sensitive (`url`, `path`,
/// `email`, `user`, `token`, `query`, `prompt`, ...) unless its type is a
/// measure or a closed set (a number, `bool`, `Duration`, an enum, ...), and
/// an identifier such as `*_id` whatever its type: the rules and the whole
/// vocabulary are in [`audit`]. On the struct:
/// `opt_in` (the whole event only at `Full`), `sample = 0.1` (keep a share of
/// events) and `crate = "..."` (when the dependency is renamed).
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::{TelemetryEvent, TelemetryProperty};
///
/// #[derive(TelemetryProperty)]
/// enum Transport {
///     Stdio,
///     Http,
/// }
///
/// /// A tool call finished.
/// #[derive(TelemetryEvent)]
/// struct ToolCall {
///     /// The tool's name, from the server's fixed tool list.
///     #[telemetry(public, reason = "the server's tool list is fixed and public")]
///     tool: String,
///     transport: Transport,
///     duration: Duration,
///     /// The server, counted but never revealed.
///     #[telemetry(redact = "hash")]
///     server_url: String,
///     /// What the user asked: only with full consent.
///     #[telemetry(opt_in)]
///     query: String,
/// }
///
/// let schema = ToolCall::SCHEMA;
/// assert_eq!(schema.name, "tool_call");
/// assert_eq!(schema.description, "A tool call finished.");
/// assert_eq!(schema.fields[3].classification.to_string(), "redact(hash)");
/// ```
///
/// Free text without a classification does not compile:
///
/// ```compile_fail
/// /// A search ran.
/// #[derive(telemetry_runtime::TelemetryEvent)]
/// struct Search {
///     query: String, // error: field `query` is free text and needs a classification
/// }
/// ```
#[cfg(feature = "macros")]
pub use telemetry_macros::TelemetryEvent;

/// Derives [`PropertyValue`] for a fieldless enum, a newtype struct or a
/// struct with named fields (an object).
///
/// An enum is public by default: each variant is sent as its snake_case
/// name, or `#[telemetry(rename = "...")]`. A newtype is whatever its field
/// is (`struct Tool(String)` is text and needs a classification wherever it
/// is used).
///
/// ```
/// use telemetry_runtime::{PropertyValue, TelemetryProperty, Value};
///
/// #[derive(TelemetryProperty)]
/// enum Outcome {
///     Success,
///     TimedOut,
///     #[telemetry(rename = "err")]
///     Error,
/// }
/// assert_eq!(Outcome::TimedOut.to_value(), Value::from("timed_out"));
/// assert_eq!(Outcome::Error.to_value(), Value::from("err"));
/// ```
///
/// An object's fields are audited and classified exactly like an event's
/// (the same attributes and rules, errors at the field), and sent as a
/// JSON object (an OTLP `kvlistValue`): an `opt_in` field only at
/// [`Level::Full`], a `redact`ed one as nothing, its marker, its length or
/// its keyed hash. An object is public by default, and so are lists of it,
/// only when every field it sends is public; a field holding any other
/// object must be classified (`public` sends it at `Usage` without its
/// opt-in fields). Objects nest in lists, options and other objects, to the
/// same depth as lists; an object type cannot contain itself. The doc
/// comments of its fields describe them in the catalog, under the field
/// that holds the object (`servers[].kind`).
///
/// A derived enum can also be the key type of a map (`BTreeMap<Feature,
/// u32>`, `HashMap<Feature, Usage>`), sent as an object whose field names
/// are the keys (listed as `calls.*` in the catalog); a map with text keys
/// is a compile error, since its names would be chosen at run time.
///
/// ```
/// use telemetry_runtime::{TelemetryEvent, TelemetryProperty};
///
/// #[derive(TelemetryProperty)]
/// enum Transport {
///     Stdio,
///     Http,
/// }
///
/// #[derive(TelemetryProperty)]
/// struct Server {
///     /// How the server is reached.
///     transport: Transport,
///     /// How many tools it offers.
///     tools: u32,
///     /// Its configured name, only with full consent.
///     #[telemetry(opt_in)]
///     name: String,
///     /// A keyed hash of its address, to count distinct servers.
///     #[telemetry(redact = "hash")]
///     url: String,
/// }
///
/// /// An agent connected to its servers.
/// #[derive(TelemetryEvent)]
/// struct Connected {
///     /// One object per server.
///     #[telemetry(public)]
///     servers: Vec<Server>,
/// }
/// ```
///
/// ```compile_fail
/// #[derive(telemetry_runtime::TelemetryProperty)]
/// struct Server {
///     name: String, // error: field `name` is free text and needs a classification
/// }
/// ```
#[cfg(feature = "macros")]
pub use telemetry_macros::TelemetryProperty;

/// Declares an event for the dynamic API: its name, its description and
/// the properties it may carry, each with a type and a classification,
/// audited at compile time by the same rules as
/// [`#[derive(TelemetryEvent)]`](macro@TelemetryEvent) and listed in the
/// catalog. Capture it with [`capture_with`] and [`Properties`] built at run
/// time: a property the declaration does not name, or whose value has
/// another type than declared, is left out and counted
/// ([`Stats::undeclared`]); the others are sent as their
/// classification says.
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::{testing::MemorySink, Config, Level, Properties, Telemetry, TelemetryProperty, Value};
///
/// /// Why a cache is cleared.
/// #[derive(TelemetryProperty)]
/// enum ClearReason {
///     Full,
///     Manual,
/// }
///
/// telemetry_runtime::event! {
///     /// The cache was cleared.
///     pub static CACHE_CLEARED = "cache_cleared" {
///         /// How many entries were removed.
///         entries: u64,
///         /// Why: one of the enum's values, checked at capture.
///         reason: ClearReason,
///         /// The cache's directory: counted, never revealed.
///         #[telemetry(redact = "hash")]
///         cache_dir: String,
///     }
/// }
///
/// let memory = MemorySink::new();
/// let telemetry = Telemetry::new(Config::new("mytool", "1.0.0").consent(Level::Usage).sink(memory.clone()))?;
/// telemetry.capture_with(
///     &CACHE_CLEARED,
///     Properties::new()
///         .with("entries", 1200u32)
///         .with("reason", "full")
///         .with("cache_dir", Value::Text(("/home/ada/.cache/mytool").into()))
///         .with("user_email", "ada@example.com"), // not declared: left out
/// );
/// assert!(telemetry.flush(Duration::from_secs(5)));
/// let event = &memory.events()[0];
/// assert_eq!(event["properties"]["entries"], 1200);
/// assert!(event["properties"]["cache_dir"].as_str().unwrap().len() == 32);
/// assert!(event["properties"].get("user_email").is_none());
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
///
/// A sensitive name sent as public needs a reason, as in a derived event:
///
/// ```compile_fail
/// telemetry_runtime::event! {
///     /// A search ran.
///     pub static SEARCH = "search" {
///         #[telemetry(public)]
///         query: String, // error: field `query` looks sensitive
///     }
/// }
/// ```
#[cfg(feature = "macros")]
pub use telemetry_macros::event;

/// Declares a counter: its name, description and labels, registered in the
/// catalog. Each series (one set of label values) is sent as one event per
/// flush interval with its labels and a `count`.
///
/// A label's name is audited like a property name; its values are a closed
/// set decided in the code, never text: each label is `name: Type`, where
/// `Type` is a `#[derive(TelemetryProperty)]` enum, or `name: Type =
/// ["value", ...]`, which declares the enum `Type` with one variant per
/// value (`"web_search"` is `Type::WebSearch`), sent as the value. Counting
/// takes the values in the declared order: the enum for one label, a tuple
/// for more, `()` for none. The catalog lists each label's values.
///
/// ```
/// use telemetry_runtime::TelemetryProperty;
///
/// #[derive(TelemetryProperty, Clone, Copy)]
/// enum Tool {
///     WebSearch,
///     ReadPage,
/// }
///
/// telemetry_runtime::counter! {
///     /// Tool calls, by tool and by outcome.
///     pub static TOOL_CALLS = "tool_calls", labels: [
///         /// Which tool.
///         tool: Tool,
///         /// How the call ended.
///         status: Status = ["ok", "error"],
///     ];
/// }
///
/// TOOL_CALLS.add((Tool::WebSearch, Status::Ok), 1); // a no-op until telemetry is on
/// assert_eq!(TOOL_CALLS.schema().fields.len(), 3); // tool, status, count
/// assert_eq!(TOOL_CALLS.schema().fields[1].values, ["ok", "error"]);
/// ```
///
/// Text is not a label value, however it was made:
///
/// ```compile_fail
/// # use telemetry_runtime::TelemetryProperty;
/// # #[derive(TelemetryProperty, Clone, Copy)]
/// # enum Status { Ok }
/// telemetry_runtime::counter! {
///     /// Tool calls, by outcome.
///     static TOOL_CALLS = "tool_calls", labels: [status: Status];
/// }
/// let cwd: &'static str = std::env::current_dir().unwrap().display().to_string().leak();
/// TOOL_CALLS.add(cwd, 1); // error: expected `Status`, found `&str`
/// ```
#[cfg(feature = "macros")]
pub use telemetry_macros::counter;

/// Gates a function on telemetry consent, or instruments it.
///
/// **Gated** (`#[requires_telemetry]`, or `#[requires_telemetry(full)]` to
/// require `Full`): the body runs only when the global client is enabled; a
/// function returning `()` returns at once otherwise and one returning
/// `Option<T>` returns `None`. Any other return type is a compile error. A
/// panic inside the body is caught and logged (with `panic = "unwind"`), and
/// the function returns `()` or `None`. Works on free functions, methods with
/// any `self`, generic functions and `async fn`.
///
/// **Instrumented** (`#[requires_telemetry(instrument)]`): the function always
/// runs, unchanged; when telemetry is on, each call captures an event named
/// after the function (or `name = "..."`) with `duration_ms`, `outcome`
/// (`"ok"` or `"error"`) and, for an `Err`, `error_type`: the error's type
/// name, never its message. Arguments are recorded only when named in
/// `args(...)`, and only if their type is public by default.
///
/// Off at run time, either form costs one relaxed atomic load and a branch;
/// with the crate's `off` feature the gate is a constant and the gated code
/// is compiled out.
///
/// ```
/// use telemetry_runtime::requires_telemetry;
///
/// telemetry_runtime::event! {
///     /// The program started.
///     static STARTUP = "startup" {
///         /// How many plugins it loaded.
///         plugins: u64,
///     }
/// }
///
/// #[requires_telemetry]
/// fn record_startup(plugins: usize) {
///     let properties = telemetry_runtime::Properties::new().with("plugins", plugins);
///     telemetry_runtime::capture_with(&STARTUP, properties);
/// }
///
/// #[requires_telemetry(instrument, args(retries))]
/// fn fetch_index(retries: u32) -> Result<usize, std::io::Error> {
///     Ok(42)
/// }
///
/// record_startup(3); // telemetry not initialised: the body does not run
/// assert_eq!(fetch_index(2).unwrap(), 42); // always runs
/// ```
#[cfg(feature = "macros")]
pub use telemetry_macros::requires_telemetry;

/// The log target of the per-event lines (the guide's "Seeing what is
/// sent"): with the host's logger enabling it at debug level
/// (`RUST_LOG=telemetry_runtime::events=debug`), each event handed to a sink
/// is logged as `Sending <event> to <sink>: <JSON>`.
pub(crate) const EVENTS_LOG_TARGET: &str = "telemetry_runtime::events";

/// What the fuzz targets in `fuzz/` call: parsers of values that come
/// from outside the program. Built only with `--cfg fuzzing` (cargo-fuzz
/// sets it); not public API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzzing {
    use std::time::{Duration, SystemTime};

    /// The longest wait a `Retry-After` is read as.
    pub const MAX_RETRY_AFTER: Duration = crate::sink::MAX_RETRY_AFTER;

    /// A `Retry-After` header value as a wait from `now`.
    pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
        crate::sink::parse_retry_after(value, now)
    }

    /// An HTTP date, as the HTTP sinks read one.
    pub fn parse_http_date(value: &str) -> Option<SystemTime> {
        crate::sink::parse_http_date(value)
    }
}

// The types a host shares between threads (or keeps in a static) are
// `Send + Sync`: a change that breaks it fails to compile here, not in a
// user's program. `SendContext` is the exception by design: it lives on the
// worker thread, borrowed by one sink at a time.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Telemetry>();
    shared::<Guard>();
    shared::<Config>();
    shared::<Catalog>();
    shared::<Counter>();
    shared::<DynamicEvent>();
    shared::<Properties>();
    shared::<Value>();
    shared::<Stats>();
    shared::<Consent>();
    shared::<Route>();
    shared::<EventSchema>();
    shared::<ConfigError>();
    shared::<sink::PostHogSink>();
    shared::<sink::HttpSink>();
    shared::<sink::OtlpSink>();
    shared::<sink::JsonlSink>();
    shared::<testing::MemorySink>();
    shared::<sink::StderrSink>();
    shared::<sink::Batch>();
    shared::<sink::SinkError>();
};
