//! A port of mcp-use's telemetry, as its document "Telemetry: Understanding
//! MCP-use's telemetry system" (docs.mcp-use.com) describes it, written with
//! this library. `src/bin/mcp_use.rs` is a pretend `MCPAgent` that uses it;
//! `tests/programs/port_mcp_use.rs` checks the wire.
//!
//! What is reproduced:
//!
//! - the event `mcp_agent_execution`, captured once per `run` or `stream`,
//!   with the document's properties (`mcp_use_version`, `execution_method`,
//!   `model_provider`, `model_name`, `server_count`, `server_identifiers`,
//!   `tools_used_names`, `execution_time_ms`, `success`) and those its prose
//!   lists (steps taken, memory enabled, max steps, error type);
//! - opt-out, and `MCP_USE_ANONYMIZED_TELEMETRY=false` turns it off (the
//!   library's rule for the variable: `false|0|no|off`, any case);
//! - the anonymous id in `~/.cache/mcp_use/telemetry_user_id` (the platform
//!   cache directory, as the document lists for Linux, macOS and Windows),
//!   reset by deleting the file;
//! - dual telemetry: the execution event to PostHog's EU host, and a
//!   `package_download` event to Scarf (`https://mcpuse.gateway.scarf.sh/simple/`)
//!   when a version is first used (`install`, or `upgrade` from an earlier
//!   one, from [`Telemetry::version_change`](telemetry_runtime::Telemetry::version_change)),
//!   as mcp-use's download analytics do;
//! - the tracking function is gated with `#[requires_telemetry]`, as the
//!   document's decorator example shows;
//! - "Telemetry disabled" (debug) and "Anonymized telemetry enabled. Set
//!   MCP_USE_ANONYMIZED_TELEMETRY=off to disable." (info) are logged through
//!   `log`; mcp-use's line says `=false`, which works the same here.
//!
//! Where this port differs, and why:
//!
//! - **The query and the response are opt-in.** mcp-use sends both by
//!   default; here they are `#[telemetry(opt_in)]`, sent only when the user
//!   chooses `MCP_USE_ANONYMIZED_TELEMETRY=full`. A user's prompt is their
//!   content, not usage data, and the library never sends free text the user
//!   did not agree to.
//! - **`server_identifiers` without commands or addresses.** The
//!   document's sample sends one object per server with its `type` and a
//!   `command` (`python -m server`) or a `base_url` (`localhost:8080`),
//!   although its own list of what is not collected says "Server URLs or
//!   file paths (only connection types)". The port follows the prose: each
//!   object has the server's `type` and its `tool_count`, and never its
//!   command or URL (a command line can hold paths, arguments and tokens,
//!   a URL a host and credentials; the document counts servers by type,
//!   not distinct ones, so not even a keyed hash of them is sent).
//! - **Scarf gets one request per event, its properties in the query**, as
//!   mcp-use's Scarf client does: [`ScarfSink`] is a sink of this crate's
//!   own, a `GET` "pixel" request per event
//!   (`/simple/?event=package_download&version=1.3.0&download_type=install&anonymous_id=…`)
//!   built from the event's typed view and sent with `ureq` (the HTTP
//!   client the library itself uses), checking before each request that
//!   consent still allows sending, and reporting each event it could not
//!   deliver to the library, which keeps the counts. Only the event's own
//!   properties go; the standard ones (`$os`, `$session_id`, ...) stay with
//!   PostHog.
//! - **No `user_id` property on the Scarf event**: the anonymous install id
//!   is sent as `anonymous_id`, the same one PostHog gets as `distinct_id`.
//! - **The first run sends nothing**: telemetry on by default shows the
//!   library's one-time notice first (mcp-use has none).
//! - **`DO_NOT_TRACK=1` and CI environments turn it off** as well, and the
//!   user can also save a choice (the library's consent sources).
//! - **Seeing what is sent**: mcp-use logs events at `DEBUG`; here
//!   `MCP_USE_DEBUG=2` (mcp-use's variable for debug logging) adds a sink
//!   that prints each event's exact JSON on stderr while it is still sent.
//! - **The PostHog key is a placeholder**, and both endpoints can be moved
//!   with `MCP_USE_POSTHOG_HOST` and `MCP_USE_SCARF_URL` so that the test can
//!   point them at a local server; mcp-use hard-codes them.

use std::time::{Duration, Instant};

use telemetry_runtime::sink::{
    Batch, EventView, PostHogSink, SendContext, Sink, SinkError, StderrSink, ValueRef,
};
use telemetry_runtime::{
    requires_telemetry, Catalog, Config, ConfigError, DropReason, Level, Route, TelemetryEvent,
    TelemetryProperty, VersionChange,
};

/// The version of the pretend mcp-use package.
pub const MCP_USE_VERSION: &str = "1.3.0";

/// The app name: it names the cache directory, `~/.cache/mcp_use`.
pub const APP: &str = "mcp_use";

/// The variable that turns telemetry off (`false`) or to full (`full`).
pub const ENV_VAR: &str = "MCP_USE_ANONYMIZED_TELEMETRY";

/// mcp-use's PostHog host.
pub const POSTHOG_HOST: &str = "https://eu.i.posthog.com";

/// mcp-use's Scarf gateway.
pub const SCARF_URL: &str = "https://mcpuse.gateway.scarf.sh/simple/";

/// How the agent was invoked.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutionMethod {
    /// `MCPAgent.run()`.
    Run,
    /// `MCPAgent.stream()`.
    Stream,
}

/// How the agent reaches an MCP server.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerType {
    /// A child process over stdin/stdout.
    Stdio,
    /// HTTP (streamable HTTP or SSE).
    Http,
    /// A WebSocket.
    Websocket,
}

/// Why a run failed.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// A tool call failed.
    ToolError,
    /// The step limit was reached.
    MaxStepsReached,
}

/// Whether this is the first version of mcp-use seen on this machine.
#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownloadType {
    /// No earlier version was recorded.
    Install,
    /// An earlier version was recorded.
    Upgrade,
}

/// An agent run (`MCPAgent.run()` or `MCPAgent.stream()`) finished.
#[derive(TelemetryEvent)]
#[telemetry(name = "mcp_agent_execution")]
pub struct AgentExecution {
    /// The mcp-use version.
    #[telemetry(public, reason = "the library's own version, a constant of the program")]
    pub mcp_use_version: &'static str,
    pub execution_method: ExecutionMethod,
    /// The user's query: sent only with full consent.
    #[telemetry(opt_in)]
    pub query: String,
    /// The agent's answer: sent only with full consent.
    #[telemetry(opt_in)]
    pub response: String,
    /// The model provider, such as `openai`.
    #[telemetry(
        public,
        reason = "the name of the LLM provider class the program uses, as mcp-use sends it; never text a user typed"
    )]
    pub model_provider: String,
    /// The model, such as `gpt-4`.
    #[telemetry(
        public,
        reason = "the model identifier the program configured, as mcp-use sends it; never text a user typed"
    )]
    pub model_name: String,
    /// How many MCP servers the agent was connected to.
    pub server_count: u32,
    /// Each server the agent was connected to: its connection type and
    /// how many tools it offers (never its command or URL).
    pub server_identifiers: Vec<ServerIdentifier>,
    /// The MCP tools the agent called, by the names their servers publish.
    #[telemetry(
        public,
        reason = "the names MCP servers publish for their tools, as mcp-use sends them; never arguments or results"
    )]
    pub tools_used_names: Vec<String>,
    /// How long the run took.
    pub execution_time_ms: Duration,
    /// How many steps the agent took.
    pub steps_taken: u32,
    /// The configured step limit.
    pub max_steps_configured: u32,
    /// Whether conversation memory was on.
    pub memory_enabled: bool,
    pub success: bool,
    /// Why the run failed, when it did.
    pub error_type: Option<ErrorType>,
}

/// One MCP server of a run, as `server_identifiers` lists it.
#[derive(TelemetryProperty, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerIdentifier {
    /// How the agent reaches the server.
    #[telemetry(rename = "type")]
    pub kind: ServerType,
    /// How many tools the server offers.
    pub tool_count: u32,
}

/// A version of mcp-use was used for the first time on this machine
/// (package analytics, sent to Scarf).
#[derive(TelemetryEvent)]
pub struct PackageDownload {
    /// The version now in use.
    #[telemetry(public, reason = "the library's own version, a constant of the program")]
    pub version: &'static str,
    pub download_type: DownloadType,
}

/// One MCP server in the agent's configuration.
#[derive(Debug, Clone)]
pub struct Server {
    pub kind: ServerType,
    /// The command or URL: used to connect, never sent.
    pub target: String,
}

impl Server {
    /// The tools the server offers, as its `tools/list` answers: a fixed
    /// list per kind, for the pretend agent.
    pub fn tools(&self) -> &'static [&'static str] {
        match self.kind {
            ServerType::Stdio => &["read_file", "write_file"],
            ServerType::Http => &["analyze_data"],
            ServerType::Websocket => &["subscribe", "publish", "unsubscribe"],
        }
    }
}

/// What the agent is asked to do.
#[derive(Debug, Clone)]
pub struct AgentRun {
    pub query: String,
    pub method: ExecutionMethod,
    pub provider: String,
    pub model: String,
    pub servers: Vec<Server>,
    pub max_steps: u32,
    pub memory: bool,
}

/// Scarf's gateway: one `GET` per event, the event's name, its properties
/// and the anonymous id in the query.
#[derive(Debug)]
pub struct ScarfSink {
    url: String,
    agent: ureq::Agent,
}

impl ScarfSink {
    /// A sink for the gateway at `url` (such as [`SCARF_URL`]).
    pub fn new(url: impl Into<String>) -> ScarfSink {
        // Download analytics are worth a short wait, not a long one.
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        ScarfSink { url: url.into(), agent }
    }

    /// The pixel URL of one event.
    fn pixel(&self, event: &EventView<'_>) -> String {
        let mut query = vec![("event", event.name().to_owned())];
        for (name, value) in event.properties() {
            // Flat values only: a pixel's query has no lists or objects.
            let value = match value {
                ValueRef::Text(text) => text.to_string(),
                ValueRef::Bool(b) => b.to_string(),
                ValueRef::Int(i) => i.to_string(),
                ValueRef::UInt(u) => u.to_string(),
                ValueRef::Float(f) => f.to_string(),
                _ => continue,
            };
            query.push((name, value));
        }
        query.push(("anonymous_id", event.distinct_id().to_owned()));
        let separator = if self.url.contains('?') { '&' } else { '?' };
        let pairs: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{}={}", percent_encode(name), percent_encode(value)))
            .collect();
        format!("{}{separator}{}", self.url, pairs.join("&"))
    }
}

impl Sink for ScarfSink {
    fn name(&self) -> &str {
        "scarf"
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        for event in batch.events() {
            // Consent lowered or shutdown's deadline passed: the rest is
            // given up, and counted by the library.
            if !cx.may_send() {
                cx.drop_event(&event, DropReason::Shutdown);
                continue;
            }
            let delivered = self.agent.get(&self.pixel(&event)).call().is_ok_and(|r| r.status().is_success());
            if !delivered {
                cx.drop_event(&event, DropReason::Undeliverable);
            }
        }
        Ok(())
    }
}

/// `text` with every byte but the URL's unreserved characters
/// percent-encoded (RFC 3986).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The configuration mcp-use's telemetry runs with. `lookup` reads the
/// environment (the process's own in the binary).
pub fn config(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let posthog_host = lookup("MCP_USE_POSTHOG_HOST").unwrap_or_else(|| POSTHOG_HOST.to_owned());
    let scarf_url = lookup("MCP_USE_SCARF_URL").unwrap_or_else(|| SCARF_URL.to_owned());
    let mut config = Config::new(APP, MCP_USE_VERSION)
        .env(|e| telemetry_runtime::EnvVars { main: ENV_VAR.into(), ..e })
        .default_level(Level::Usage)
        // The binary links the other examples' events too: they are not mcp-use's.
        .catalog(Catalog::collect_under([module_path!()]))
        .route(
            PostHogSink::new("phc_mcp_use_example_key")?.host(&posthog_host)?,
            Route::only(["mcp_agent_execution"]),
        )
        // Scarf counts downloads: it gets only that event, and never an opt-in field.
        .route(ScarfSink::new(scarf_url), Route::only(["package_download"]).max_level(Level::Usage))
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: Duration::from_secs(2), ..d });
    if lookup("MCP_USE_DEBUG").is_some_and(|v| v.trim() == "2") {
        // Debug logging shows each event as it is sent.
        config = config.sink(StderrSink);
    }
    Ok(config)
}

/// Runs the pretend agent and reports it. Returns the answer.
pub fn run(run: &AgentRun) -> Result<String, ErrorType> {
    let started = Instant::now();
    track_package_download();
    let mut tools_used = Vec::new();
    let mut steps = 0;
    let result = loop {
        if steps == run.max_steps {
            break Err(ErrorType::MaxStepsReached);
        }
        steps += 1;
        let tool = if steps == 1 { "read_file" } else { "analyze_data" };
        if run.query.contains("broken") {
            break Err(ErrorType::ToolError);
        }
        tools_used.push(tool.to_owned());
        if steps == 2 {
            break Ok(format!("I'll help you with: {}", run.query));
        }
    };
    track_agent_execution(run, &result, tools_used, steps, started.elapsed());
    result
}

/// Only runs when telemetry is on, like mcp-use's decorated method.
#[requires_telemetry]
fn track_agent_execution(
    run: &AgentRun,
    result: &Result<String, ErrorType>,
    tools_used_names: Vec<String>,
    steps_taken: u32,
    elapsed: Duration,
) {
    telemetry_runtime::capture(&AgentExecution {
        mcp_use_version: MCP_USE_VERSION,
        execution_method: run.method,
        query: run.query.clone(),
        response: result.clone().unwrap_or_default(),
        model_provider: run.provider.clone(),
        model_name: run.model.clone(),
        server_count: run.servers.len() as u32,
        server_identifiers: run
            .servers
            .iter()
            .map(|s| ServerIdentifier { kind: s.kind, tool_count: s.tools().len() as u32 })
            .collect(),
        tools_used_names,
        execution_time_ms: elapsed,
        steps_taken,
        max_steps_configured: run.max_steps,
        memory_enabled: run.memory,
        success: result.is_ok(),
        error_type: result.as_ref().err().copied(),
    });
}

/// Sends `package_download` when this version runs for the first time on
/// this machine, as an installation or an upgrade. Only runs when
/// telemetry is on, so nothing is read or written when it is off.
#[requires_telemetry]
fn track_package_download() {
    let download_type = match telemetry_runtime::global().and_then(|t| t.version_change()) {
        Some(VersionChange::FirstRun) => DownloadType::Install,
        Some(VersionChange::Changed { .. }) => DownloadType::Upgrade,
        _ => return,
    };
    telemetry_runtime::capture(&PackageDownload { version: MCP_USE_VERSION, download_type });
}
