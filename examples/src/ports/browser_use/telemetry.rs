//! browser-use's telemetry events (`telemetry/views.py`), as typed events.
//! Shared by the `browser_use` example and its wire test.

use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

/// An agent run started (browser-use `AgentRunTelemetryEvent`, `agent_run`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentRun {
    /// Random per agent instance: links a run's start, steps and end.
    #[telemetry(
        public,
        reason = "a random UUID per agent instance, never derived from the user or the machine"
    )]
    pub(crate) agent_id: String,
    /// Whether the model is given screenshots.
    pub(crate) use_vision: bool,
    /// The task, in the user's own words. browser-use sends it (the
    /// tutorial says "anonymized/hashed in practice"); here it is sent only
    /// at full consent.
    #[telemetry(opt_in)]
    pub(crate) task: String,
    /// The language model's name, as its provider spells it.
    #[telemetry(
        public,
        reason = "the model identifier the program configured, as browser-use sends it; never text a user typed"
    )]
    pub(crate) model_name: String,
    /// The chat-model class that wraps it (`ChatOpenAI`, ...).
    #[telemetry(public, reason = "a class name of the model library, not a conversation")]
    pub(crate) chat_model_library: String,
    /// browser-use's version.
    #[telemetry(public, reason = "the package's own version, a constant of the program")]
    pub(crate) version: String,
    /// How browser-use was installed.
    pub(crate) source: Source,
}

/// How browser-use was installed.
#[derive(TelemetryProperty, Debug, Clone, Copy)]
pub(crate) enum Source {
    /// From PyPI.
    Pip,
    /// From a git checkout (never, in this port).
    #[allow(dead_code)]
    Git,
}

/// One step of an agent run (browser-use `AgentStepTelemetryEvent`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentStep {
    /// The run's agent, as in `agent_run`.
    #[telemetry(
        public,
        reason = "a random UUID per agent instance, never derived from the user or the machine"
    )]
    pub(crate) agent_id: String,
    /// The step's number, from 1.
    pub(crate) step: u32,
    /// The error messages of the step. Free text (they can quote a page or
    /// a URL): sent only at full consent; their number is always sent.
    #[telemetry(opt_in)]
    pub(crate) step_error: Vec<String>,
    /// How many errors the step had.
    pub(crate) step_error_count: u32,
    /// Failures in a row so far.
    pub(crate) consecutive_failures: u32,
    /// The names of the actions the step took, from the registry.
    #[telemetry(public, reason = "names of the controller's registered actions, fixed in code")]
    pub(crate) actions: Vec<String>,
}

/// An agent run ended (browser-use `AgentEndTelemetryEvent`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentEnd {
    /// The run's agent, as in `agent_run`.
    #[telemetry(
        public,
        reason = "a random UUID per agent instance, never derived from the user or the machine"
    )]
    pub(crate) agent_id: String,
    /// Steps taken.
    pub(crate) steps: u32,
    /// Whether the run stopped at its step limit.
    pub(crate) max_steps_reached: bool,
    /// Whether the agent declared the task done.
    pub(crate) is_done: bool,
    /// Whether it judged the task a success (absent when it did not say).
    pub(crate) success: Option<bool>,
    /// Input tokens over the run.
    pub(crate) total_input_tokens: u64,
    /// The run's length, in seconds.
    pub(crate) total_duration_seconds: f64,
}

/// The actions the controller's registry offers (browser-use
/// `ControllerRegisteredFunctionsTelemetryEvent`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct ControllerRegisteredFunctions {
    /// The registered actions, each with its parameters.
    pub(crate) registered_functions: Vec<RegisteredFunction>,
}

/// One action of the registry (browser-use `RegisteredFunction`).
#[derive(TelemetryProperty, Debug, Clone)]
pub(crate) struct RegisteredFunction {
    /// The action's name, from the registry's fixed set in code.
    #[telemetry(public, reason = "a registered action's name, fixed in code")]
    pub(crate) name: &'static str,
    /// Its parameters, in order: what the action takes, never a value
    /// passed to it.
    pub(crate) params: Vec<Param>,
}

/// One parameter of a registered action, as its parameter model declares it.
#[derive(TelemetryProperty, Debug, Clone)]
pub(crate) struct Param {
    /// The parameter's name in the action's signature (`url`, `index`),
    /// fixed in code.
    #[telemetry(public, reason = "a parameter name of a registered action, fixed in code")]
    pub(crate) name: &'static str,
    /// Its JSON-schema type.
    #[telemetry(rename = "type")]
    pub(crate) ty: ParamType,
    /// Whether the action needs it.
    pub(crate) required: bool,
}

/// The JSON-schema type of a parameter.
#[derive(TelemetryProperty, Debug, Clone, Copy)]
pub(crate) enum ParamType {
    /// Text.
    String,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
}
