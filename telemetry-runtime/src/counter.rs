//! Declared counters: aggregated like [`crate::increment`], and listed in
//! the catalog like derived events.

use crate::schema::EventSchema;

/// A counter declared with [`counter!`](crate::counter): each series (one
/// set of label values) is sent as one event per flush interval, carrying
/// its labels and a `count`.
pub struct Counter<const N: usize> {
    schema: &'static EventSchema,
    labels: [&'static str; N],
}

impl<const N: usize> Counter<N> {
    #[doc(hidden)]
    pub const fn new(schema: &'static EventSchema, labels: [&'static str; N]) -> Counter<N> {
        Counter { schema, labels }
    }

    /// Adds one for these label values (in the declared order) on the
    /// global client.
    #[inline]
    pub fn increment(&self, values: [&'static str; N]) {
        self.add(values, 1);
    }

    /// Adds `n` for these label values on the global client.
    pub fn add(&self, values: [&'static str; N], n: u64) {
        if crate::is_enabled() {
            if let Some(client) = crate::global() {
                client.add(
                    self.schema.name,
                    &std::array::from_fn::<_, N, _>(|i| (self.labels[i], values[i])),
                    n,
                );
            }
        }
    }

    /// The counter's schema, as listed in the catalog.
    pub fn schema(&self) -> &'static EventSchema {
        self.schema
    }
}

/// Declares a counter and registers it in the catalog.
///
/// ```
/// telemetry_runtime::counter! {
///     /// Tool calls, by tool and by outcome.
///     pub static TOOL_CALLS = "tool_calls", labels: [tool, status];
/// }
///
/// TOOL_CALLS.increment(["web_search", "ok"]); // a no-op until telemetry is on
/// let schema = telemetry_runtime::Catalog::collect().event("tool_calls").unwrap();
/// assert_eq!(schema.fields.len(), 3); // tool, status, count
/// ```
#[macro_export]
macro_rules! counter {
    (
        $(#[doc = $doc:literal])*
        $vis:vis static $ident:ident = $name:literal, labels: [$($label:ident),* $(,)?];
    ) => {
        $(#[doc = $doc])*
        $vis static $ident: $crate::Counter<{ [$(stringify!($label)),*].len() }> = {
            const SCHEMA: $crate::EventSchema = $crate::EventSchema {
                name: $name,
                description: concat!($($doc, "\n"),*),
                min_level: $crate::Level::Usage,
                sample_rate: 1.0,
                fields: &[
                    $($crate::FieldSchema {
                        name: stringify!($label),
                        ty: "&'static str",
                        classification: $crate::Classification::Public,
                        description: "A label of the counter, from a fixed set in the code.",
                        reason: ::core::option::Option::None,
                    },)*
                    $crate::FieldSchema {
                        name: "count",
                        ty: "u64",
                        classification: $crate::Classification::Public,
                        description: "How many times it was counted since the last event.",
                        reason: ::core::option::Option::None,
                    },
                ],
            };
            $crate::__private::inventory::submit! { $crate::__private::Registration(&SCHEMA) }
            $crate::Counter::new(&SCHEMA, [$(stringify!($label)),*])
        };
    };
}
