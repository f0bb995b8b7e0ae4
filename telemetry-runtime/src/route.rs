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

    /// Whether an event encoded at `level` is within this route's cap.
    pub(crate) fn caps_at(&self, level: Level) -> bool {
        level <= self.max_level
    }

    /// The route as one line of JSON, the same for equal routes: how the
    /// spool stores it with a batch, and part of the sink's identity there.
    pub(crate) fn to_line(&self) -> String {
        let events = match &self.events {
            Events::All => "\"all\"".to_owned(),
            Events::CountersOnly => "\"counters\"".to_owned(),
            // Strings always serialize.
            Events::Named(names) => serde_json::to_string(names).unwrap_or_default(),
        };
        format!("{{\"events\":{events},\"max_level\":\"{}\"}}", self.max_level.as_str())
    }

    /// Reads back what [`to_line`](Route::to_line) wrote.
    pub(crate) fn from_line(line: &str) -> Option<Route> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let events = match &value["events"] {
            serde_json::Value::String(s) if s == "all" => Events::All,
            serde_json::Value::String(s) if s == "counters" => Events::CountersOnly,
            serde_json::Value::Array(names) => Events::Named(
                names.iter().map(|n| n.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()?,
            ),
            _ => return None,
        };
        let max_level = match value["max_level"].as_str()? {
            "off" => Level::Off,
            "usage" => Level::Usage,
            "full" => Level::Full,
            _ => return None,
        };
        Some(Route { events, max_level })
    }
}

impl Default for Route {
    fn default() -> Route {
        Route::all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_back_as_written() {
        for route in [
            Route::all(),
            Route::counters_only().max_level(Level::Usage),
            Route::only(["a", "b\"\t"]).max_level(Level::Off),
        ] {
            let line = route.to_line();
            assert!(!line.contains(['\n', '\t']), "{line}");
            assert_eq!(Route::from_line(&line), Some(route));
        }
        assert_ne!(Route::all().to_line(), Route::all().max_level(Level::Usage).to_line());
        assert_eq!(Route::from_line("{\"events\":\"some\",\"max_level\":\"full\"}"), None);
    }
}
