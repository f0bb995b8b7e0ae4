//! `cua-sdk`: CUA's telemetry as its SDK documents it, ported.
//!
//! Ports one document of CUA (trycua/cua): the page "Telemetry"
//! (`docs/content/docs/telemetry.mdx`, 2025-07-30), alone. Telemetry is on
//! by default (opt-out) and turned off by a falsy `CUA_TELEMETRY_ENABLED`
//! (`0`, `false`, `no`, `off`); each `Computer` and `ComputerAgent`
//! takes its own `telemetry_enabled` (`False` for no telemetry,
//! `{"log_trajectory": True}` to log its conversation), fixed when it is
//! created; the events are those of the page's two tables: Computer SDK
//! `computer_initialized` and `module_init`, Agent SDK `module_init`,
//! `agent_session_start`, `agent_run_start`, `agent_run_end`, `agent_step`
//! and `agent_usage`, with `uploaded_trajectory` opt-in. Its events are
//! shared with the `cua` port (`../cua_events.rs`), which follows CUA's
//! older chapter on its `UniversalTelemetryClient` (opt-in).
//!
//! ```text
//! cua-sdk [--computer on|off]... [--agent on|off|trajectory]... [--runs N]
//! cua-sdk telemetry [status|on|off|full|reset|catalog|preview]
//! ```
//!
//! `--computer off` is `Computer(telemetry_enabled=False)`, `--agent off`
//! `ComputerAgent(telemetry_enabled=False)`, `--agent trajectory`
//! `ComputerAgent(telemetry_enabled={"log_trajectory": True})`; each
//! instance prints its `telemetry_enabled`. A process-wide client sends
//! `module_init` for both packages, as their import does; each instance
//! has a client of its own, created with its settings. Events go to
//! PostHog at `CUA_POSTHOG_HOST` with the key in `CUA_POSTHOG_KEY` when
//! both are set (the tests' loopback server), else to `cua-sdk-events.jsonl`
//! in the temporary directory.
//!
//! Where this port differs from the document, and why:
//!
//! - **A first-run notice.** CUA sends from the first run. Here, as
//!   everywhere telemetry is on by default with this library, the first
//!   run on a machine prints what is collected and how to turn it off
//!   (`CUA_TELEMETRY_ENABLED=off`), and sends nothing: every instance
//!   created in that run follows the process-wide client's decision. The
//!   next runs send. A user who set `CUA_TELEMETRY_ENABLED=1` has said yes
//!   already and sees no notice.
//! - **Values not understood mean off.** CUA keeps telemetry on unless the
//!   variable is one of its four falsy values; here a value the library
//!   does not understand (`CUA_TELEMETRY_ENABLED=maybe`) means off and is
//!   logged, and `1`, `true`, `yes`, `on` mean on. (The page's own example
//!   `CUA_TELEMETRY_ENABLED=1` under "disable" contradicts its list of
//!   falsy values; this port follows the list.) `DO_NOT_TRACK=1`, a saved
//!   choice (`cua-sdk telemetry off`) and CI environments turn it off too.
//! - **Trajectories need the user's full consent as well.** CUA sends
//!   `uploaded_trajectory` for an agent created with `log_trajectory`; the
//!   conversation is the user's own words and screens, and this library
//!   never sends opt-in data without the user's `full`. So a trajectory is
//!   sent only when both say yes: the agent was created with
//!   `log_trajectory` (the developer's choice), and the user allowed full
//!   telemetry, with `CUA_TELEMETRY_ENABLED=full`, the saved choice
//!   `cua-sdk telemetry full`, or `CUA_TELEMETRY_LOG_TRAJECTORY=1` (the
//!   user's own switch for trajectories, a variable CUA does not have; it
//!   yields to any variable that says off). An agent without
//!   `log_trajectory` never sends its trajectory, even at full consent: its
//!   client is created capped at usage. Otherwise the agent sends its usage
//!   events without the trajectory and prints
//!   `trajectory=withheld`.
//! - **No `os_version`, no `python_version`.** This library does not read
//!   OS versions, and there is no Python. Sent instead, with every event:
//!   `$os` and `$arch` (`linux`, `x86_64`), the program's version
//!   (`$app_version`) and the library's (`$lib`, `$lib_version`);
//!   `module_init` carries each package's `version`, and
//!   `computer_initialized` and `agent_session_start` their documented
//!   `os`.
//! - **Ids.** An agent's `session_id` is its own client's session id (also
//!   sent as `$session_id`), a random UUID per agent instance as in CUA;
//!   `run_id` is a random UUID per run. Both are identifiers, marked public
//!   with their reason in the events' schema. The installation's id is in
//!   `~/.cache/cua/telemetry_user_id` (mode 0600), written only once
//!   something is sent; events are anonymous
//!   (`$process_person_profile: false`).
//! - **Settings fixed at construction** are a client per instance, created
//!   with its consent: the user's choice as the process-wide client
//!   resolved it when the packages were loaded, capped by the instance's
//!   `telemetry_enabled`. The types have no setter, and a change of the
//!   environment later in the process changes no instance.
//! - **Batched delivery.** Events are sent in batches by each client's
//!   background thread; dropping an instance delivers what it queued,
//!   within its shutdown deadline.
//! - **Seeing what is sent**, which the page leaves to its tables:
//!   `cua-sdk telemetry catalog` lists every event and field,
//!   `CUA_TELEMETRY_DEBUG=1` prints each event on stderr and sends nothing,
//!   and `~/.local/share/cua/telemetry_recent.jsonl` keeps the last events
//!   that left the machine.

#[path = "../cua_events.rs"]
mod telemetry;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use telemetry::*;
use telemetry_runtime::sink::{JsonlSink, PostHogSink};
use telemetry_runtime::{Catalog, Config, ConfigError, Level, Polarity, Route, Telemetry};

const MODEL: &str = "claude-3-5-sonnet-20241022";

/// An instance's `telemetry_enabled` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    /// `telemetry_enabled=False`.
    Off,
    /// `telemetry_enabled=True`, the default.
    On,
    /// `telemetry_enabled={"log_trajectory": True}` (agents).
    Trajectory,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("telemetry") {
        subcommand(&args[1..])
    } else {
        parse(&args)
            .and_then(|(computers, agents, runs)| run(&computers, &agents, runs).map_err(|e| e.to_string()))
    };
    if let Err(err) = result {
        eprintln!("cua-sdk: {err}");
        std::process::exit(2);
    }
}

/// `--computer` and `--agent` (each repeatable, one instance each) and `--runs`.
fn parse(args: &[String]) -> Result<(Vec<Setting>, Vec<Setting>, u32), String> {
    let (mut computers, mut agents, mut runs) = (Vec::new(), Vec::new(), 1);
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = iter.next().map(String::as_str).ok_or(format!("{arg} needs a value"))?;
        let setting = match value {
            "off" => Some(Setting::Off),
            "on" => Some(Setting::On),
            "trajectory" => Some(Setting::Trajectory),
            _ => None,
        };
        let bad = || format!("{arg} {value}: expected on, off or trajectory (agents)");
        match arg.as_str() {
            "--computer" => computers.push(setting.filter(|s| *s != Setting::Trajectory).ok_or_else(bad)?),
            "--agent" => agents.push(setting.ok_or_else(bad)?),
            "--runs" => runs = value.parse().map_err(|_| format!("--runs {value}: not a number"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if computers.is_empty() {
        computers.push(Setting::On);
    }
    if agents.is_empty() {
        agents.push(Setting::On);
    }
    Ok((computers, agents, runs))
}

/// The library's `telemetry` subcommands, for the user: `status`, `on`,
/// `off`, `full` (saved choices), `reset`, `catalog`, `preview`.
fn subcommand(args: &[String]) -> Result<(), String> {
    let config = config(Level::Full).map_err(|e| e.to_string())?;
    let telemetry = Telemetry::new(config.notice(|n| telemetry_runtime::Notice { enabled: false, ..n }))
        .map_err(|e| e.to_string())?;
    telemetry_runtime::cli::run_command(&telemetry, args, &mut std::io::stdout())
        .map_err(|e| telemetry_examples::error_chain(&e))
}

fn run(computers: &[Setting], agents: &[Setting], runs: u32) -> Result<(), ConfigError> {
    // The packages' import: the process-wide client resolves the user's
    // consent once (variables, DO_NOT_TRACK, saved choice, CI, default,
    // first-run notice) and sends `module_init` for each package.
    let module = Telemetry::new(config(Level::Full)?)?;
    let consent = module.consent();
    println!("cua-sdk: telemetry {} ({})", consent.level, consent.source);
    for which in [Module::Computer, Module::Agent] {
        module.capture(&ModuleInit { module: which, version: env!("CARGO_PKG_VERSION").into() });
    }
    // The user's choice, which every instance created in this run starts
    // from: off in the run that showed the first-run notice
    // (`ConsentSource::NoticePending`), as the process-wide client is.
    let user = User { level: consent.level, local_only: consent.local_only };

    for setting in computers {
        let computer = Computer::new(*setting, user)?;
        println!(
            "cua-sdk: computer {} telemetry_enabled={}",
            computer.session_id(),
            computer.telemetry_enabled()
        );
    }
    for setting in agents {
        let agent = ComputerAgent::new(MODEL, *setting, user)?;
        println!(
            "cua-sdk: agent {} telemetry_enabled={} level={} trajectory={}",
            agent.session_id(),
            agent.telemetry_enabled(),
            agent.telemetry.level(),
            agent.trajectory(),
        );
        for _ in 0..runs {
            agent.run("Open the settings and turn on dark mode");
        }
        // Dropping the agent delivers what it queued and ends its thread.
    }
    Ok(())
}

/// What the user decided, as the process-wide client resolved it.
#[derive(Debug, Clone, Copy)]
struct User {
    level: Level,
    /// `CUA_TELEMETRY_ENABLED=local`: events stay in a file on this machine.
    local_only: bool,
}

/// The client of an instance: the user's level, capped by the instance's
/// own setting, fixed here. `telemetry_enabled=False` is off; only
/// `log_trajectory` leaves full consent full, and its route is the only
/// one that lets opt-in data through.
fn instance_client(setting: Setting, user: User) -> Result<Telemetry, ConfigError> {
    let cap = match setting {
        Setting::Off => Level::Off,
        Setting::On => Level::Usage,
        Setting::Trajectory => Level::Full,
    };
    // The user's choice was resolved (and the notice handled) by the
    // process-wide client: this client is created with it, as an explicit
    // level that nothing changes later.
    Telemetry::new(
        config(cap)?
            .consent(user.level.min(cap))
            .delivery(|d| telemetry_runtime::Delivery { local_only: user.local_only, ..d }),
    )
}

/// CUA's `Computer`.
struct Computer {
    telemetry: Telemetry,
}

impl Computer {
    fn new(setting: Setting, user: User) -> Result<Computer, ConfigError> {
        let computer = Computer { telemetry: instance_client(setting, user)? };
        computer.telemetry.capture(&ComputerInitialized { os: std::env::consts::OS.into() });
        Ok(computer)
    }

    /// `computer.telemetry_enabled`.
    fn telemetry_enabled(&self) -> bool {
        self.telemetry.is_enabled()
    }

    fn session_id(&self) -> &str {
        self.telemetry.session_id()
    }
}

/// CUA's `ComputerAgent`, a pretend one: each run takes three steps.
struct ComputerAgent {
    telemetry: Telemetry,
    log_trajectory: bool,
    /// The conversation so far, across runs.
    conversation: std::cell::RefCell<Vec<String>>,
}

impl ComputerAgent {
    fn new(model: &str, setting: Setting, user: User) -> Result<ComputerAgent, ConfigError> {
        let telemetry = instance_client(setting, user)?;
        telemetry.capture(&AgentSessionStart {
            session_id: telemetry.session_id().to_owned(),
            agent_type: "ComputerAgent".into(),
            model: model.into(),
            os: std::env::consts::OS.into(),
        });
        let log_trajectory = setting == Setting::Trajectory;
        Ok(ComputerAgent { telemetry, log_trajectory, conversation: Default::default() })
    }

    /// `agent.telemetry_enabled`: `false`, `true`, or the dictionary it was
    /// created with (when telemetry is on).
    fn telemetry_enabled(&self) -> &'static str {
        match (self.telemetry.is_enabled(), self.log_trajectory) {
            (false, _) => "false",
            (true, false) => "true",
            (true, true) => "{\"log_trajectory\":true}",
        }
    }

    /// Whether this agent's trajectory is sent: `sent`, `withheld` (asked
    /// for by the agent, not allowed by the user) or `no`.
    fn trajectory(&self) -> &'static str {
        match (self.log_trajectory, self.telemetry.level()) {
            (true, Level::Full) => "sent",
            (true, level) if level > Level::Off => "withheld",
            _ => "no",
        }
    }

    fn session_id(&self) -> &str {
        self.telemetry.session_id()
    }

    /// `agent.run(task)`: three steps, each with the model's usage.
    fn run(&self, task: &str) {
        let t = &self.telemetry;
        let session_id = t.session_id().to_owned();
        let run_id = random_id();
        let mut conversation = self.conversation.borrow_mut();
        let existing = conversation.len() as u32;
        conversation.push(format!("user: {task}"));
        let start = SystemTime::now();
        t.capture(&AgentRunStart {
            session_id: session_id.clone(),
            run_id: run_id.clone(),
            start_time: unix(start),
            // The input messages: the conversation so far and the task.
            input_context_size: conversation.iter().map(|m| m.chars().count() as u64).sum(),
            num_existing_messages: existing,
            uploaded_trajectory: conversation.clone(),
        });
        let (mut prompt, mut completion, mut cost) = (0, 0, 0.0);
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
            (prompt, completion, cost) = (prompt + 1200, completion + 80, cost + 0.0048);
            conversation.push(format!("assistant: step {step}: left_click on the settings icon"));
        }
        let end = start + Duration::from_millis(4500);
        t.capture(&AgentRunEnd {
            session_id,
            run_id,
            end_time: unix(end),
            duration_seconds: 4.5,
            num_steps: 3,
            total_usage: Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                response_cost: cost,
            },
            uploaded_trajectory: conversation.clone(),
        });
    }
}

/// Every client of the program: on by default, `CUA_TELEMETRY_ENABLED`,
/// the user's trajectory switch, and one destination whose route lets
/// through data up to `max_level`.
fn config(max_level: Level) -> Result<Config, ConfigError> {
    let config = Config::new("cua", env!("CARGO_PKG_VERSION"))
        // Opt-out: on unless the user says no.
        .default_level(Level::Usage)
        .env(|e| telemetry_runtime::EnvVars { main: "CUA_TELEMETRY_ENABLED".into(), ..e })
        .env(|mut e| {
            e.legacy.push(("CUA_TELEMETRY_LOG_TRAJECTORY".into(), Polarity::OptInFull));
            e
        })
        .catalog(Catalog::collect_under([concat!(module_path!(), "::telemetry")]))
        .notice(|n| telemetry_runtime::Notice { commands: Some("cua-sdk telemetry".into()), ..n })
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: Duration::from_secs(3), ..d });
    let route = Route::default().max_level(max_level);
    Ok(match (std::env::var("CUA_POSTHOG_KEY"), std::env::var("CUA_POSTHOG_HOST")) {
        (Ok(key), Ok(host)) => config.route(PostHogSink::new(key)?.host(&host)?, route),
        _ => config.route(JsonlSink::new(std::env::temp_dir().join("cua-sdk-events.jsonl")), route),
    })
}

fn unix(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// A random id per run, as CUA's `uuid4()` (this example has no uuid
/// dependency of its own).
fn random_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(1u8);
    let b = RandomState::new().hash_one(2u8);
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}
