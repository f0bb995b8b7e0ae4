//! The page `telemetry report --html FILE` writes: one self-contained HTML
//! file (no script, no font, no request of any kind: its content security
//! policy allows inline styles only) with a chart per count across the
//! periods kept on disk, the reports waiting and sent exactly as they are
//! sent, and the catalog's descriptions of what is counted.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::model::catalog::Catalog;
use crate::model::period::{length_in_words, Counted, REPORT_EVENT};
use crate::model::time::rfc3339;
use crate::pipeline::report::{RouteReports, Shown};

/// Where a period's counts are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Sent,
    Waiting,
    Counting,
}

impl State {
    fn class(self) -> &'static str {
        match self {
            State::Sent => "sent",
            State::Waiting => "waiting",
            State::Counting => "counting",
        }
    }

    fn words(self) -> &'static str {
        match self {
            State::Sent => "sent",
            State::Waiting => "waiting to be sent",
            State::Counting => "still counting",
        }
    }
}

const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 62em; padding: 0 1em; color: #1d2329; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccd3da; }
.note { color: #4b5661; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(20em, 1fr)); gap: 1.2em; }
figure { margin: 0; padding: .8em; border: 1px solid #dfe4e9; border-radius: 6px; }
figcaption code { font-weight: 600; }
figcaption p { margin: .3em 0 0; color: #4b5661; font-size: .9em; }
svg { display: block; width: 100%; height: auto; margin-top: .5em; }
svg text { font: 10px system-ui, sans-serif; fill: #4b5661; }
.axis { stroke: #9aa5b1; } .grid { stroke: #e6eaee; }
rect.sent { fill: #2f6db5; } rect.waiting { fill: #d9822b; } rect.counting { fill: #a3adb8; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: .9em; height: .9em; margin-right: .3em; vertical-align: -.1em; }
i.sent { background: #2f6db5; } i.waiting { background: #d9822b; } i.counting { background: #a3adb8; }
pre { background: #f4f6f8; padding: .7em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; font-size: .85em; }
";

/// The whole page.
pub(crate) fn page(app_name: &str, catalog: &Catalog, routes: &[RouteReports]) -> String {
    let app = escape(app_name);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>What {app} reports, period by period</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>What {app} reports, period by period</h1>\n\
         <p class=\"note\">Written {} from the files on this machine. This page loads nothing: no script, \
         no font, no image from anywhere.</p>\n",
        escape(&rfc3339(std::time::SystemTime::now()))
    );
    if routes.is_empty() {
        html.push_str(
            "<p>This program does not report by period: what it sends, it sends as it happens.</p>\n",
        );
    }
    for route in routes {
        route_section(&mut html, catalog, route);
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn route_section(html: &mut String, catalog: &Catalog, route: &RouteReports) {
    let period = length_in_words(route.period);
    let id = if route.install_id {
        "It carries the install id, so reports of this installation can be linked from one period to the next."
    } else {
        "It carries an id of its own, made from the period and a secret key kept on this machine, never the install id: reports of two periods cannot be linked."
    };
    let _ = write!(
        html,
        "<h2>To {}: one report a {period}</h2>\n<p>Counts are added up on this machine over a {period} and \
         leave it once, as one <code>{REPORT_EVENT}</code> event, after the {period} is over: the period, \
         not the time of any run; no session id. {id}</p>\n",
        escape(&route.sink)
    );
    let periods: Vec<(State, &Shown)> = route
        .sent
        .iter()
        .map(|shown| (State::Sent, shown))
        .chain(route.pending.iter().map(|shown| (State::Waiting, shown)))
        .chain(route.current.iter().map(|shown| (State::Counting, shown)))
        .collect();
    let counted: BTreeSet<&Counted> =
        periods.iter().flat_map(|(_, shown)| shown.counts.counts.keys()).collect();
    let _ = writeln!(html, "<h3>Counts across the {} periods kept on this machine</h3>", periods.len());
    if counted.is_empty() {
        html.push_str("<p>Nothing was counted yet.</p>\n");
    } else {
        html.push_str(
            "<p class=\"legend\"><span><i class=\"sent\"></i>sent</span><span><i class=\"waiting\"></i>waiting \
             to be sent</span><span><i class=\"counting\"></i>this period so far</span></p>\n<div class=\"charts\">\n",
        );
        for counted in counted {
            chart(html, catalog, counted, &periods);
        }
        html.push_str("</div>\n");
    }
    let waiting: Vec<&(State, &Shown)> = periods.iter().filter(|(state, _)| *state != State::Sent).collect();
    html.push_str("<h3>Not sent yet</h3>\n");
    if waiting.is_empty() {
        html.push_str("<p>Nothing.</p>\n");
    }
    for (state, shown) in waiting {
        let _ = write!(
            html,
            "<p>{} to {}, {}. It will be sent as:</p>\n<pre>{}</pre>\n",
            day(shown.counts.start),
            day(shown.counts.end),
            state.words(),
            escape(&shown.wire)
        );
    }
    html.push_str("<h3>Sent</h3>\n");
    if route.sent.is_empty() {
        html.push_str("<p>Nothing yet.</p>\n");
    }
    for shown in route.sent.iter().rev() {
        let _ = write!(
            html,
            "<p>{} to {}, sent {}, exactly as:</p>\n<pre>{}</pre>\n",
            day(shown.counts.start),
            day(shown.counts.end),
            escape(shown.sent_at.as_deref().unwrap_or("at a time not recorded")),
            escape(&shown.wire)
        );
    }
}

/// One count across the periods: a bar per period, with its catalog
/// description beside it.
fn chart(html: &mut String, catalog: &Catalog, counted: &Counted, periods: &[(State, &Shown)]) {
    let name = counted.wire_name();
    let _ = write!(html, "<figure>\n<figcaption><code>{}</code>", escape(&name));
    for line in describe(catalog, counted) {
        let _ = write!(html, "<p>{}</p>", escape(&line));
    }
    html.push_str("</figcaption>\n");
    let values: Vec<u64> =
        periods.iter().map(|(_, shown)| shown.counts.counts.get(counted).copied().unwrap_or(0)).collect();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let (left, top, plot_height, slot) = (44.0, 10.0, 120.0, 34.0);
    let width = left + slot * periods.len().max(1) as f64 + 10.0;
    let height = top + plot_height + 24.0;
    let bottom = top + plot_height;
    let _ = write!(
        html,
        "<svg viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{} per period\">\n\
         <line class=\"grid\" x1=\"{left}\" y1=\"{top}\" x2=\"{}\" y2=\"{top}\"/>\n\
         <line class=\"axis\" x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>\n\
         <text x=\"{}\" y=\"{bottom}\" text-anchor=\"end\">0</text>\n",
        escape(&name),
        width - 10.0,
        width - 10.0,
        left - 4.0,
        top + 4.0,
        left - 4.0,
    );
    for (i, ((state, shown), value)) in periods.iter().zip(&values).enumerate() {
        let bar = plot_height * (*value as f64) / (max as f64);
        let x = left + slot * i as f64 + 5.0;
        let _ = write!(
            html,
            "<rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{bar}\"><title>{} to {}: {value} ({})</title></rect>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            state.class(),
            bottom - bar,
            slot - 10.0,
            day(shown.counts.start),
            day(shown.counts.end),
            state.words(),
            x + (slot - 10.0) / 2.0,
            bottom + 14.0,
            &day(shown.counts.start)[5..],
        );
    }
    html.push_str("</svg>\n</figure>\n");
}

/// What the catalog says of a count: its counter's or event's description,
/// and its labels'.
fn describe(catalog: &Catalog, counted: &Counted) -> Vec<String> {
    let (name, kind) = match counted {
        Counted::Counter { name, .. } => (name.as_str(), "counter"),
        Counted::Event(name) => (name.as_str(), "times the event was captured"),
    };
    let Some(schema) = catalog.event(name) else {
        return vec![format!("{kind}: not in this program's catalog")];
    };
    let mut lines = vec![format!("{kind}: {}", one_line(schema.description))];
    if let Counted::Counter { labels, .. } = counted {
        for (label, value) in labels {
            let field = schema.fields.iter().find(|f| f.name == label);
            let description = field.map(|f| one_line(f.description)).unwrap_or_default();
            lines.push(format!(
                "{label} = {value}{}",
                if description.is_empty() { String::new() } else { format!(": {description}") }
            ));
        }
    }
    lines
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A period's bound as a day, `YYYY-MM-DD`, or with the time when it is
/// not midnight UTC.
fn day(seconds: u64) -> String {
    let text = rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds));
    match text.strip_suffix("T00:00:00.000Z") {
        Some(day) => day.to_owned(),
        None => text,
    }
}

/// Text as HTML, safe in element content and in quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::period::PeriodCounts;

    fn shown(start: u64, counts: &[(Counted, u64)], sent: bool) -> Shown {
        Shown {
            counts: PeriodCounts { start, end: start + 604_800, counts: counts.iter().cloned().collect() },
            wire: format!("{{\"event\":\"telemetry_report\",\"x\":\"<{start}>\"}}"),
            sent_at: sent.then(|| "2025-01-13T00:00:05.000Z".to_owned()),
        }
    }

    #[test]
    fn a_page_of_charts_that_loads_nothing() {
        let calls =
            Counted::Counter { name: "tool_calls".into(), labels: vec![("status".into(), "<ok>".into())] };
        let builds = Counted::Event("build".into());
        let route = RouteReports {
            sink: "http://127.0.0.1:1/batch/".into(),
            period: 604_800,
            install_id: false,
            sent: vec![shown(1_736_121_600, &[(calls.clone(), 12), (builds.clone(), 3)], true)],
            pending: vec![shown(1_736_726_400, &[(calls.clone(), 7)], false)],
            current: Some(shown(1_737_331_200, &[(builds, 1)], false)),
        };
        let html = page("my<app>", &Catalog::of(vec![]), &[route]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<svg ").count(), 2, "a chart per count");
        assert_eq!(html.matches("<rect ").count(), 6, "a bar per period in each");
        assert!(html.contains("my&lt;app&gt;") && !html.contains("my<app>"));
        assert!(html.contains("tool_calls{status=&lt;ok&gt;}"));
        assert!(html.contains("&lt;1736726400&gt;"), "the waiting report, escaped");
        for network in ["<script", "src=", "href=", "@import", "url(", "http-equiv=\"refresh\""] {
            assert!(!html.contains(network), "{network}");
        }
        assert!(html.contains("default-src 'none'"));
    }
}
