// A borrowed `&str` is free text too.
use telemetry_runtime::TelemetryEvent;

/// A command ran.
#[derive(TelemetryEvent)]
struct CommandRan<'a> {
    command: &'a str,
}

fn main() {}
