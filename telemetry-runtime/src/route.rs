//! Which events each sink may see, and at most at which consent level.

use crate::sink::EncodedEvent;
use crate::Level;

/// A sink's policy: which events it receives and the highest consent level
/// whose data it may see. Classification holds on every route: a redacted
/// value reaches no sink, and a sink limited to `Usage` never receives an
/// opt-in field or event, even when the user chose `Full`.
///
/// ```
/// use telemetry_runtime::{sink::{HttpSink, PostHogSink}, Config, Level, Route};
///
/// // The vendor sees only anonymous counts; the user's own collector sees
/// // everything the user consented to.
/// let config = Config::new("mytool", "1.0.0")
///     .route(PostHogSink::new("phc_vendor_key")?, Route::counters_only().max_level(Level::Usage))
///     .route(HttpSink::new("http://localhost:8080/events")?, Route::all());
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    events: Events,
    max_level: Level,
}

#[derive(Debug, Clone, PartialEq)]
enum Events {
    All,
    CountersOnly,
    Named(Vec<String>),
}

impl Route {
    /// Every event and counter, at whatever level the user consented to.
    pub fn all() -> Route {
        Route { events: Events::All, max_level: Level::Full }
    }

    /// Only aggregated counters.
    pub fn counters_only() -> Route {
        Route { events: Events::CountersOnly, ..Route::all() }
    }

    /// Only the events and counters with these names.
    pub fn only<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Route {
        Route { events: Events::Named(names.into_iter().map(Into::into).collect()), ..Route::all() }
    }

    /// The highest consent level whose data this sink may see (default
    /// `Full`): with `Level::Usage`, opt-in fields are left out and opt-in
    /// events are not sent to it.
    pub fn max_level(mut self, level: Level) -> Route {
        self.max_level = level;
        self
    }

    /// The level of data this sink gets while consent is `consent`.
    pub(crate) fn level_under(&self, consent: Level) -> Level {
        consent.min(self.max_level)
    }

    /// Whether the sink receives this event at all.
    pub(crate) fn admits(&self, event: &EncodedEvent) -> bool {
        match &self.events {
            Events::All => true,
            Events::CountersOnly => event.is_counter(),
            Events::Named(names) => names.iter().any(|n| n == event.name()),
        }
    }
}

impl Default for Route {
    fn default() -> Route {
        Route::all()
    }
}
