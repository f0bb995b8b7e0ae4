// PENDING (not run): a "try `...`" suggestion is itself a valid name.
//
// Expected: suggestions that pass the rule, e.g. `http_2` and `reserved`
// (or no suggestion).
// Today: "value \"HTTP/2\" of variant `Http2` is not snake_case (try
// `http/2`)" and "property name \"_reserved\" of field `_reserved` is not
// snake_case (try `_reserved`)": `names::to_snake_case` keeps characters
// that snake_case does not allow, and leading underscores.
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
