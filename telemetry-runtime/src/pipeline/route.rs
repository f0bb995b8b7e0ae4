//! Which events each sink may see, and at most at which consent level.

use std::time::Duration;

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
///     .route(HttpSink::new("http://localhost:8080/events")?, Route::default());
/// # Ok::<(), telemetry_runtime::ConfigError>(())
/// ```
///
/// A route is either the vendor's or the user's own. A vendor route (what
/// every constructor makes, until [`owned_by_user`](Route::owned_by_user)) is governed by the
/// user's consent to the vendor's analytics. A user-owned route is for a
/// destination the user configured themselves, typically their own
/// OpenTelemetry collector: it is governed by the user's OpenTelemetry
/// settings, not by that consent.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    events: Events,
    max_level: Level,
    owner: Owner,
    /// Whether instrumented calls go as spans where the sink can send them;
    /// `None`: on for a user-owned route, off for a vendor's.
    spans: Option<bool>,
    /// Set by [`per_period`](Route::per_period): what the route admits is
    /// counted on this machine and sent as one report a period.
    report: Option<PerPeriod>,
}

/// How a route that reports by period reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PerPeriod {
    /// The period's length, in whole seconds.
    seconds: u64,
    /// Whether a report carries the install id (otherwise an id of its own).
    install_id: bool,
}

/// Whose settings govern a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The vendor's analytics: the consent level in force.
    Vendor,
    /// The user's own destination: the user's OpenTelemetry settings.
    User,
}

#[derive(Debug, Clone, PartialEq)]
enum Events {
    All,
    CountersOnly,
    Named(Vec<String>),
}

/// The route [`Config::sink`](crate::Config::sink) gives: every event and
/// counter, at whatever level the user consented to, for the vendor.
impl Default for Route {
    fn default() -> Route {
        Route { events: Events::All, max_level: Level::Full, owner: Owner::Vendor, spans: None, report: None }
    }
}

impl Route {
    /// This route, for a destination the user configured themselves, such
    /// as their own OpenTelemetry collector (an
    /// [`OtlpSink::from_env`](crate::sink::OtlpSink::from_env) built from
    /// their `OTEL_EXPORTER_OTLP_ENDPOINT`, or an endpoint they passed to
    /// the program).
    ///
    /// Such a sink is governed by the user's OpenTelemetry settings, not by
    /// the consent to the vendor's analytics: it receives events at `Full`
    /// (or at [`max_level`](Route::max_level)) whatever that consent is,
    /// including when the user turned analytics off (`<APP>_TELEMETRY=off`,
    /// `DO_NOT_TRACK`, a persisted `off`,
    /// [`Telemetry::set_consent`](crate::Telemetry::set_consent)), in a CI
    /// environment and before the
    /// first-run notice was shown. `OTEL_SDK_DISABLED=true` in the client's
    /// environment turns it off. Events captured while the vendor's consent
    /// was off reach only user-owned sinks, never the vendor's, even once
    /// consent is given again. Classification still holds: a redacted value
    /// reaches no sink. Debug and local-only modes replace every sink,
    /// this one too.
    ///
    /// ```
    /// use telemetry_runtime::{testing::MemorySink, Config, Level, Route, Telemetry};
    ///
    /// telemetry_runtime::counter! {
    ///     /// Tool calls, by outcome.
    ///     static CALLS = "tool_calls", labels: [status: Status = ["ok", "error"]];
    /// }
    ///
    /// let vendor = MemorySink::new();
    /// let mine = MemorySink::new();
    /// let telemetry = Telemetry::new(
    ///     Config::new("mytool", "1.0.0")
    ///         .consent(Level::Off) // the user turned analytics off
    ///         .route(vendor.clone(), Route::counters_only().max_level(Level::Usage))
    ///         .route(mine.clone(), Route::default().owned_by_user()),
    /// )?;
    /// telemetry.add(&CALLS, Status::Ok, 1);
    /// assert!(telemetry.flush(std::time::Duration::from_secs(5)));
    /// assert!(vendor.events().is_empty());
    /// assert_eq!(mine.events()[0]["properties"]["count"], 1);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    ///
    /// A route of some events only:
    ///
    /// ```
    /// use telemetry_runtime::{sink::OtlpSink, Config, Route};
    ///
    /// // The user's collector gets the tool calls, not the vendor's counts.
    /// let config = Config::new("mytool", "1.0.0")
    ///     .route(OtlpSink::new("http://localhost:4318")?, Route::only(["tool_call"]).owned_by_user());
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn owned_by_user(mut self) -> Route {
        self.owner = Owner::User;
        self
    }

    /// Whether this route is the user's own ([`Route::owned_by_user`]).
    pub(crate) fn is_user_owned(&self) -> bool {
        self.owner == Owner::User
    }

    /// Whether the sink sends instrumented calls
    /// (`#[requires_telemetry(instrument)]`) as spans, where it can: the
    /// [`OtlpSink`](crate::sink::OtlpSink) posts them to its traces
    /// endpoint (`/v1/traces`) instead of as log records. Default: on for
    /// a [user-owned](Route::owned_by_user) route, off for a vendor's, which
    /// then gets each call as an event like any other, without its trace
    /// and span ids. A span carries what the call's event carries (its
    /// duration, outcome and the arguments it names, classified the same
    /// way) and its place among the calls running on the same thread.
    ///
    /// ```
    /// use telemetry_runtime::{sink::OtlpSink, Config, Route};
    ///
    /// // The vendor's own collector asks for spans too.
    /// let config = Config::new("mytool", "1.0.0")
    ///     .route(OtlpSink::new("https://otel.vendor.example")?, Route::default().spans(true));
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn spans(mut self, spans: bool) -> Route {
        self.spans = Some(spans);
        self
    }

    /// Whether the sink sends instrumented calls as spans: see
    /// [`spans`](Route::spans).
    pub(crate) fn sends_spans(&self) -> bool {
        self.spans.unwrap_or(self.owner == Owner::User)
    }

    /// Only aggregated counters.
    pub fn counters_only() -> Route {
        Route { events: Events::CountersOnly, ..Route::default() }
    }

    /// Only the events and counters with these names.
    pub fn only<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Route {
        Route { events: Events::Named(names.into_iter().map(Into::into).collect()), ..Route::default() }
    }

    /// The highest consent level whose data this sink may see (default
    /// `Full`): with `Level::Usage`, opt-in fields are left out and opt-in
    /// events are not sent to it.
    pub fn max_level(mut self, level: Level) -> Route {
        self.max_level = level;
        self
    }

    /// Sends what this route admits as one report a `period` (a day, a
    /// week; at least a minute, in whole seconds) instead of as it happens.
    ///
    /// Each counter's increments, and with a route that admits events,
    /// the number of times each event was captured, are added up on this
    /// machine in a file of the current period, shared by every run and
    /// every process of the program; nothing leaves it during the period.
    /// Once the period is over, the first run of the program that finds
    /// its counts sends them, once, as one `telemetry_report` event whose
    /// properties are the counts (`tool_calls{status=ok}: 12`,
    /// `$events{event=build}: 3`) with the period's start and end; the OTLP
    /// sink sends them as sums over the period. A report carries the
    /// period, never the time of a run; no session id; a uuid derived from
    /// the period and a secret of this installation, so that a report sent
    /// twice is de-duplicated; and an id of its own (derived the same way,
    /// unlinkable across periods without that secret) in place of the
    /// install id, unless [`with_install_id`](Route::with_install_id) asks
    /// for it. It needs `Usage`, and is sent at the consent in force when
    /// it is sent; turning telemetry off deletes what was not sent, and a
    /// reset deletes the counts too. A report that cannot be sent waits
    /// for a later run; one whose period ended more than 28 days ago is
    /// deleted unsent.
    ///
    /// Periods start at midnight UTC (a week on Monday), so that the
    /// boundaries say nothing about the user's time zone. The counts and the
    /// reports are kept in `telemetry_reports` in the data directory, where
    /// the `telemetry report` subcommand shows them exactly as they will be
    /// and were sent. Debug and local-only modes replace this route, as
    /// they replace every other.
    ///
    /// ```
    /// use std::time::Duration;
    /// use telemetry_runtime::{sink::PostHogSink, Config, Route};
    ///
    /// const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
    ///
    /// // The vendor gets one report a week: every counter, and how many
    /// // times each event happened.
    /// let config = Config::new("mytool", "1.0.0")
    ///     .route(PostHogSink::new("phc_vendor_key")?, Route::default().per_period(WEEK));
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn per_period(mut self, period: Duration) -> Route {
        let install_id = self.report.is_some_and(|report| report.install_id);
        self.report = Some(PerPeriod { seconds: period.as_secs(), install_id });
        self
    }

    /// Reports by period ([`per_period`](Route::per_period)) carry the
    /// install id as their `distinct_id`, so that the vendor can tell one
    /// installation's reports from another's, and link them across
    /// periods; without it each report has an id of its own, derived from
    /// its period and a secret of this installation. Call it
    /// after `per_period`: other routes always send the install id, and
    /// this changes nothing on them.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use telemetry_runtime::Route;
    /// let daily = Route::counters_only().per_period(Duration::from_secs(24 * 3600)).with_install_id();
    /// ```
    pub fn with_install_id(mut self) -> Route {
        if let Some(report) = &mut self.report {
            report.install_id = true;
        }
        self
    }

    /// The period of a route that reports by period.
    pub(crate) fn period(&self) -> Option<Duration> {
        self.report.map(|report| Duration::from_secs(report.seconds))
    }

    /// Whether this route's reports carry the install id.
    pub(crate) fn reports_install_id(&self) -> bool {
        self.report.is_some_and(|report| report.install_id)
    }

    /// Whether a route that reports by period counts the event (or
    /// counter) `name`; `false` on every other route.
    pub(crate) fn counts(&self, name: &str, counter: bool) -> bool {
        self.report.is_some() && self.filter_admits(name, counter)
    }

    /// The level of data this sink gets while consent is `consent` and the
    /// user's own settings allow `user` to user-owned sinks.
    pub(crate) fn level_under(&self, consent: Level, user: Level) -> Level {
        match self.owner {
            Owner::Vendor => consent.min(self.max_level),
            Owner::User => user.min(self.max_level),
        }
    }

    /// The highest level this route's sink gets, when it is the user's own
    /// and the user's settings allow `user`; `Off` for a vendor route.
    pub(crate) fn user_level(&self, user: Level) -> Level {
        match self.owner {
            Owner::Vendor => Level::Off,
            Owner::User => user.min(self.max_level),
        }
    }

    /// Whether the sink receives the event (or counter) `name` at all, as
    /// it happens: a route that reports by period receives none (its sink
    /// gets the reports, see [`counts`](Route::counts)).
    pub(crate) fn admits(&self, name: &str, counter: bool) -> bool {
        self.report.is_none() && self.filter_admits(name, counter)
    }

    /// Whether a route that reports by period may count events, not only
    /// counters.
    pub(crate) fn counts_events(&self) -> bool {
        self.report.is_some() && self.events != Events::CountersOnly
    }

    /// The names this route lets through, when it names them
    /// ([`Route::only`]).
    pub(crate) fn names(&self) -> Option<&[String]> {
        match &self.events {
            Events::Named(names) => Some(names),
            _ => None,
        }
    }

    fn filter_admits(&self, name: &str, counter: bool) -> bool {
        match &self.events {
            Events::All => true,
            Events::CountersOnly => counter,
            Events::Named(names) => names.iter().any(|n| n == name),
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
        // Vendor routes are written as before user-owned ones existed, so
        // that their spooled batches keep their identity.
        let owner = match self.owner {
            Owner::Vendor => "",
            Owner::User => ",\"owner\":\"user\"",
        };
        // Written only when set, for the same reason.
        let spans = match self.spans {
            None => "",
            Some(true) => ",\"spans\":true",
            Some(false) => ",\"spans\":false",
        };
        // Likewise for routes that do not report by period.
        let report = match self.report {
            None => String::new(),
            Some(PerPeriod { seconds, install_id }) => {
                format!(",\"period\":{seconds}{}", if install_id { ",\"install_id\":true" } else { "" })
            }
        };
        format!("{{\"events\":{events},\"max_level\":\"{}\"{owner}{spans}{report}}}", self.max_level.as_str())
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
        let owner = match value.get("owner").map(|o| o.as_str()) {
            None => Owner::Vendor,
            Some(Some("user")) => Owner::User,
            Some(_) => return None,
        };
        let spans = match value.get("spans") {
            None => None,
            Some(spans) => Some(spans.as_bool()?),
        };
        let report = match value.get("period") {
            None => None,
            Some(period) => Some(PerPeriod {
                seconds: period.as_u64()?,
                install_id: match value.get("install_id") {
                    None => false,
                    Some(install_id) => install_id.as_bool()?,
                },
            }),
        };
        Some(Route { events, max_level, owner, spans, report })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_back_as_written() {
        for route in [
            Route::default(),
            Route::counters_only().max_level(Level::Usage),
            Route::only(["a", "b\"\t"]).max_level(Level::Off),
            Route::default().owned_by_user(),
            Route::default().owned_by_user().max_level(Level::Usage),
            Route::default().spans(true),
            Route::default().owned_by_user().spans(false),
            Route::counters_only().per_period(Duration::from_secs(604_800)),
            Route::default().per_period(Duration::from_secs(86_400)).with_install_id(),
        ] {
            let line = route.to_line();
            assert!(!line.contains(['\n', '\t']), "{line}");
            assert_eq!(Route::from_line(&line), Some(route));
        }
        assert_ne!(Route::default().to_line(), Route::default().max_level(Level::Usage).to_line());
        assert_eq!(Route::from_line("{\"events\":\"some\",\"max_level\":\"full\"}"), None);
        assert_ne!(Route::default().to_line(), Route::default().owned_by_user().to_line());
        // A vendor route's line is the one written before owners existed.
        assert_eq!(Route::default().to_line(), "{\"events\":\"all\",\"max_level\":\"full\"}");
        // Spans: the user's own routes by default, a vendor's when asked.
        assert!(
            Route::default().owned_by_user().sends_spans()
                && !Route::default().owned_by_user().spans(false).sends_spans()
        );
        assert!(!Route::default().sends_spans() && Route::default().spans(true).sends_spans());
        let weekly = Route::default().per_period(Duration::from_secs(604_800));
        assert_ne!(weekly.to_line(), weekly.clone().with_install_id().to_line());
        assert_eq!(Route::default().with_install_id(), Route::default(), "only a report has an id to choose");
    }

    #[test]
    fn a_route_that_reports_by_period_admits_nothing_as_it_happens() {
        let weekly = Route::default().per_period(Duration::from_secs(604_800));
        assert!(!weekly.admits("tool_calls", true) && !weekly.admits("build", false));
        assert!(weekly.counts("tool_calls", true) && weekly.counts("build", false));
        let counters = Route::counters_only().per_period(Duration::from_secs(86_400));
        assert!(counters.counts("tool_calls", true) && !counters.counts("build", false));
        assert!(!Route::default().counts("build", false));
        assert_eq!(weekly.period(), Some(Duration::from_secs(604_800)));
        assert!(weekly.with_install_id().reports_install_id());
    }
}
