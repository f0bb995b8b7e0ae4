//! Prints events to standard error, for debugging.

use std::io::Write;

use super::{Batch, SendContext, Sink, SinkError};

/// Prints each event to standard error as JSON in PostHog's shape (what the
/// PostHog sink sends),
/// one line per event, prefixed with `[telemetry] `.
///
/// ```
/// use telemetry_runtime::{sink::StderrSink, Config};
/// let config = Config::new("mytool", "1.0.0").sink(StderrSink);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrSink;

impl Sink for StderrSink {
    fn is_local(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        "stderr"
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let mut out = Vec::new();
        super::each_json(batch, cx, |json| {
            out.extend_from_slice(b"[telemetry] ");
            out.extend_from_slice(json);
            out.push(b'\n');
        });
        // Debug output must never fail the host: a closed stderr is ignored.
        let _ = std::io::stderr().lock().write_all(&out);
        Ok(())
    }
}
