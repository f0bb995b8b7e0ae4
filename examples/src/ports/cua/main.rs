//! `cua`: CUA's telemetry, ported.
//!
//! Ports two documents of CUA (trycua/cua): the tutorial chapter "Telemetry
//! Client (UniversalTelemetryClient)" (`libs/core/core/telemetry/`) and
//! the page "Telemetry" (`docs/content/docs/telemetry.mdx`, 2025-07-30):
//! the events of its Computer SDK and Agent SDK tables (`module_init`,
//! `computer_initialized`, `agent_session_start`, `agent_run_start`,
//! `agent_run_end`, `agent_step`, `agent_usage`) and of the chapter
//! (`agent_loop_started`, `interface_error`, the `tool_usage_count`
//! counter), `CUA_TELEMETRY_ENABLED` with `1/true/yes/on`, a sample rate,
//! per-instance enable and disable, opt-in trajectory logging, and session
//! and run ids.
//!
//! ```text
//! cua [--weekly] [--computer on|off] [--agent on|off|trajectory]... [--runs N] [--disable-telemetry]
//! cua [--weekly] telemetry report [--html FILE]
//! ```
//!
//! `--weekly` is this port's local-first form: nothing is sent per run.
//! The tool counter and the number of times each event was captured are
//! added up on the machine over the week, by every run and every instance
//! of it, and the first run after the week sends them as one report
//! ([`Route::per_period`](telemetry_runtime::Route::per_period)): no
//! session or run id, no trajectory, no time of any run leaves the
//! machine. `cua --weekly telemetry report` shows the week's counts so
//! far and the reports exactly as they will be and were sent.
//!
//! `--disable-telemetry` calls the port of CUA's `disable_telemetry()`
//! once the packages are loaded: telemetry is off for the rest of the
//! process, for every instance, and `is_telemetry_enabled()` says so.
//!
//! Each Computer and each agent has a client of its own, so that each can
//! be turned on or off (CUA's `telemetry_enabled=`); a process-wide client
//! sends `module_init`. Events go to PostHog at `CUA_POSTHOG_HOST` with the
//! key in `CUA_POSTHOG_KEY` when both are set (the tests' loopback server),
//! else to `cua-events.jsonl` in the temporary directory.
//!
//! Where this port differs from CUA, and why:
//!
//! - **Opt-in.** The chapter says telemetry is off until
//!   `CUA_TELEMETRY_ENABLED` is `1`, `true`, `yes` or `on`; the later page
//!   says it is on by default. This port follows the opt-in document;
//!   the later page alone, on by default, is ported by `cua-sdk`.
//!   `CUA_TELEMETRY_ENABLED=full` also allows trajectories; a value the
//!   library does not understand means off (CUA: anything but the four
//!   values means off too).
//! - **Trajectories need the user's own yes.** An agent created with
//!   `log_trajectory` raises its client to full consent only when the user
//!   turned telemetry on at all, as CUA checks the global switch first;
//!   the user can also opt in with `CUA_TELEMETRY_LOG_TRAJECTORY=1`, a
//!   variable CUA does not have.
//! - **The sample rate is a fraction.** `CUA_TELEMETRY_SAMPLE_RATE=0.25`
//!   keeps a quarter of the events (CUA reads a percentage, `25`); a value
//!   outside 0 to 1 is logged and ignored. Kept events carry
//!   `$sample_rate`, sampled-out ones are counted. Counters are not sampled.
//! - **No OS version, no Python version.** `os_version` is left out (this
//!   library does not read OS versions yet) and there is no Python; the
//!   library's own `$lib_version` and the app version travel with every event.
//! - **No `identify` call.** CUA identifies the installation with its
//!   version; here events are anonymous (`$process_person_profile: false`)
//!   and the version is a property of every event.
//! - **Batched delivery.** CUA flushes PostHog after every event; here a
//!   background thread sends batches, and dropping an agent's client
//!   delivers what it queued (within its shutdown deadline) and ends its
//!   thread.
//! - **Session id.** An agent's `session_id` is its client's session id
//!   (also sent as `$session_id`), a random UUID per instance as in CUA.
//! - **Where the id lives.** CUA keeps its installation id in a file in
//!   the library's own folder; here it is `~/.cache/cua/telemetry_user_id`
//!   (the platform cache directory, mode 0600), written only once the user
//!   has opted in.
//! - **Seeing what is sent**, which CUA leaves to its source code:
//!   `CUA_TELEMETRY_DEBUG=1` prints each event's JSON on stderr and sends
//!   nothing, and `~/.local/share/cua/telemetry_recent.jsonl` keeps the
//!   last events that left the machine.
//! - **Step time.** `agent_step` is stamped with the time the step
//!   happened (`capture_at`), which its `timestamp` property also carries.
//! - **A weekly form** (`--weekly`), which CUA does not have: see above.
//!   CUA sends every event as it happens, with session and run ids; the
//!   weekly form sends one report a week of counts alone.
//! - **Tool names are a declared set, in snake_case.** CUA's
//!   `tool_usage_count` takes any tool name as its label; here the label's
//!   values are declared with the counter (`computer_tool`, `bash_tool`),
//!   so no run-time text can become one, and they are names like every
//!   other property value of a closed set.

mod telemetry;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetry::*;
use telemetry_runtime::sink::{JsonlSink, PostHogSink};
use telemetry_runtime::{Config, ConfigError, Level, Polarity, Route, Telemetry};

/// The weekly form's period.
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// An instance's `telemetry_enabled` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    Off,
    On,
    /// `telemetry_enabled={"log_trajectory": True}`.
    Trajectory,
}

/// Set by [`disable_telemetry`]: every instance made after is off.
static DISABLED: AtomicBool = AtomicBool::new(false);

/// CUA's `disable_telemetry()`: off for the rest of this process. What the
/// process-wide client queued is dropped unsent, as consent was lowered.
fn disable_telemetry(module: &Telemetry) {
    DISABLED.store(true, Relaxed);
    module.set_consent(Level::Off);
}

/// CUA's `is_telemetry_enabled()`.
fn is_telemetry_enabled(module: &Telemetry) -> bool {
    !DISABLED.load(Relaxed) && module.is_enabled()
}

/// `--weekly`: one report a week instead of events as they happen.
static WEEKLY: AtomicBool = AtomicBool::new(false);

fn main() {
    let mut disable = false;
    let mut computer = Setting::On;
    let mut agents = Vec::new();
    let mut runs = 1;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|arg| arg == "--weekly") {
        WEEKLY.store(true, Relaxed);
        args.remove(0);
    }
    if args.first().is_some_and(|arg| arg == "telemetry") {
        let shown = config().and_then(Telemetry::new).map_err(|err| err.to_string()).and_then(|module| {
            telemetry_runtime::cli::run_command(&module, &args[1..], &mut std::io::stdout())
                .map_err(|err| err.to_string())
        });
        if let Err(err) = shown {
            eprintln!("cua: {err}");
            std::process::exit(2);
        }
        return;
    }
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--disable-telemetry" {
            disable = true;
            continue;
        }
        let value = iter.next().map(String::as_str).unwrap_or_default();
        let setting = match value {
            "off" => Setting::Off,
            "trajectory" => Setting::Trajectory,
            _ => Setting::On,
        };
        match arg.as_str() {
            "--computer" => computer = setting,
            "--agent" => agents.push(setting),
            "--runs" => runs = value.parse().unwrap_or(1),
            other => {
                eprintln!("cua: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if agents.is_empty() {
        agents.push(Setting::On);
    }
    if let Err(err) = run(computer, &agents, runs, disable) {
        eprintln!("cua: {err}");
        std::process::exit(2);
    }
}

fn run(computer: Setting, agents: &[Setting], runs: u32, disable: bool) -> Result<(), ConfigError> {
    // The packages' import: once per process.
    let module = Telemetry::new(config()?)?;
    println!("cua: telemetry {} ({})", module.level(), module.consent().source);
    for which in [Module::Computer, Module::Agent] {
        module.capture(&ModuleInit { module: which, version: env!("CARGO_PKG_VERSION").into() });
    }
    if disable {
        disable_telemetry(&module);
    }
    println!("cua: telemetry enabled now? {}", is_telemetry_enabled(&module));

    let computer = Instance::new(computer)?;
    computer.telemetry.capture(&ComputerInitialized { os: std::env::consts::OS.into() });
    computer.telemetry.capture(&InterfaceError { error_type: "WebSocketDisconnect".into() });

    for setting in agents {
        let agent = Instance::new(*setting)?;
        // What the instance reports, as `agent.telemetry_enabled`.
        println!(
            "cua: agent {} telemetry_enabled={} level={}",
            agent.telemetry.session_id(),
            agent.telemetry.is_enabled(),
            agent.telemetry.level()
        );
        agent.run_agent(runs);
        let stats = agent.telemetry.stats();
        println!("cua: agent {} sampled_out={}", agent.telemetry.session_id(), stats.sampled_out);
        // Dropping the agent delivers what it queued and ends its thread.
    }
    Ok(())
}

/// A Computer or a ComputerAgent with its own client.
struct Instance {
    telemetry: Telemetry,
}

impl Instance {
    fn new(setting: Setting) -> Result<Instance, ConfigError> {
        let mut config = config()?;
        if setting == Setting::Off || DISABLED.load(Relaxed) {
            // `telemetry_enabled=False`: this instance sends nothing.
            config = config.consent(Level::Off);
        }
        let telemetry = Telemetry::new(config)?;
        if setting == Setting::Trajectory && telemetry.is_enabled() {
            // Only once the user has turned telemetry on at all.
            telemetry.set_consent(Level::Full);
        }
        Ok(Instance { telemetry })
    }

    /// A pretend agent: `runs` runs of three steps each.
    fn run_agent(&self, runs: u32) {
        let t = &self.telemetry;
        let session_id = t.session_id().to_owned();
        let model = "claude-3-5-sonnet-20241022";
        t.capture(&AgentSessionStart {
            session_id: session_id.clone(),
            agent_type: "ComputerAgent".into(),
            model: model.into(),
            os: std::env::consts::OS.into(),
        });
        let loop_type = match model {
            m if m.starts_with("claude") => LoopType::Anthropic,
            m if m.starts_with("computer-use") => LoopType::Openai,
            _ => LoopType::Omni,
        };
        t.capture(&AgentLoopStarted { loop_type });
        let mut conversation = vec!["user: Open the settings and turn on dark mode".to_owned()];
        for run in 0..runs {
            let run_id = random_id(run);
            let start = SystemTime::now();
            t.capture(&AgentRunStart {
                session_id: session_id.clone(),
                run_id: run_id.clone(),
                start_time: unix(start),
                input_context_size: conversation.iter().map(|m| m.chars().count() as u64).sum(),
                num_existing_messages: conversation.len() as u32,
                uploaded_trajectory: conversation.clone(),
            });
            let (mut prompt, mut completion) = (0, 0);
            for step in 1..=3u32 {
                let at = start + Duration::from_millis(u64::from(step) * 1500);
                t.capture_at(
                    &AgentStep {
                        session_id: session_id.clone(),
                        run_id: run_id.clone(),
                        step,
                        timestamp: unix(at),
                        duration_seconds: 1.5,
                    },
                    at,
                );
                t.capture(&AgentUsage {
                    session_id: session_id.clone(),
                    run_id: run_id.clone(),
                    step,
                    prompt_tokens: 1200,
                    completion_tokens: 80,
                    total_tokens: 1280,
                    response_cost: 0.0048,
                });
                (prompt, completion) = (prompt + 1200, completion + 80);
                t.add(
                    &TOOL_USAGE_COUNT,
                    if step == 2 { ToolName::BashTool } else { ToolName::ComputerTool },
                    1,
                );
                conversation.push(format!("assistant: step {step}: left_click on the settings icon"));
            }
            let end = start + Duration::from_millis(4500);
            t.capture(&AgentRunEnd {
                session_id: session_id.clone(),
                run_id,
                end_time: unix(end),
                duration_seconds: 4.5,
                num_steps: 3,
                total_usage: Usage {
                    prompt_tokens: prompt,
                    completion_tokens: completion,
                    total_tokens: prompt + completion,
                    response_cost: 0.0144,
                },
                uploaded_trajectory: conversation.clone(),
            });
        }
    }
}

fn config() -> Result<Config, ConfigError> {
    let mut config = Config::new("cua", env!("CARGO_PKG_VERSION"))
        // Opt-in: off until the user says yes.
        .default_level(Level::Off)
        .env(|e| telemetry_runtime::EnvVars { main: "CUA_TELEMETRY_ENABLED".into(), ..e })
        .env(|mut e| {
            e.legacy.push(("CUA_TELEMETRY_LOG_TRAJECTORY".into(), Polarity::OptInFull));
            e
        })
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: Duration::from_secs(3), ..d });
    // Every event and counter as it happens, or once a week as counts.
    let route = if WEEKLY.load(Relaxed) { Route::default().per_period(WEEK) } else { Route::default() };
    match (std::env::var("CUA_POSTHOG_KEY"), std::env::var("CUA_POSTHOG_HOST")) {
        (Ok(key), Ok(host)) => config = config.route(PostHogSink::new(key)?.host(&host)?, route),
        _ => config = config.route(JsonlSink::new(std::env::temp_dir().join("cua-events.jsonl")), route),
    }
    Ok(config)
}

fn unix(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A random id per run, as CUA's `uuid4()` (this example has no uuid
/// dependency of its own).
fn random_id(salt: u32) -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(salt);
    let b = RandomState::new().hash_one(salt.wrapping_add(1));
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}
