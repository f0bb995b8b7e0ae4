// Counters are declared: an undeclared name does not compile, labels are
// audited like property names, and `count` is the counter's own.
telemetry_runtime::counter! {
    /// Requests, by server.
    pub static REQUESTS = "requests", labels: [server_url, count];
}

telemetry_runtime::counter! {
    /// Requests, by server.
    pub static OPT_IN = "opt_in_requests", labels: [#[telemetry(opt_in)] server];
}

fn main() {
    telemetry_runtime::increment("tool_calls", &[("server", "github")]);
}
