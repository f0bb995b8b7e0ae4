// A counter's label values are decided in the code: text of any origin is
// not one (a literal, a leaked String, a static filled at run time), nor is
// a value the label does not declare.
use std::sync::OnceLock;

use telemetry_runtime::TelemetryProperty;

#[derive(TelemetryProperty, Clone, Copy)]
enum Tool {
    Search,
}

telemetry_runtime::counter! {
    /// Tool calls, by tool and outcome.
    static TOOL_CALLS = "tool_calls", labels: [tool: Tool, status: Status = ["ok", "error"]];
}

static WORKING_DIR: OnceLock<String> = OnceLock::new();

fn main() {
    let leaked: &'static str = String::from("/home/ada").leak();
    TOOL_CALLS.add((Tool::Search, leaked), 1);
    TOOL_CALLS.add((Tool::Search, Box::leak(String::from("x").into_boxed_str())), 1);
    let cwd: &'static str = WORKING_DIR.get().unwrap();
    TOOL_CALLS.add((Tool::Search, cwd), 1);
    TOOL_CALLS.add((Tool::Search, "ok"), 1);
    TOOL_CALLS.add((Tool::Search, Status::Okay), 1);
    TOOL_CALLS.add([Tool::Search], 1);
}
