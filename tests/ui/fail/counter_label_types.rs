// A label's type is a closed set: a #[derive(TelemetryProperty)] enum. Text
// or a number is refused at the label's type, and so is a label without a
// type.
telemetry_runtime::counter! {
    /// Requests, by method.
    static REQUESTS = "requests", labels: [method: String];
}

telemetry_runtime::counter! {
    /// Retries, by attempt.
    static RETRIES = "retries", labels: [attempt: u32];
}

telemetry_runtime::counter! {
    /// Requests, by method.
    static METHODS = "methods", labels: [method];
}

fn main() {}
