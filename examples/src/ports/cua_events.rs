//! CUA's documented telemetry events: the Computer SDK and Agent SDK tables
//! of its page "Telemetry" (`docs/content/docs/telemetry.mdx`), as typed
//! events. Shared by the `cua` port (`cua/telemetry.rs` re-exports them)
//! and the `cua-sdk` port, and compiled into their wire tests.

use telemetry_runtime::{TelemetryEvent, TelemetryProperty};

/// Which CUA package an event is about.
#[derive(TelemetryProperty, Debug, Clone, Copy)]
pub(crate) enum Module {
    /// The Computer SDK.
    Computer,
    /// The Agent SDK.
    Agent,
}

/// A package was loaded, once per process (CUA `module_init`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct ModuleInit {
    /// Which package.
    pub(crate) module: Module,
    /// Its version.
    #[telemetry(public, reason = "the package's own version, a constant of the program")]
    pub(crate) version: String,
}

/// A Computer instance was created (CUA `computer_initialized`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct ComputerInitialized {
    /// The operating system (`linux`, `macos`, `windows`).
    #[telemetry(public, reason = "the build target's operating system family, a constant of the program")]
    pub(crate) os: String,
}

/// A ComputerAgent was created (CUA `agent_session_start`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentSessionStart {
    /// The agent instance's session.
    #[telemetry(public, reason = "a random UUID per agent instance (the client's own session id)")]
    pub(crate) session_id: String,
    /// The agent's class name.
    #[telemetry(public, reason = "a class name of the SDK, a constant of the program")]
    pub(crate) agent_type: String,
    /// The model's name.
    #[telemetry(
        public,
        reason = "the model identifier the program configured, as CUA sends it; never text a user typed"
    )]
    pub(crate) model: String,
    /// The operating system.
    #[telemetry(public, reason = "the build target's operating system family, a constant of the program")]
    pub(crate) os: String,
}

/// `agent.run()` started (CUA `agent_run_start`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentRunStart {
    /// The agent instance's session.
    #[telemetry(public, reason = "a random UUID per agent instance (the client's own session id)")]
    pub(crate) session_id: String,
    /// This run.
    #[telemetry(public, reason = "a random UUID per run")]
    pub(crate) run_id: String,
    /// Unix time, in seconds.
    pub(crate) start_time: f64,
    /// Characters in the input messages (a measure, not the text).
    pub(crate) input_context_size: u64,
    /// Messages already in the conversation.
    pub(crate) num_existing_messages: u32,
    /// The whole conversation so far: sent only at full consent (trajectory
    /// logging).
    #[telemetry(opt_in)]
    pub(crate) uploaded_trajectory: Vec<String>,
}

/// `agent.run()` ended (CUA `agent_run_end`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentRunEnd {
    /// The agent instance's session.
    #[telemetry(public, reason = "a random UUID per agent instance (the client's own session id)")]
    pub(crate) session_id: String,
    /// This run.
    #[telemetry(public, reason = "a random UUID per run")]
    pub(crate) run_id: String,
    /// Unix time, in seconds.
    pub(crate) end_time: f64,
    /// The run's length.
    pub(crate) duration_seconds: f64,
    /// Steps taken in the run.
    pub(crate) num_steps: u32,
    /// Tokens and cost accumulated over the run.
    pub(crate) total_usage: Usage,
    /// The whole conversation: sent only at full consent.
    #[telemetry(opt_in)]
    pub(crate) uploaded_trajectory: Vec<String>,
}

/// Token usage and cost accumulated over a run (CUA's `total_usage`).
#[derive(TelemetryProperty, Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Tokens in the prompts.
    pub(crate) prompt_tokens: u64,
    /// Tokens in the responses.
    pub(crate) completion_tokens: u64,
    /// Both.
    pub(crate) total_tokens: u64,
    /// The cost, in US dollars.
    #[telemetry(public, reason = "a price in dollars, not the responses' content")]
    pub(crate) response_cost: f64,
}

/// One step of a run (CUA `agent_step`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentStep {
    /// The agent instance's session.
    #[telemetry(public, reason = "a random UUID per agent instance (the client's own session id)")]
    pub(crate) session_id: String,
    /// The run.
    #[telemetry(public, reason = "a random UUID per run")]
    pub(crate) run_id: String,
    /// The step's number in the run, from 1.
    pub(crate) step: u32,
    /// Unix time of the step, in seconds (the event's timestamp too).
    pub(crate) timestamp: f64,
    /// How long the previous step took.
    pub(crate) duration_seconds: f64,
}

/// The model reported its usage (CUA `agent_usage`).
#[derive(TelemetryEvent, Debug, Clone)]
pub(crate) struct AgentUsage {
    /// The agent instance's session.
    #[telemetry(public, reason = "a random UUID per agent instance (the client's own session id)")]
    pub(crate) session_id: String,
    /// The run.
    #[telemetry(public, reason = "a random UUID per run")]
    pub(crate) run_id: String,
    /// The step it belongs to.
    pub(crate) step: u32,
    /// Tokens in the prompt.
    pub(crate) prompt_tokens: u64,
    /// Tokens in the response.
    pub(crate) completion_tokens: u64,
    /// Both.
    pub(crate) total_tokens: u64,
    /// The call's cost, in US dollars.
    #[telemetry(public, reason = "a price in dollars, not the response's content")]
    pub(crate) response_cost: f64,
}
