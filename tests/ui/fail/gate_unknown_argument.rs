// A misspelled argument gets a suggestion.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrumnet)]
fn report() {}

fn main() {
    report();
}
