//! `telemetry report`: the reports by period, as they will be or were
//! sent, and with `--html` the page that draws them.

use std::io::{self, Write};
use std::path::Path;

use crate::error::Because;
use crate::local::files;
use crate::pipeline::report::Shown;
use crate::Telemetry;

/// The reports by period, each report on a line of its own, exactly as it
/// will be or was sent; with `html`, also the page.
pub(super) fn report(client: &Telemetry, html: Option<&Path>, out: &mut dyn Write) -> io::Result<()> {
    let routes = client.reports();
    if let Some(path) = html {
        let page = crate::report_page::page(client.app_name(), client.catalog(), &routes);
        files::write_private(path, &page, files::Existing::Replace)
            .map_err(|e| Because::io(format!("cannot write {}", path.display()), e))?;
        writeln!(out, "Wrote {}.", path.display())?;
    }
    if routes.is_empty() {
        writeln!(out, "This program does not report by period: what it sends, it sends as it happens.")?;
        return Ok(());
    }
    if let Some(dir) = client.reports_path() {
        writeln!(out, "Counts and reports are kept in {}.", dir.display())?;
    }
    for route in &routes {
        let period = crate::model::period::length_in_words(route.period);
        let id = if route.install_id {
            "with the install id"
        } else {
            "each with an id of its own (from the period and a key kept on this machine)"
        };
        writeln!(out, "\nTo {}: one report a {period}, {id}.", route.sink)?;
        let when = |shown: &Shown| {
            format!("{} to {} (UTC)", day(shown.counts.start_time()), day(shown.counts.end_time()))
        };
        match &route.current {
            Some(current) => {
                writeln!(out, "This {period} so far, {}; sent after it ends as:", when(current))?;
                writeln!(out, "{}", current.wire)?;
            }
            None => writeln!(out, "Nothing counted this {period} yet.")?,
        }
        if route.pending.is_empty() {
            writeln!(out, "No report waiting to be sent.")?;
        }
        for pending in &route.pending {
            writeln!(out, "Waiting to be sent, {}:", when(pending))?;
            writeln!(out, "{}", pending.wire)?;
        }
        // The last few; the page shows every one kept.
        for sent in route.sent.iter().rev().take(5).rev() {
            let at = sent.sent_at.as_deref().unwrap_or("at a time not recorded");
            writeln!(out, "Sent {at}, {}:", when(sent))?;
            writeln!(out, "{}", sent.wire)?;
        }
    }
    Ok(())
}

/// A day as `YYYY-MM-DD`, or with the time when it is not midnight UTC.
fn day(time: std::time::SystemTime) -> String {
    let text = crate::model::time::rfc3339(time);
    match text.strip_suffix("T00:00:00.000Z") {
        Some(day) => day.to_owned(),
        None => text,
    }
}
