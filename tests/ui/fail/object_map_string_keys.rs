// A map is not a property type, in an object as in an event: its keys
// would be names chosen at run time (`String` keys are free text). The
// error says why and what to declare instead.
use std::collections::{BTreeMap, HashMap};
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
enum Feature {
    Fast,
}

#[derive(TelemetryProperty)]
struct Usage {
    per_model: HashMap<String, u32>,
    #[telemetry(public)]
    per_feature: Option<BTreeMap<Feature, u32>>,
}

/// Tokens used.
#[derive(TelemetryEvent)]
struct Used {
    totals: Vec<HashMap<&'static str, u64>>,
}

fn main() {}
