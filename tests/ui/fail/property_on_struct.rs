// TelemetryProperty is for fieldless enums, newtypes and structs with
// named fields: a tuple struct of several fields has no property names.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
struct Transport(u8, u16);

fn main() {}
