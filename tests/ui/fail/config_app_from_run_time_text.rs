// The application's name and version are sent with every event: they come
// from the code (`&'static str`, as a literal or `env!` gives them), never
// from text read at run time.
use telemetry_runtime::Config;

fn main() {
    let version = std::env::var("MYTOOL_VERSION").unwrap_or_default();
    let _ = Config::new("mytool", version);
}
