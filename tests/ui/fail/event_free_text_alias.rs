// Free text behind a type alias is invisible to the macro's syntactic check;
// the trait bound catches it, at the field's type.
use telemetry_runtime::TelemetryEvent;

type Label = String;

/// A label was applied.
#[derive(TelemetryEvent)]
struct LabelApplied {
    label: Label,
}

fn main() {}
