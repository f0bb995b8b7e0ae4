// What a type can hold decides, not how it is spelled: an alias named
// like a number that is text, an alias of text with an honest name and a
// newtype over text are all text, and under a sensitive name they need a
// reason, with or without #[telemetry(public)]. A uuid identifies: under a
// sensitive name it needs one too.
use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

mod sneaky {
    #[allow(non_camel_case_types)]
    pub type u32 = String;
}

type Length = String;

#[derive(TelemetryProperty)]
struct QuerySize(String);

/// A search ran.
#[derive(TelemetryEvent)]
struct SearchRan {
    #[telemetry(public)]
    prompt_len: sneaky::u32,
    prompt_tokens: sneaky::u32,
    #[telemetry(public)]
    query_length: Length,
    #[telemetry(public)]
    query_size: QuerySize,
    conversation: uuid::Uuid,
}

fn main() {}
