//! A period's report as data: which period, and how many of each declared
//! thing were counted in it. The pipeline keeps these counts on disk
//! (`pipeline/report`); a sink gets a report as one event whose properties
//! are the counts, and the OTLP sink sends them as sums over the period.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The name of the event a report is sent as.
pub(crate) const REPORT_EVENT: &str = "telemetry_report";

/// The first period of every length starts on Monday 1970-01-05 at
/// midnight UTC: a day starts at midnight, a week on Monday.
const ORIGIN: i64 = 4 * 86_400;

/// What a count is of.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Counted {
    /// A counter's series: its name, and its labels with their values in
    /// the declared order.
    Counter { name: String, labels: Vec<(String, String)> },
    /// How many times the event with this name was captured.
    Event(String),
}

impl Counted {
    /// The name of the property a report carries this count under: the
    /// counter's name, with its labels as `{label=value,...}` when it has
    /// any; `$events{event=<name>}` for an event. A `\`, `,`, `=`, `{` or
    /// `}` inside a name or value is written with a `\` before it, so that
    /// two series never share a name.
    pub(crate) fn wire_name(&self) -> String {
        let mut out = String::new();
        push_escaped(&mut out, self.metric_name());
        let attributes = self.attributes();
        if !attributes.is_empty() {
            out.push('{');
            for (i, (label, value)) in attributes.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_escaped(&mut out, label);
                out.push('=');
                push_escaped(&mut out, value);
            }
            out.push('}');
        }
        out
    }

    /// The name of the metric an OTLP sink sends this count as.
    pub(crate) fn metric_name(&self) -> &str {
        match self {
            Counted::Counter { name, .. } => name,
            Counted::Event(_) => "$events",
        }
    }

    /// The metric's attributes: the counter's labels, or the event's name.
    pub(crate) fn attributes(&self) -> Vec<(&str, &str)> {
        match self {
            Counted::Counter { labels, .. } => labels.iter().map(|(l, v)| (l.as_str(), v.as_str())).collect(),
            Counted::Event(name) => vec![("event", name)],
        }
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '\\' | ',' | '=' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One period and what was counted in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PeriodCounts {
    /// Where the period starts and ends, in seconds since 1970 (UTC).
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) counts: BTreeMap<Counted, u64>,
}

impl PeriodCounts {
    /// When the period starts.
    pub(crate) fn start_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.start)
    }

    /// When it ends (the next one starts).
    pub(crate) fn end_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.end)
    }

    /// Adds `n` to one count.
    pub(crate) fn add(&mut self, counted: Counted, n: u64) {
        let count = self.counts.entry(counted).or_default();
        *count = count.saturating_add(n);
    }
}

/// The start and end (seconds since 1970) of the period of `length`
/// seconds that holds `now`.
pub(crate) fn period_of(now: SystemTime, length: u64) -> (u64, u64) {
    let length = length.max(1) as i64;
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().min(i64::MAX as u64 / 2) as i64;
    let start = ORIGIN + (now - ORIGIN).div_euclid(length) * length;
    (start.max(0) as u64, (start + length).max(0) as u64)
}

/// A period's length in words: "day", "week", "12 hours".
pub(crate) fn length_in_words(seconds: u64) -> String {
    match seconds {
        86_400 => "day".to_owned(),
        604_800 => "week".to_owned(),
        3_600 => "hour".to_owned(),
        s if s % 604_800 == 0 => format!("{} weeks", s / 604_800),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn weeks_start_on_monday_and_days_at_midnight_utc() {
        // 2025-01-08 (a Wednesday) 15:04:05 UTC.
        let wednesday = 1_736_348_645;
        let (start, end) = period_of(at(wednesday), WEEK);
        // Monday 2025-01-06 00:00 UTC to the next Monday.
        assert_eq!((start, end), (1_736_121_600, 1_736_121_600 + WEEK));
        assert_eq!(period_of(at(wednesday), DAY), (1_736_294_400, 1_736_294_400 + DAY));
        // A period holds its start, not its end.
        assert_eq!(period_of(at(start), WEEK).0, start);
        assert_eq!(period_of(at(end), WEEK).0, end);
        assert_eq!(period_of(at(end - 1), WEEK).0, start);
        // Before the first Monday of 1970 too.
        assert_eq!(period_of(at(0), WEEK), (0, 4 * DAY));
    }

    #[test]
    fn wire_names_keep_series_apart() {
        let counter = |labels: &[(&str, &str)]| Counted::Counter {
            name: "tool_calls".into(),
            labels: labels.iter().map(|(l, v)| (l.to_string(), v.to_string())).collect(),
        };
        assert_eq!(counter(&[]).wire_name(), "tool_calls");
        assert_eq!(
            counter(&[("tool", "search"), ("status", "ok")]).wire_name(),
            "tool_calls{tool=search,status=ok}"
        );
        assert_eq!(Counted::Event("build".into()).wire_name(), "$events{event=build}");
        let tricky = counter(&[("tool", "a,status=b")]).wire_name();
        assert_eq!(tricky, "tool_calls{tool=a\\,status\\=b}");
        assert_ne!(tricky, counter(&[("tool", "a"), ("status", "b")]).wire_name());
    }

    #[test]
    fn lengths_in_words() {
        assert_eq!(length_in_words(WEEK), "week");
        assert_eq!(length_in_words(DAY), "day");
        assert_eq!(length_in_words(2 * WEEK), "2 weeks");
        assert_eq!(length_in_words(12 * 3600), "12 hours");
        assert_eq!(length_in_words(90), "90 seconds");
    }
}
