// The dynamic API takes a declared event, not a name: a name built at run
// time (which could carry anything) does not compile.
use telemetry_runtime::Properties;

fn main() {
    let secret = "ada@example.com";
    telemetry_runtime::capture_with(format!("evt_{secret}"), Properties::new());
    telemetry_runtime::capture_with("evt", Properties::new());
}
