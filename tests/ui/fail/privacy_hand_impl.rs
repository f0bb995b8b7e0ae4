// The classification traits are sealed: implementing them by hand (to
// send a wrapped String as public, or an event outside the catalog) does
// not compile.
use telemetry_runtime::{EventSchema, Level, Properties, PropertyValue, PublicByDefault, TelemetryEvent, Value};

struct Wrapper(String);

impl PropertyValue for Wrapper {
    const KIND: telemetry_runtime::__private::ValueKind = telemetry_runtime::__private::ValueKind::Number;
    fn to_value(&self) -> Value {
        Value::Text(self.0.clone().into())
    }
}

impl PublicByDefault for Wrapper {}

struct Sneaky;

impl TelemetryEvent for Sneaky {
    const SCHEMA: EventSchema = EventSchema::undocumented("sneaky", Level::Usage);
    fn write_properties(&self, _: Level, _: &mut Properties) {}
}

fn main() {}
