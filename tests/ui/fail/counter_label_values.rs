// The values a label declares are names: snake_case, each once, at least
// one.
telemetry_runtime::counter! {
    /// Tool calls, by tool.
    static TOOL_USAGE = "tool_usage", labels: [tool: ToolName = ["BashTool", "web search"]];
}

telemetry_runtime::counter! {
    /// Runs, by outcome.
    static RUNS = "runs", labels: [outcome: Outcome = ["ok", "ok"]];
}

telemetry_runtime::counter! {
    /// Syncs, by kind.
    static SYNCS = "syncs", labels: [kind: Kind = []];
}

fn main() {}
