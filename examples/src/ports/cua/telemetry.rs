//! CUA's telemetry events for the `cua` port: the documented tables
//! (`docs/content/docs/telemetry.mdx`, in `../cua_events.rs`, shared with
//! the `cua-sdk` port) and the calls of `core/telemetry`, as typed events
//! and a counter. Shared by the `cua` example and its wire test.

use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

#[path = "../cua_events.rs"]
mod events;
// The wire test compiles these events in without naming each.
#[allow(unused_imports)]
pub(crate) use events::*;

/// The Computer's interface failed (CUA `interface_error`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct InterfaceError {
    /// The error's type name (`WebSocketDisconnect`), never its message.
    #[telemetry(
        public,
        reason = "an error type name of the SDK, a constant of the program, never the message"
    )]
    pub(crate) error_type: String,
}

/// The agent loop a ComputerAgent runs.
#[derive(TelemetryProperty, Debug, Clone, Copy)]
pub(crate) enum LoopType {
    /// OmniParser with any model.
    Omni,
    /// OpenAI's computer-use model.
    Openai,
    /// Anthropic's computer-use model.
    Anthropic,
}

/// An agent loop started (CUA `agent_loop_started`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentLoopStarted {
    /// Which loop.
    pub(crate) loop_type: LoopType,
}

telemetry_runtime::counter! {
    /// Tool calls, by tool (CUA `increment("tool_usage_count", {"tool_name": ...})`).
    pub(crate) static TOOL_USAGE_COUNT = "tool_usage_count", labels: [
        /// The tool's class, in snake_case (CUA sends `ComputerTool`, `BashTool`).
        tool_name: ToolName = ["computer_tool", "bash_tool"],
    ];
}
