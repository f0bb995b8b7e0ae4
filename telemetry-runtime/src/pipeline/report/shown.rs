//! What `telemetry report` shows of a route's reports: the current
//! period's counts and the pending reports as they will be sent, the sent
//! ones as they were sent.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::event::{build, ReportRoute};
use super::folder::{files_with, parse_stored, read_stored, Stored, CLAIMED, COUNTS, MAX_FILE_BYTES, SENT};
use crate::local::files;
use crate::local::identity::Identity;
use crate::model::period::PeriodCounts;

/// A route's reports as `telemetry report` shows them.
#[derive(Debug, Clone)]
pub(crate) struct RouteReports {
    /// The sink's name.
    pub(crate) sink: String,
    pub(crate) period: u64,
    pub(crate) install_id: bool,
    /// The current period's counts so far, as they would be sent if it
    /// ended now.
    pub(crate) current: Option<Shown>,
    /// Periods that are over and not sent yet, oldest first.
    pub(crate) pending: Vec<Shown>,
    /// Reports that were sent, oldest first.
    pub(crate) sent: Vec<Shown>,
}

/// One report as it will be or was sent.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub(crate) counts: PeriodCounts,
    /// PostHog's JSON of the report's event, the bytes a sink sends.
    pub(crate) wire: String,
    /// When it was sent (RFC 3339), for a sent report.
    pub(crate) sent_at: Option<String>,
}

/// The reports of `route`, whose files are in `dir`, as `telemetry report`
/// shows them at `now` (seconds since 1970): the current period's counts
/// and the pending reports built as they will be sent (with `identity`'s
/// secret), and the sent ones as they were sent.
pub(super) fn route_reports(
    route: &ReportRoute,
    dir: Option<PathBuf>,
    now: u64,
    identity: &Identity,
) -> RouteReports {
    let mut reports = RouteReports {
        sink: route.sink.clone(),
        period: route.period,
        install_id: route.route.reports_install_id(),
        current: None,
        pending: Vec::new(),
        sent: Vec::new(),
    };
    let Some(dir) = dir else { return reports };
    let waiting = files_with(&dir, COUNTS).into_iter().chain(files_with(&dir, CLAIMED));
    let mut waiting: Vec<Stored> = waiting.filter_map(|path| read_stored(&path).ok().flatten()).collect();
    waiting.sort_by_key(|stored| stored.counts.start);
    for stored in waiting {
        let (_, wire) = build(&stored, route, identity);
        let shown = Shown { counts: stored.counts, wire, sent_at: None };
        if shown.counts.end <= now {
            reports.pending.push(shown);
        } else {
            reports.current = Some(shown);
        }
    }
    for path in files_with(&dir, SENT) {
        if let Some(shown) = read_sent(&path) {
            reports.sent.push(shown);
        }
    }
    reports.sent.sort_by_key(|shown| shown.counts.start);
    reports
}

/// A sent report, as it was sent.
fn read_sent(path: &Path) -> Option<Shown> {
    let text = files::read_capped(path, MAX_FILE_BYTES).ok()?;
    let json: Json = serde_json::from_str(&text).ok()?;
    let stored = parse_stored(&json)?;
    Some(Shown {
        counts: stored.counts,
        wire: json["wire"].as_str()?.to_owned(),
        sent_at: json["sent_at"].as_str().map(str::to_owned),
    })
}
