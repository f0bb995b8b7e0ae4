// A generic event: a type parameter, a lifetime, a const parameter and a
// where clause. The derive bounds each generic field by what its
// classification needs, so `Sized<String>` would not be an event.
use std::time::Duration;

use telemetry_runtime::{Classification, Level, Properties, PropertyValue, TelemetryEvent, Value};

/// A batch of work was processed.
#[derive(TelemetryEvent)]
struct BatchProcessed<'a, T, U, const N: usize>
where
    T: Copy,
{
    /// How much work: a number or a duration, public by default.
    amount: T,
    /// The stage, from a fixed list.
    #[telemetry(public, reason = "a stage name from the program's fixed list")]
    stage: &'a str,
    /// The input's name: only its length leaves the process.
    #[telemetry(redact = "length")]
    input: &'a str,
    /// Extra detail, only with full consent.
    #[telemetry(opt_in)]
    detail: Option<U>,
    /// Sizes of the parts.
    sizes: &'a [u32],
    /// Not sent.
    #[telemetry(skip)]
    _scratch: [u8; N],
}

fn props<E: TelemetryEvent>(event: &E, level: Level) -> Properties {
    let mut out = Properties::new();
    event.write_properties(level, &mut out);
    out
}

fn main() {
    let input = String::from("report.csv");
    let sizes = vec![3, 4];
    let event = BatchProcessed::<u32, String, 2> {
        amount: 7,
        stage: "parse",
        input: &input,
        detail: Some("first run".into()),
        sizes: &sizes,
        _scratch: [0; 2],
    };
    let usage = props(&event, Level::Usage);
    assert_eq!(get(&usage, "amount"), Some(Value::from(7u32)));
    assert_eq!(get(&usage, "stage"), Some(Value::from("parse")));
    assert_eq!(get(&usage, "input"), Some(Value::from(10usize)));
    assert_eq!(get(&usage, "detail"), None);
    assert_eq!(get(&usage, "sizes"), Some(sizes.to_value()));
    assert_eq!(get(&usage, "_scratch"), None);
    let full = props(&event, Level::Full);
    assert_eq!(get(&full, "detail"), Some(Value::from("first run")));

    let timed = BatchProcessed::<Duration, u8, 0> {
        amount: Duration::from_millis(1500),
        stage: "link",
        input: "",
        detail: None,
        sizes: &[],
        _scratch: [],
    };
    assert_eq!(get(&props(&timed, Level::Full), "amount"), Some(Duration::from_millis(1500).to_value()));

    type Schema = BatchProcessed<'static, u8, u8, 1>;
    assert_eq!(Schema::SCHEMA.name, "batch_processed");
    let fields: Vec<_> = Schema::SCHEMA.fields.iter().map(|f| (f.name, f.ty, f.classification)).collect();
    assert_eq!(
        fields,
        [
            ("amount", "T", Classification::Public),
            ("stage", "&'a str", Classification::Public),
            ("input", "&'a str", Classification::Redact(telemetry_runtime::RedactMode::Length)),
            ("detail", "Option<U>", Classification::OptIn),
            ("sizes", "&'a [u32]", Classification::Public),
        ]
    );
}

/// The value `out` holds for `name`.
fn get(out: &telemetry_runtime::Properties, name: &str) -> Option<telemetry_runtime::Value> {
    out.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}
