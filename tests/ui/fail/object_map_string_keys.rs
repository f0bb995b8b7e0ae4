// A map with text keys is not a property type, in an object as in an
// event: its keys would be names chosen at run time. The error says why
// and what to declare instead. Keys of another type that is not an enum
// with #[derive(TelemetryProperty)] are refused by the type system.
use std::collections::{BTreeMap, HashMap};
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
struct Usage {
    per_model: HashMap<String, u32>,
}

/// Tokens used.
#[derive(TelemetryEvent)]
struct Used {
    totals: Vec<HashMap<&'static str, u64>>,
}

/// Tokens used, by a number.
#[derive(TelemetryEvent)]
struct ByNumber {
    per_port: BTreeMap<u16, u64>,
}

fn main() {}
