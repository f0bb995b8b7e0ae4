//! Declared counters: kept in memory, sent as one event per series each
//! flush interval, and listed in the catalog like derived events.

use crate::model::schema::EventSchema;

/// A counter declared with [`counter!`](crate::counter): each series (one
/// set of label values) is sent as one event per flush interval, carrying
/// its labels and a `count`. Label values are `&'static str`: a fixed set
/// chosen in the code; label names are audited like property names.
#[derive(Debug)]
pub struct Counter<const N: usize> {
    schema: &'static EventSchema,
    labels: [&'static str; N],
}

impl<const N: usize> Counter<N> {
    /// Not an API: [`counter!`](crate::counter) calls it with a schema it
    /// audited and registered.
    #[doc(hidden)]
    pub const fn __declared(schema: &'static EventSchema, labels: [&'static str; N]) -> Counter<N> {
        Counter { schema, labels }
    }

    /// The counter's name on the wire.
    pub fn name(&self) -> &'static str {
        self.schema.name
    }

    /// The labels with these values, in the declared order.
    pub(crate) fn series(&self, values: [&'static str; N]) -> [(&'static str, &'static str); N] {
        std::array::from_fn(|i| (self.labels[i], values[i]))
    }

    /// The counter's schema, as listed in the catalog.
    pub fn schema(&self) -> &'static EventSchema {
        self.schema
    }
}
