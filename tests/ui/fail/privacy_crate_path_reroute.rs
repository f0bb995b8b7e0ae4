// `crate = "..."` cannot reroute the derive's checks: the writers are
// methods of the `Properties` the sealed trait hands to the event, not
// functions found through the path. A module that imitates the library's
// hidden one, with a writer of its own that checks nothing, changes
// nothing: text is still refused without a classification.
mod lenient {
    pub mod __private {
        pub use telemetry_runtime::__private::*;

        /// A "writer" without the bound the real one has.
        pub fn public<T: PropertyValue + ?Sized>(out: &mut Properties, name: FieldName, level: Level, value: &T) {
            out.__write_field(name, level, value);
        }
    }
}

type Label = String;

/// A label was saved.
#[derive(telemetry_runtime::TelemetryEvent)]
#[telemetry(crate = "lenient")]
struct LabelSaved {
    label: Label,
}

fn main() {}
