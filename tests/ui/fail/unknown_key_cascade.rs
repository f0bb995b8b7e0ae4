// One typo, one error.
//
// Expected: only "unknown telemetry field attribute `pubic`; did you mean
// `public`?" at `pubic`.
use telemetry_runtime::TelemetryEvent;

/// A file was opened.
#[derive(TelemetryEvent)]
struct FileOpened {
    #[telemetry(pubic)]
    extension: String,
}

fn main() {}
