// Counters are declared: an undeclared name does not compile, labels are
// audited like property names (an identifier needs a reason), and `count`
// is the counter's own.
use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty)]
enum Server {
    Github,
}

telemetry_runtime::counter! {
    /// Requests, by server.
    pub static REQUESTS = "requests", labels: [server_id: Server, count: Server];
}

telemetry_runtime::counter! {
    /// Requests, by server.
    pub static OPT_IN = "opt_in_requests", labels: [#[telemetry(opt_in)] server: Server];
}

fn main() {
    let client = telemetry_runtime::global().unwrap();
    client.add("tool_calls", &[("server", "github")], 1);
}
