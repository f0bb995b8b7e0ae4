// An optional text is still free text.
use telemetry_runtime::TelemetryEvent;

/// A plugin was loaded.
#[derive(TelemetryEvent)]
struct PluginLoaded {
    plugin: Option<String>,
}

fn main() {}
