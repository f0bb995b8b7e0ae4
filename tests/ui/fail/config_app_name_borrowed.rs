// A name read at run time cannot be lent to the configuration either: it
// does not live for the whole program, as the name sent with every event
// must.
use telemetry_runtime::Config;

fn main() {
    let name = std::env::args().next().unwrap_or_default();
    let _ = Config::new(&name, "1.0.0");
}
