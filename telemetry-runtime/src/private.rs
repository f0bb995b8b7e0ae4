//! What the macros' generated code calls. Not public API: names and
//! signatures here may change in any release.
//!
//! Everything here can be named by any crate; the language has no item
//! that a macro's output may use and the crate it expands in may not. The
//! `audit` page says what the compile-time audit covers, and what a crate
//! that names these items itself steps out of. The seal traits are
//! deprecated so that an impl written by hand warns.
#![allow(deprecated)]

use std::any::type_name;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

pub use crate::local::consent::CI_VARIABLES;
pub use crate::model::catalog::Registration;
pub use crate::model::counter::Counter;
pub use crate::model::dynamic::DynamicEvent;
pub use crate::model::packed::write::{FieldName, ObjectStart, ValueWriter};
pub use crate::model::property::{
    Audited, ClosedValue, NotText, NotTextItem, PropertyKey, PropertyValue, PublicByDefault, PublicListItem,
    RedactableText,
};
pub use crate::model::redact::Digest;
pub use crate::model::schema::{Classification, EventSchema, FieldSchema, RedactMode, ValueKind};
pub use crate::{Level, Properties, TelemetryEvent, Value};
pub use core::option::Option::{self, None, Some};
pub use inventory;
pub use std::borrow::Cow;

/// False when the crate is built with the `off` feature: every gate then
/// folds to a constant and the code behind it is removed.
pub const COMPILED_IN: bool = crate::model::level::COMPILED_IN;

/// A field's schema, as the derives and macros write it for the catalog
/// (the type is `#[non_exhaustive]`, so a user crate cannot write it as a
/// struct literal). One argument per field of the struct, as the struct
/// literal it stands for would have.
#[allow(clippy::too_many_arguments)]
pub const fn field_schema(
    name: &'static str,
    ty: &'static str,
    classification: Classification,
    description: &'static str,
    reason: Option<&'static str>,
    values: &'static [&'static str],
    unit: &'static str,
    fields: &'static [FieldSchema],
) -> FieldSchema {
    FieldSchema { name, ty, classification, description, reason, values, unit, fields }
}

/// An event's schema, as the derives and macros write it for the catalog.
pub const fn event_schema(
    name: &'static str,
    description: &'static str,
    min_level: Level,
    sample_rate: f64,
    fields: &'static [FieldSchema],
    module: &'static str,
) -> EventSchema {
    EventSchema { name, description, min_level, sample_rate, fields, module }
}

/// `config` with a clock of the caller's in place of the system's, for the
/// periods of reports by period (see [`Route::per_period`](crate::Route::per_period)):
/// what tests of those reports run under. Nothing else reads it.
pub fn report_clock(
    mut config: crate::Config,
    now: impl Fn() -> std::time::SystemTime + Send + Sync + 'static,
) -> crate::Config {
    config.report_clock = Some(std::sync::Arc::new(now));
    config
}

/// The gate of `#[requires_telemetry]`: a constant and one relaxed load.
#[inline(always)]
pub fn enabled(level: Level) -> bool {
    crate::enabled_at(level)
}

/// The value of an argument named in `args(...)` of an instrumented function.
#[inline]
pub fn argument<T: RecordableArgument + ?Sized>(value: &T) -> Value {
    value.to_value()
}

/// Checks that a counter label's type is a closed set of names (a
/// `#[derive(TelemetryProperty)]` enum).
pub const fn counter_label<T: PropertyKey>() {}

/// The value of an argument named in `args(...)` whose name looks
/// sensitive: recorded only when its type is a measure or a value of a
/// closed set.
#[inline]
pub fn argument_closed<T: ClosedValue + ?Sized>(value: &T) -> Value {
    value.to_value()
}

/// An argument type that an instrumented function may record: one that is
/// public by default.
#[diagnostic::on_unimplemented(
    message = "an argument of type `{Self}` cannot be recorded by `args(...)`",
    label = "not public by default",
    note = "only arguments whose type is public by default can be recorded: numbers, bool, Uuid, \
            Duration, #[derive(TelemetryProperty)] enums, and options and lists of these; \
            capture free text with a #[derive(TelemetryEvent)] event that classifies it"
)]
pub trait RecordableArgument: PropertyValue {}

impl<T: PublicByDefault + ?Sized> RecordableArgument for T {}

/// Calls a body closure once (it may mutate what it captured).
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// The shape of an argument's values, for an instrumented function's
/// declaration (that it is public by default is checked where its value
/// is read, by [`argument`]).
pub const fn argument_kind<T: PropertyValue + ?Sized>() -> ValueKind {
    T::KIND
}

/// Finds the nested fields of a field's type, for the catalog (see
/// [`PropertyValue::FIELDS`]): `Fields::<T>::FIELDS`. For a type that is not
/// a property, the inherent constant does not apply and the trait's empty
/// one is found instead, so that the type is reported once, by the check
/// of the field's value, and not again by its schema.
pub struct Fields<T: ?Sized>(PhantomData<T>);

impl<T: PropertyValue + ?Sized> Fields<T> {
    /// The fields of `T`'s objects.
    pub const FIELDS: &'static [FieldSchema] = T::FIELDS;
}

/// The fallback of [`Fields`]: no nested fields.
pub trait NoFields {
    /// None.
    const FIELDS: &'static [FieldSchema] = &[];
}

impl<T: ?Sized> NoFields for Fields<T> {}

impl<T: PropertyValue + ?Sized> Fields<T> {
    /// The values of `T` when they come from a closed set (an enum, or a
    /// list of one), for the catalog.
    pub const VALUES: &'static [&'static str] = T::KIND.values();

    /// The unit of `T`'s numbers (`ms` for durations), for the catalog.
    #[allow(deprecated)]
    pub const UNIT: &'static str = <T as crate::model::property::Audited>::UNIT;
}

/// The fallback of [`Fields::VALUES`] and [`Fields::UNIT`]: none.
pub trait NoValues {
    /// None.
    const VALUES: &'static [&'static str] = &[];
    /// None.
    const UNIT: &'static str = "";
}

impl<T: ?Sized> NoValues for Fields<T> {}

impl<T: ?Sized> fmt::Debug for Fields<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fields")
    }
}

/// Runs the body of a gated function, telemetry being on; a panic inside
/// it is logged and the function returns `fallback()` (`()` or `None`).
///
/// Out of line and cold, for the layout of the call site: with telemetry
/// off, the gated function is one load, a branch not taken and its return,
/// in a few bytes at its start, however large the body. With telemetry on,
/// the body does far more work than this one call. The body comes first
/// so that what it captured (the function's arguments) stays in the
/// registers it arrived in.
#[cold]
#[inline(never)]
pub fn run_gated<R>(body: impl FnOnce() -> R, function: &'static str, fallback: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        log_panic(function, &*panic);
        fallback()
    })
}

#[cold]
fn log_panic(function: &'static str, panic: &(dyn std::any::Any + Send)) {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-text panic payload");
    log::error!("Telemetry code in `{function}` panicked and was stopped: {message}");
}

/// The future of a gated `async fn`: a panic while polling it is logged and
/// the future completes with `None`.
pub struct Contained<F> {
    function: &'static str,
    future: Pin<Box<F>>,
}

impl<F> fmt::Debug for Contained<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contained").field("function", &self.function).finish_non_exhaustive()
    }
}

/// Wraps a gated `async fn` body; see [`Contained`].
pub fn contain_async<F: Future>(function: &'static str, future: F) -> Contained<F> {
    Contained { function, future: Box::pin(future) }
}

impl<F: Future> Future for Contained<F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let function = self.function;
        match catch_unwind(AssertUnwindSafe(|| self.future.as_mut().poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Some(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => {
                log_panic(function, &*panic);
                Poll::Ready(None)
            }
        }
    }
}

/// The start of an instrumented call, when telemetry is on at `level`.
#[inline(always)]
pub fn call_started(level: Level) -> Option<Instant> {
    if enabled(level) {
        Some(Instant::now())
    } else {
        None
    }
}

/// How an instrumented call ended.
#[derive(Debug)]
pub struct Outcome {
    error_type: Option<&'static str>,
}

/// Wraps a call's result to find its outcome: `Result`s by their variant
/// (through [`ResultOutcome`]), everything else as success (through
/// [`PlainOutcome`]). Method resolution picks the first that applies.
#[derive(Debug)]
pub struct OutcomeProbe<'a, T>(pub &'a T);

/// The outcome of a `Result`: success, or the error's type name.
pub trait ResultOutcome {
    /// The outcome.
    fn outcome(&self) -> Outcome;
}

impl<T, E> ResultOutcome for OutcomeProbe<'_, Result<T, E>> {
    fn outcome(&self) -> Outcome {
        Outcome { error_type: self.0.as_ref().err().map(|_| type_name::<E>()) }
    }
}

/// The outcome of any other value: success.
pub trait PlainOutcome {
    /// The outcome.
    fn outcome(&self) -> Outcome;
}

impl<T> PlainOutcome for &OutcomeProbe<'_, T> {
    fn outcome(&self) -> Outcome {
        Outcome { error_type: None }
    }
}

/// Runs an instrumented call's body and captures its event: how long the
/// body took, its outcome and the arguments the attribute named. Out of
/// line and cold, so that the call site with telemetry off stays its body
/// alone, laid out as the straight path. The body comes first: what it
/// captured (the function's arguments) is then passed in the registers the
/// function received it in, and the call site's tail call to here does not
/// move it.
#[cold]
#[inline(never)]
pub fn record_around<R, const N: usize>(
    body: impl FnOnce() -> R,
    event: &'static DynamicEvent,
    arguments: [(&'static str, Value); N],
    outcome: impl FnOnce(&R) -> Outcome,
) -> R {
    // The call's span is current while the body runs: instrumented calls
    // inside it are its children.
    let span = crate::model::span::enter();
    let started = Instant::now();
    let result = body();
    let ids = span.ids;
    drop(span);
    record(event, started, outcome(&result), arguments, ids);
    result
}

/// Captures the event of an instrumented call: its duration, outcome and
/// the arguments the attribute named (already checked to be public).
/// Out of line, so the call site's fast path stays small.
#[cold]
#[inline(never)]
pub fn record_call<const N: usize>(
    event: &'static DynamicEvent,
    started: Instant,
    outcome: Outcome,
    arguments: [(&'static str, Value); N],
) {
    // An `async` call: a child of the call running on this thread when it
    // ends (it may have moved between threads), never a parent itself.
    let start = std::time::SystemTime::now().checked_sub(started.elapsed()).unwrap_or(std::time::UNIX_EPOCH);
    record(event, started, outcome, arguments, crate::model::span::child(start));
}

/// Captures a call's event with its span.
fn record<const N: usize>(
    event: &'static DynamicEvent,
    started: Instant,
    outcome: Outcome,
    arguments: [(&'static str, Value); N],
    span: crate::model::span::SpanIds,
) {
    let duration = started.elapsed();
    let mut properties = Properties::with_capacity(N + 3);
    properties.insert("duration_ms", duration);
    properties.insert("outcome", if outcome.error_type.is_some() { "error" } else { "ok" });
    if let Some(error_type) = outcome.error_type {
        properties.insert("error_type", error_type);
    }
    for (name, value) in arguments {
        properties.insert(name, value);
    }
    crate::capture_call(event, properties, span);
}
