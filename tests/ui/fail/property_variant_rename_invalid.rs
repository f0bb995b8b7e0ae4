// Variant values follow the naming rules, with a suggestion.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
enum Transport {
    Stdio,
    #[telemetry(rename = "HttpTwo")]
    Http2,
}

fn main() {}
