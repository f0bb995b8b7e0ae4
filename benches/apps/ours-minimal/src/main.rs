//! The smallest useful program: a typed event, captured and flushed.

use std::time::Duration;

use telemetry_runtime::{sink::PostHogSink, Config, Level, TelemetryEvent};

/// The program ran.
#[derive(TelemetryEvent)]
struct Started {
    /// Number of arguments.
    num_args: usize,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = telemetry_runtime::init(
        Config::new("minimal", env!("CARGO_PKG_VERSION"))
            .default_level(Level::Off)
            .sink(PostHogSink::new("phc_minimal")?),
    )?;
    telemetry_runtime::capture(&Started { num_args: std::env::args().count() });
    let _delivered = guard.flush(Duration::from_secs(1));
    Ok(())
}
