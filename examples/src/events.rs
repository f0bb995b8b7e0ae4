//! Every telemetry event the agent sends. `TELEMETRY.md` is generated from
//! these definitions and checked by `tests/programs/telemetry_catalog.rs`.

use std::time::Duration;

use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

/// The language model driving the agent (also the `--model` option's values).
#[derive(TelemetryProperty, clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// A small, fast model.
    Small,
    /// A large model.
    Large,
}

/// How the agent reaches its tool server.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A child process over stdin/stdout.
    Stdio,
    /// Streamable HTTP.
    Http,
}

/// The tools the pretend server offers: the values of `tool` are these,
/// never a name read at run time.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// Searches the web.
    WebSearch,
    /// Reads a page.
    ReadPage,
    /// Computes.
    Calculator,
}

impl Tool {
    /// Every tool, in the server's order.
    pub const ALL: [Tool; 3] = [Tool::WebSearch, Tool::ReadPage, Tool::Calculator];

    /// The tool's name, as the server publishes it (and as it is sent).
    pub fn name(self) -> &'static str {
        match self {
            Tool::WebSearch => "web_search",
            Tool::ReadPage => "read_page",
            Tool::Calculator => "calculator",
        }
    }
}

/// What kind of error stopped a run.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The model could not plan the next step.
    Plan,
}

/// How a run ended.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The task was completed.
    Completed,
    /// The step limit was reached first.
    StepLimit,
    /// An error stopped the run.
    Failed,
}

/// A run started: which model and transport, and how many steps it may take.
#[derive(TelemetryEvent)]
pub struct RunStarted {
    pub model: Model,
    pub transport: Transport,
    pub max_steps: u32,
    /// The tool server's address: counted per installation, never revealed.
    #[telemetry(redact = "hash")]
    pub server_url: String,
    /// The task as the user typed it: sent only with full consent.
    #[telemetry(opt_in)]
    pub query: String,
    /// How long the task description is, in characters.
    pub query_len: usize,
}

/// One step of the agent loop finished.
#[derive(TelemetryEvent)]
pub struct StepCompleted {
    /// The step's number, from 1.
    pub step: u32,
    pub duration_ms: Duration,
    /// How many tools the model called in this step.
    pub tool_calls: u32,
}

/// The agent called a tool.
#[derive(TelemetryEvent)]
pub struct ToolCalled {
    /// The tool, from the server's fixed tool list.
    pub tool: Tool,
    pub duration_ms: Duration,
    pub ok: bool,
    /// The arguments the model passed: only their length is sent.
    #[telemetry(redact = "length")]
    pub arguments: String,
}

/// A run failed.
#[derive(TelemetryEvent)]
pub struct RunFailed {
    /// The kind of error, from a fixed set.
    pub error_kind: ErrorKind,
    /// The error's message: it may quote user data, so it is never sent.
    #[telemetry(redact)]
    pub message: String,
    /// The step at which the run failed.
    pub step: u32,
}

/// A run ended.
#[derive(TelemetryEvent)]
pub struct RunFinished {
    pub outcome: Outcome,
    pub steps: u32,
    pub duration_ms: Duration,
}
