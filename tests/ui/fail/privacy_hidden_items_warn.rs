// What the language cannot forbid is made loud: implementing the audit's
// seal or its hidden markers by hand, or calling the hidden constructors
// of declared events and counters, is deprecated, and so an error here,
// where warnings are denied.
#![deny(deprecated)]

use telemetry_runtime::__private::{Audited, ClosedValue, Counter, DynamicEvent, EventSchema};
use telemetry_runtime::{Level, PublicByDefault, TelemetryProperty};

struct Wrapper(String);

impl Audited for Wrapper {}

/// An object with an opt-in field: not public by default, not a closed value.
#[derive(TelemetryProperty)]
struct Server {
    #[telemetry(opt_in)]
    name: String,
}

// The public marker alone changes only whether a field holding it must be
// classified (its opt-in field stays opt-in); the hidden one warns.
impl PublicByDefault for Server {}
impl ClosedValue for Server {}

static SCHEMA: EventSchema = EventSchema::undocumented("sneaky", Level::Usage);
static SNEAKY: DynamicEvent = DynamicEvent::__declared(&SCHEMA, &[]);
static COUNTER: Counter = Counter::__declared(&SCHEMA, &[]);

fn main() {
    let _ = (Wrapper(String::new()).0, Server { name: String::new() }.name, &SNEAKY, &COUNTER);
}
