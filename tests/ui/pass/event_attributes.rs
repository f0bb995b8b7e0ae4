// Event-level and field-level attributes: `name`, `opt_in`, `sample`,
// `rename`, `skip`, and doc comments as descriptions.
use telemetry_runtime::{Level, Properties, TelemetryEvent, Value};

/// A crash report.
///
/// Sent only with full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in, name = "crash_report")]
struct Crashed {
    /// Where it crashed, as a code location in the program itself.
    #[telemetry(public, rename = "location", reason = "a source location of this program, not of the user")]
    file_and_line: &'static str,
    /// Kept for the program's own logs.
    #[telemetry(skip)]
    backtrace: String,
    /// Not even a property type: skipped fields are not checked.
    #[telemetry(skip)]
    _handle: std::fs::File,
}

/// A key was pressed (a frequent event, so one in two is kept).
#[derive(TelemetryEvent)]
#[telemetry(sample = 0.5)]
struct KeyPressed {
    repeat: bool,
}

/// Documented with the attribute form.
#[doc = "Second line."]
#[derive(TelemetryEvent)]
#[telemetry(sample = 1.0)]
#[telemetry(name = "doc_attribute")]
struct DocAttribute {
    #[doc = "A count."]
    n: u32,
}

fn main() {
    assert_eq!(Crashed::SCHEMA.name, "crash_report");
    assert_eq!(Crashed::SCHEMA.min_level, Level::Full);
    assert_eq!(Crashed::SCHEMA.description, "A crash report.\n\nSent only with full consent.");
    assert_eq!(Crashed::SCHEMA.fields.len(), 1);
    assert_eq!(Crashed::SCHEMA.fields[0].name, "location");
    assert_eq!(
        Crashed::SCHEMA.fields[0].description,
        "Where it crashed, as a code location in the program itself."
    );
    let crash = Crashed {
        file_and_line: "src/main.rs:10",
        backtrace: "secret frames".into(),
        _handle: std::fs::File::open(std::env::current_exe().unwrap()).unwrap(),
    };
    let mut out = Properties::new();
    crash.write_properties(Level::Full, &mut out);
    assert_eq!(get(&out, "location"), Some(Value::from("src/main.rs:10")));
    assert_eq!(out.iter().count(), 1);
    let _ = crash.backtrace;

    assert_eq!(KeyPressed::SCHEMA.name, "key_pressed");
    assert_eq!(KeyPressed::SCHEMA.min_level, Level::Usage);
    assert_eq!(KeyPressed::SCHEMA.sample_rate, 0.5);
    assert_eq!(KeyPressed::SCHEMA.sample_rate, 0.5);
    let _ = KeyPressed { repeat: true }.repeat;

    assert_eq!(DocAttribute::SCHEMA.description, "Documented with the attribute form.\nSecond line.");
    assert_eq!(DocAttribute::SCHEMA.sample_rate, 1.0);
    assert_eq!(DocAttribute::SCHEMA.fields[0].description, "A count.");
    let _ = DocAttribute { n: 1 }.n;
}

/// The value `out` holds for `name`.
fn get(out: &telemetry_runtime::Properties, name: &str) -> Option<telemetry_runtime::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
