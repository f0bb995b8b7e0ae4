//! Declared counters: kept in memory, sent as one event per series each
//! flush interval, and listed in the catalog like derived events.
//!
//! A counter's labels are typed: each is a `#[derive(TelemetryProperty)]`
//! enum (through [`PropertyKey`]), so a label's values are the enum's, a
//! closed set decided in the code and listed in the catalog. Text cannot be
//! a label value, however it was made (a leaked `String`, a `static` filled
//! at run time): it is not of the label's type.
#![allow(deprecated)]

use std::fmt;
use std::marker::PhantomData;

use crate::model::property::PropertyKey;
use crate::model::schema::EventSchema;

/// A counter declared with [`counter!`](crate::counter): each series (one
/// set of label values) is sent as one event per flush interval, carrying
/// its labels and a `count`.
///
/// `L` is the type of its label values, in the declared order: `()` for a
/// counter without labels, the label's enum for one label, a tuple of them
/// for more (`Counter<(Tool, Status)>`). Label names and their values are in
/// [`labels`](Counter::schema).
///
/// The type itself takes any `L`, so that a label type that is not a closed
/// set is reported once, at the label, by the declaration; a counter is
/// counted only when `L` is [`Labels`].
pub struct Counter<L = ()> {
    schema: &'static EventSchema,
    names: &'static [&'static str],
    labels: PhantomData<fn(L)>,
}

impl<L> Counter<L> {
    /// Not an API: [`counter!`](crate::counter) calls it with a schema it
    /// audited and registered, whose first fields are the labels, named in
    /// `names`.
    #[doc(hidden)]
    #[deprecated(note = "not an API: counters are declared with `telemetry_runtime::counter!`")]
    pub const fn __declared(schema: &'static EventSchema, names: &'static [&'static str]) -> Counter<L> {
        Counter { schema, names, labels: PhantomData }
    }

    /// The counter's name (its schema's).
    pub(crate) fn name(&self) -> &'static str {
        self.schema().name
    }

    /// The counter's schema, as listed in the catalog: its labels, then
    /// `count`.
    pub fn schema(&self) -> &'static EventSchema {
        self.schema
    }
}

impl<L: Labels> Counter<L> {
    /// Calls `f` with the series of these label values: each label's name
    /// and value, in the declared order. Nothing is allocated.
    #[inline]
    pub(crate) fn with_series<R>(
        &self,
        values: &L,
        f: impl FnOnce(&[(&'static str, &'static str)]) -> R,
    ) -> R {
        values.__with_series(self.names, f)
    }
}

impl<L> fmt::Debug for Counter<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counter").field("name", &self.name()).field("labels", &self.names).finish()
    }
}

/// The label values of a counter, in the declared order: `()` for none, a
/// `#[derive(TelemetryProperty)]` enum for one, a tuple of them (up to
/// eight) for more. Sealed: every value is one of a closed set the program
/// declares.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the label values of a counter",
    label = "label values come from closed sets declared in the code",
    note = "a counter's label values are `()` for no labels, a #[derive(TelemetryProperty)] enum for one \
            label, and a tuple of them in the declared order for more; text (a literal, a leaked or \
            static string) is not a label value"
)]
pub trait Labels: sealed::Sealed + 'static {
    /// How many labels. Not an API.
    #[doc(hidden)]
    const LEN: usize;

    /// Calls `f` with the labels' names paired with these values. Not an
    /// API.
    #[doc(hidden)]
    fn __with_series<R>(
        &self,
        names: &'static [&'static str],
        f: impl FnOnce(&[(&'static str, &'static str)]) -> R,
    ) -> R;
}

/// The seal of [`Labels`]: implemented here only, for the shapes above.
mod sealed {
    #[allow(unreachable_pub)]
    pub trait Sealed {}
    impl Sealed for () {}
    impl<A: super::PropertyKey + 'static> Sealed for A {}
}

impl Labels for () {
    const LEN: usize = 0;

    #[inline]
    fn __with_series<R>(
        &self,
        _: &'static [&'static str],
        f: impl FnOnce(&[(&'static str, &'static str)]) -> R,
    ) -> R {
        f(&[])
    }
}

impl<A: PropertyKey + 'static> Labels for A {
    const LEN: usize = 1;

    #[inline]
    fn __with_series<R>(
        &self,
        names: &'static [&'static str],
        f: impl FnOnce(&[(&'static str, &'static str)]) -> R,
    ) -> R {
        f(&[(name(names, 0), self.__key())])
    }
}

/// The name of label `index` (the declaration gives one per label, checked
/// when the counter is declared; an empty name otherwise, never a panic).
#[inline]
fn name(names: &'static [&'static str], index: usize) -> &'static str {
    names.get(index).copied().unwrap_or_default()
}

macro_rules! tuples {
    ($($len:literal: ($($label:ident $index:tt),+);)*) => {$(
        impl<$($label: PropertyKey + 'static),+> sealed::Sealed for ($($label,)+) {}
        impl<$($label: PropertyKey + 'static),+> Labels for ($($label,)+) {
            const LEN: usize = $len;

            #[inline]
            fn __with_series<R>(
                &self,
                names: &'static [&'static str],
                f: impl FnOnce(&[(&'static str, &'static str)]) -> R,
            ) -> R {
                f(&[$((name(names, $index), self.$index.__key())),+])
            }
        }
    )*};
}

tuples!(
    2: (A 0, B 1);
    3: (A 0, B 1, C 2);
    4: (A 0, B 1, C 2, D 3);
    5: (A 0, B 1, C 2, D 3, E 4);
    6: (A 0, B 1, C 2, D 3, E 4, F 5);
    7: (A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    8: (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
);
