//! A port of ToolHive's usage analytics, as its document "Usage Analytics"
//! (docs/usage-analytics.md in stacklok/toolhive) describes them, written
//! with this library. `src/bin/thv.rs` is a pretend `thv` that proxies MCP
//! tool calls; `tests/programs/port_toolhive.rs` checks the wire.
//!
//! What is reproduced:
//!
//! - one metric only, `toolhive_usage_tool_calls_total`, a count of tool
//!   calls whose only attribute is `status` (`success` or `error`), sent
//!   over OTLP/HTTP to Stacklok's analytics endpoint
//!   (`https://analytics.toolhive.stacklok.dev`), with no server name, tool
//!   name, argument, user id or host detail;
//! - the dual-endpoint design: two separate pipelines, as ToolHive keeps a
//!   dedicated `AnalyticsMeterProvider`, in one client. The analytics sink
//!   gets only that count ([`analytics`]), routed with [`Route::only`] and
//!   capped at `Usage`; the user's own collector, when they configure one
//!   (`--otel-endpoint`, or `OTEL_EXPORTER_OTLP_ENDPOINT` through
//!   [`OtlpSink::from_env`]), gets every detail ([`user`]) on a route
//!   [`owned_by_user`](Route::owned_by_user): governed by the user's
//!   OpenTelemetry settings alone, so turning analytics off, or
//!   `DO_NOT_TRACK`, leaves it unchanged, and `OTEL_SDK_DISABLED=true`
//!   turns it off;
//! - on by default, and `usage-analytics-enabled: false` under `otel:` in
//!   `~/.toolhive/config.yaml` turns it off; `thv config otel get|set
//!   usage-analytics-enabled` reads and writes that setting;
//! - per-instance opt-out, like the operator's `usageAnalyticsEnabled: false`
//!   on one MCPServer: each proxy (`thv run SERVER`) has its own client, and
//!   `--usage-analytics=false` turns analytics off for that server only;
//! - seeing what is sent: `--debug` prints each analytics record as JSON on
//!   stderr while it is sent;
//! - traces for the user's own collector: each MCP request the proxy
//!   handles is a span, with the forwarding to the server as its child
//!   (`#[requires_telemetry(instrument)]` on [`handle_request`] and
//!   [`forward`]), sent to the collector's `/v1/traces` beside the log
//!   records; Stacklok's route does not ask for spans and gets none.
//!
//! Where this port differs, and why:
//!
//! - **The count goes to `/v1/metrics`.** The document names
//!   `.../v1/traces`, the OTLP path for spans; a count is a metric, and the
//!   library's OTLP sink sends counters as delta sums to `/v1/metrics`.
//! - **The first run sends Stacklok nothing**: analytics on by default show
//!   a one-time notice first (ToolHive has none), in ToolHive's terms: what
//!   is counted, and `thv config otel set usage-analytics-enabled false`.
//!   The user's own collector is not held back by it.
//! - **`DO_NOT_TRACK=1`, `TOOLHIVE_TELEMETRY=off` and CI environments turn
//!   analytics off** as well (the library's consent sources); like the
//!   config file, they leave the user's own collector alone.
//! - **`thv telemetry catalog` lists the collector's event too**: one
//!   client sends both, and its catalog lists everything it can send.
//! - **An anonymous id is kept** in `~/.cache/toolhive` (the library keeps
//!   one for every client), but the OTLP metrics body never carries it.
//! - **The spans carry less than ToolHive's**: ToolHive's MCP spans name
//!   the server, method and tool; here the instrumented functions record
//!   only what is public by type (the tool's index in the server's list,
//!   whether it succeeded, the call's duration and outcome), and the names
//!   travel in the `mcp_tool_call` log record, opt-in, as before.
//! - **The analytics endpoint can be moved** with `TOOLHIVE_ANALYTICS_ENDPOINT`
//!   so that the test can point it at a local server; ToolHive does not let
//!   users change it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use telemetry_runtime::sink::{OtlpSink, StderrSink};
use telemetry_runtime::{requires_telemetry, Catalog, Config, ConfigError, Level, Route, Telemetry};

/// The pretend ToolHive version.
pub const VERSION: &str = "0.2.0";

/// Stacklok's analytics collector.
pub const ANALYTICS_ENDPOINT: &str = "https://analytics.toolhive.stacklok.dev";

/// What Stacklok's collector receives.
pub mod analytics {
    telemetry_runtime::counter! {
        /// MCP tool calls proxied by ToolHive, by outcome only: no server,
        /// tool, argument or user is recorded.
        pub static TOOL_CALLS = "toolhive_usage_tool_calls_total", labels: [
            /// How the call ended.
            status: Status = ["success", "error"],
        ];
    }
}

/// What the user's own collector receives: everything, for their own
/// observability.
pub mod user {
    use std::time::Duration;

    use telemetry_runtime::TelemetryEvent;

    /// The name of [`ToolCall`], for the collector's route.
    pub const TOOL_CALL: &str = "mcp_tool_call";

    /// The spans of [`handle_request`](super::handle_request) and
    /// [`forward`](super::forward), for the collector's route.
    pub const SPANS: [&str; 2] = ["mcp_request", "mcp_forward"];

    /// A tool call through the proxy, for the user's own collector.
    #[derive(TelemetryEvent)]
    #[telemetry(name = "mcp_tool_call")]
    pub struct ToolCall {
        /// The MCP server's name as the user configured it.
        #[telemetry(opt_in)]
        pub server: String,
        /// The tool called.
        #[telemetry(opt_in)]
        pub tool: String,
        /// How the call ended.
        pub status: super::analytics::Status,
        /// How long the call took.
        pub duration_ms: Duration,
    }
}

/// The `otel` settings of `~/.toolhive/config.yaml` this port reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `usage-analytics-enabled` (default `true`).
    pub usage_analytics_enabled: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { usage_analytics_enabled: true }
    }
}

/// `~/.toolhive/config.yaml`.
pub fn config_file(home: &Path) -> PathBuf {
    home.join(".toolhive").join("config.yaml")
}

/// Reads the settings; a missing file or key keeps the default. Only the
/// flat `otel:` section is understood, which is all this setting needs.
pub fn read_settings(path: &Path) -> Settings {
    let mut settings = Settings::default();
    let Ok(text) = std::fs::read_to_string(path) else { return settings };
    let mut in_otel = false;
    for line in text.lines() {
        let content = line.split('#').next().unwrap_or_default();
        if content.trim().is_empty() {
            continue;
        }
        if !content.starts_with([' ', '\t']) {
            in_otel = content.trim() == "otel:";
            continue;
        }
        if let (true, Some((key, value))) = (in_otel, content.split_once(':')) {
            if key.trim() == "usage-analytics-enabled" {
                settings.usage_analytics_enabled = !value.trim().eq_ignore_ascii_case("false");
            }
        }
    }
    settings
}

/// Writes the settings (the whole file: this port keeps nothing else in it).
pub fn write_settings(path: &Path, settings: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(format!("{} is a symbolic link", path.display())));
    }
    std::fs::write(path, format!("otel:\n  usage-analytics-enabled: {}\n", settings.usage_analytics_enabled))
}

/// The first-run notice, in ToolHive's terms: what is counted, and its own
/// switch for turning it off.
pub const NOTICE: &str = "\nToolHive collects anonymous usage analytics: a count of MCP tool calls by \
success or error, and nothing else (no server or tool names, arguments or user ids).\n\
Nothing was sent this time. `thv telemetry catalog` shows exactly what is collected.\n\
To turn it off: thv config otel set usage-analytics-enabled false (DO_NOT_TRACK=1 works too).\n\n";

/// How one proxy's telemetry is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file's `usage-analytics-enabled`.
    pub settings: Settings,
    /// This server's own switch (the operator's per-MCPServer
    /// `usageAnalyticsEnabled`); `false` turns analytics off for it alone.
    pub instance_analytics: bool,
    /// The user's own OTLP collector given on the command line
    /// (`--otel-endpoint`); without it, the standard OpenTelemetry
    /// variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, ...) are read.
    pub otel_endpoint: Option<String>,
    /// Print each analytics record on stderr as it is sent.
    pub debug: bool,
}

/// The client's configuration: the analytics sink, governed by consent,
/// and the user's own collector when they configured one, governed by
/// their OpenTelemetry settings. `lookup` reads the environment.
pub fn config(
    options: &Options,
    lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
) -> Result<Config, ConfigError> {
    let endpoint = lookup("TOOLHIVE_ANALYTICS_ENDPOINT").unwrap_or_else(|| ANALYTICS_ENDPOINT.to_owned());
    let only_the_count = || Route::only([analytics::TOOL_CALLS.schema().name]).max_level(Level::Usage);
    // The user's collector: the endpoint they passed, or else the standard
    // OpenTelemetry variables (which `OTEL_SDK_DISABLED=true` turns off).
    let collector = match &options.otel_endpoint {
        Some(url) => Some(OtlpSink::new(url)?),
        None => OtlpSink::from_env(&lookup)?,
    };
    let mut config = Config::new("toolhive", VERSION)
        .default_level(Level::Usage)
        .notice(|n| telemetry_runtime::Notice { text: Some(NOTICE.into()), ..n })
        .catalog(Catalog::collect_under([module_path!()]))
        .route(OtlpSink::new(&endpoint)?, only_the_count())
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_secs(1), ..d });
    if let Some(collector) = collector {
        // Every detail, at `Full`, whatever analytics are set to; not the
        // analytics count, which is Stacklok's.
        // A user-owned route asks for spans by default: the proxy's
        // instrumented calls go to the collector's `/v1/traces`.
        let names = [user::TOOL_CALL, user::SPANS[0], user::SPANS[1]];
        config = config.route(collector, Route::only(names).owned_by_user());
    }
    if options.debug {
        config = config.route(StderrSink, only_the_count());
    }
    if !options.settings.usage_analytics_enabled || !options.instance_analytics {
        config = config.consent(Level::Off);
    }
    Ok(config.environment(lookup))
}

/// An MCP server's error.
#[derive(Debug)]
pub struct ToolError;

/// Handles one MCP `tools/call` request: a span for the user's collector,
/// the parent of [`forward`]'s.
#[requires_telemetry(instrument, name = "mcp_request", args(tool_index))]
pub fn handle_request(tool_index: u32, ok: bool) -> Result<(), ToolError> {
    forward(tool_index, ok)
}

/// Forwards a request to the MCP server and waits for its answer.
#[requires_telemetry(instrument, name = "mcp_forward", args(tool_index))]
pub fn forward(tool_index: u32, ok: bool) -> Result<(), ToolError> {
    let _ = tool_index;
    std::thread::sleep(Duration::from_millis(1));
    if ok {
        Ok(())
    } else {
        Err(ToolError)
    }
}

/// One MCP server's proxy, with the process's telemetry client (the global
/// one, which instrumented functions report to).
pub struct Proxy {
    server: String,
    guard: telemetry_runtime::Guard,
    /// Whether the user's own collector is on: the details are captured
    /// only for it.
    collector: bool,
}

impl Proxy {
    /// A proxy for `server`.
    pub fn new(server: &str, options: &Options) -> Result<Proxy, telemetry_runtime::ConfigError> {
        let config = config(options, |name| std::env::var(name).ok())?;
        let guard = telemetry_runtime::init(config)?;
        let collector = guard.consent().user_owned > Level::Off;
        Ok(Proxy { server: server.to_owned(), guard, collector })
    }

    /// The client, for `thv telemetry ...`.
    pub fn telemetry(&self) -> &Telemetry {
        &self.guard
    }

    /// Proxies one tool call (`tool`, the `tool_index`th of the server's)
    /// and records it: the count for the analytics, the details and the
    /// spans for the user's own collector.
    pub fn call_tool(&self, tool: &str, tool_index: u32, ok: bool) {
        let started = std::time::Instant::now();
        let ok = handle_request(tool_index, ok).is_ok();
        let status = if ok { analytics::Status::Success } else { analytics::Status::Error };
        self.telemetry().add(&analytics::TOOL_CALLS, status, 1);
        if self.collector {
            self.telemetry().capture(&user::ToolCall {
                server: self.server.clone(),
                tool: tool.to_owned(),
                status,
                duration_ms: started.elapsed(),
            });
        }
    }

    /// Delivers what is queued, within `timeout`; returns whether it
    /// finished in time.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.telemetry().shutdown(timeout)
    }
}
