//! How the catalog describes a route that reports by period
//! ([`PeriodNote`]): in its JSON, and as a section of its Markdown page.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};

use crate::model::period::{length_in_words, REPORT_EVENT};

/// A route that reports by period, as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeriodNote {
    /// The period's length in seconds.
    pub(crate) seconds: u64,
    /// What is counted: `None` for every counter (and every event, with
    /// `events`), or the names the route lets through.
    pub(crate) only: Option<Vec<String>>,
    /// Whether events are counted, not only counters.
    pub(crate) events: bool,
    /// Whether a report carries the install id.
    pub(crate) install_id: bool,
}

impl PeriodNote {
    /// The note as JSON, in the catalog's `reports`.
    pub(super) fn to_json(&self) -> Json {
        json!({
            "event": REPORT_EVENT,
            "period_seconds": self.seconds,
            "counts": match &self.only {
                None if self.events => json!("counters and events"),
                None => json!("counters"),
                Some(names) => json!(names),
            },
            "distinct_id": if self.install_id { "install id" } else { "random, one per report" },
        })
    }

    /// The section of the "what we collect" page on these reports: what
    /// they hold, and what the vendor can and cannot learn from them.
    pub(super) fn write_markdown(&self, md: &mut String, app_name: &str) {
        let period = length_in_words(self.seconds);
        let counted = match (&self.only, self.events) {
            (None, true) => {
                "every counter below, and how many times each event below was captured".to_owned()
            }
            (None, false) => "every counter below".to_owned(),
            (Some(names), _) => {
                let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                format!("the counts of {}", names.join(", "))
            }
        };
        let id = if self.install_id {
            "the install id (`distinct_id` above), so that reports of one installation can be told apart              and linked from period to period"
        } else {
            "an id of its own, made from the period and a secret key kept on this machine, never the install id, so that reports of two periods cannot be linked"
        };
        let _ = writeln!(md, "\n## Reports by period: `{REPORT_EVENT}`, once a {period}\n");
        let _ = writeln!(
            md,
            "{app_name} counts {counted} on this machine, added up over a {period} by every run, and sends \
             nothing of it during the {period}. Once the {period} is over, the first run sends it as one \
             `{REPORT_EVENT}` event, once, at the consent in force then; turning telemetry off deletes what \
             was not sent, and a report not sent within 28 days is deleted unsent. `{app_name} telemetry \
             report` shows the counts so far and the reports exactly as they will be and were sent.\n"
        );
        let _ = writeln!(
            md,
            "A report carries `$period_start` and `$period_end` (periods start at midnight UTC, a week on \
             Monday), one count per counter series (`tool_calls{{status=ok}}`) and per event \
             (`$events{{event=build}}`), and the properties sent with every event but `$session_id`, as of \
             the last run that counted. Its `timestamp` is the period's start; its `distinct_id` is {id}; \
             its `uuid` is derived from the period and a secret of this installation, so that a report \
             sent twice is kept once.\n"
        );
        let _ = writeln!(
            md,
            "What the receiver can learn: how much each counted thing was used in that {period}, on one \
             installation, and the program's version and system of its last run in the period; the time \
             and the network address of one request a {period}. What it cannot: when, or how many times, \
             the program ran within the {period}, what happened in any one run, the time zone, any event's \
             properties, or anything this page does not list."
        );
    }
}
