// A map with text keys is not a property type: reported at the type, with
// the reason.
use std::collections::HashMap;
use telemetry_runtime::TelemetryEvent;

/// Features were enabled.
#[derive(TelemetryEvent)]
struct FeaturesEnabled {
    #[telemetry(public)]
    features: HashMap<String, String>,
}

fn main() {}
