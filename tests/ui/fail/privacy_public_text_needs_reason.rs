// `public` on text is a decision like any other: without a written reason
// it does not compile. The message offers an enum or redaction first.
use telemetry_runtime::TelemetryEvent;

/// A scan finished.
#[derive(TelemetryEvent)]
struct ScanFinished {
    #[telemetry(public)]
    extensions: Vec<String>,
    #[telemetry(public)]
    digest: [u8; 32],
}

fn main() {}
