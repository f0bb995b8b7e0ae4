// With `crate = "..."`, an audit error is reported alone: the fallback
// impl uses the renamed path, so no "unresolved crate" follows.
extern crate telemetry_runtime as tel;

/// A search ran.
#[derive(tel::TelemetryEvent)]
#[telemetry(crate = "tel")]
struct Search {
    query: String,
}

fn main() {
    tel::capture(&Search { query: String::new() });
}
