// The runtime under another name, reached only through `crate = "..."`:
// this file names `telemetry_runtime` nowhere but in the line below. The
// derives' output leaves the user's crate without a warning.
#![deny(warnings)]

extern crate telemetry_runtime as tel;

use tel::{requires_telemetry, TelemetryEvent, TelemetryProperty};

#[derive(TelemetryProperty)]
#[telemetry(crate = "tel")]
enum Mode {
    Fast,
}

/// An event defined through the renamed crate.
#[derive(TelemetryEvent)]
#[telemetry(crate = "tel", sample = 0.5, opt_in)]
struct Renamed<T> {
    count: T,
    mode: Mode,
    #[telemetry(redact = "hash")]
    server_url: String,
    #[telemetry(opt_in)]
    query: Option<String>,
}

mod nested {
    /// From a nested module, with a leading `::`.
    #[derive(super::TelemetryEvent)]
    #[telemetry(crate = "::tel")]
    pub(crate) struct Nested {
        pub(crate) n: u32,
    }

    #[tel::requires_telemetry(crate = "::tel", full)]
    pub(crate) fn gated_nested() -> Option<u8> {
        Some(1)
    }
}

#[requires_telemetry(crate = "tel")]
fn gated() -> Option<u8> {
    Some(1)
}

#[requires_telemetry(crate = "tel")]
async fn gated_async() {}

#[requires_telemetry(instrument, crate = "tel", args(n, mode))]
fn instrumented(n: u32, mode: Mode) -> Result<u32, std::fmt::Error> {
    let _ = mode;
    Ok(n)
}

fn main() {
    assert_eq!(<Renamed<u8> as TelemetryEvent>::SCHEMA.name, "renamed");
    assert_eq!(<Renamed<u8> as TelemetryEvent>::SCHEMA.min_level, tel::Level::Full);
    assert_eq!(<nested::Nested as TelemetryEvent>::SCHEMA.fields[0].name, "n");
    let event = Renamed { count: 1u8, mode: Mode::Fast, server_url: String::new(), query: None };
    let mut out = tel::Properties::new();
    event.write_properties(tel::Level::Full, &mut out);
    assert_eq!(get(&out, "mode"), Some(tel::Value::from("fast")));
    assert_eq!(nested::Nested { n: 1 }.n, 1);
    assert_eq!(gated(), None);
    assert_eq!(nested::gated_nested(), None);
    assert_eq!(instrumented(3, Mode::Fast), Ok(3));
    let _ = gated_async();
}

/// The value `out` holds for `name`.
fn get(out: &tel::Properties, name: &str) -> Option<tel::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
