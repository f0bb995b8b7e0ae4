// A "try `...`" suggestion is itself a valid name.
//
// Expected: suggestions that pass the rule, e.g. `http_2` and `reserved`
// (or no suggestion).
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
enum Transport {
    #[telemetry(rename = "HTTP/2")]
    Http2,
}

/// An event with a field named like an unused one.
#[derive(TelemetryEvent)]
struct Reserved {
    _reserved: u32,
}

fn main() {}
