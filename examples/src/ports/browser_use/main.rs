//! `browser_use`: browser-use's telemetry, ported.
//!
//! Ports the document "Chapter 8: Telemetry Service" of the browser-use
//! tutorial (`ProductTelemetry` in `telemetry/service.py`, the events of
//! `telemetry/views.py`): the events `agent_run`, `agent_step`, `agent_end`
//! and `controller_registered_functions` with their documented properties,
//! sent to PostHog under an anonymous id kept in
//! `~/.cache/browser_use/telemetry_user_id`, on by default and turned off
//! with `ANONYMIZED_TELEMETRY=False`. One client for the process, as
//! browser-use's `@singleton` service: the global client.
//!
//! ```text
//! browser_use [TASK]
//! ```
//!
//! Events go to PostHog at `BROWSER_USE_POSTHOG_HOST` with the key in
//! `BROWSER_USE_POSTHOG_KEY` when both are set (the tests' loopback server),
//! else to `browser_use-events.jsonl` in the temporary directory.
//!
//! Where this port differs from browser-use, and why:
//!
//! - **The task is opt-in.** browser-use sends the task text in `agent_run`;
//!   a task is the user's own words (it can name a person, an account, a
//!   site). Here it is sent only at full consent
//!   (`BROWSER_USE_TELEMETRY=full`), and so are step error messages, whose
//!   count is always sent.
//! - **A first-run notice.** browser-use starts sending at once. Here the
//!   first run on a machine prints what is collected and how to turn it off,
//!   and sends nothing; later runs send.
//! - **More ways to say no.** `ANONYMIZED_TELEMETRY=false` (any case) still
//!   turns it off. The library also honours `BROWSER_USE_TELEMETRY=off`,
//!   `DO_NOT_TRACK=1`, a saved choice and CI environments, and a value of
//!   `ANONYMIZED_TELEMETRY` it does not understand means off, where
//!   browser-use treats anything but `false` as on.
//! - **No shared fallback id.** When the id file cannot be written,
//!   browser-use sends `UNKNOWN_USER_ID` (one id for every such user);
//!   here each such process gets a random id of its own.
//! - **Parameters as a list, not a schema.** browser-use sends each
//!   registered action's `params` as its parameter model's JSON schema;
//!   here `params` is a list of objects with each parameter's `name`,
//!   `type` and `required`, from the registry's fixed set in code. A schema
//!   can also carry descriptions, titles and defaults written by whoever
//!   registered the action (free text); those are left out.
//! - **Events are batched** and sent by a background thread within a
//!   deadline at exit, instead of one PostHog call per event; each event
//!   also carries the library's standard properties (`$lib`, `$session_id`,
//!   `$process_person_profile: false`, ...).

mod telemetry;

use std::time::{Duration, Instant};

use telemetry::{
    AgentEnd, AgentRun, AgentStep, ControllerRegisteredFunctions, Param, ParamType, RegisteredFunction,
    Source,
};
use telemetry_runtime::sink::{JsonlSink, PostHogSink};
use telemetry_runtime::{Config, ConfigError, Level, Polarity};

/// The actions a browser-use controller registers by default, with their
/// parameters.
const ACTIONS: [(&str, &[Param]); 6] = [
    ("go_to_url", &[param("url", ParamType::String, true)]),
    ("click_element", &[param("index", ParamType::Integer, true), param("xpath", ParamType::String, false)]),
    (
        "input_text",
        &[
            param("index", ParamType::Integer, true),
            param("text", ParamType::String, true),
            param("xpath", ParamType::String, false),
        ],
    ),
    ("scroll_down", &[param("amount", ParamType::Integer, false)]),
    ("extract_content", &[param("include_links", ParamType::Boolean, false)]),
    ("done", &[param("text", ParamType::String, true), param("success", ParamType::Boolean, true)]),
];

/// A parameter of an action: its name, JSON-schema type, and whether the
/// action needs it.
const fn param(name: &'static str, ty: ParamType, required: bool) -> Param {
    Param { name, ty, required }
}

fn main() {
    let task = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let task = if task.is_empty() { "Find the cheapest flight to Lisbon".to_owned() } else { task };
    let guard = match config()
        .map_err(|e| e.to_string())
        .and_then(|c| telemetry_runtime::init(c).map_err(|e| telemetry_examples::error_chain(&e)))
    {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("browser_use: {err}");
            std::process::exit(2);
        }
    };
    let consent = guard.consent();
    println!("browser_use: telemetry {} ({})", consent.level, consent.source);

    // The controller's registry, created before the agent.
    telemetry_runtime::capture(&ControllerRegisteredFunctions {
        registered_functions: ACTIONS
            .iter()
            .map(|&(name, params)| RegisteredFunction { name, params: params.to_vec() })
            .collect(),
    });
    run_agent(&task);

    // Dropping the guard delivers what is queued, within the deadline; the
    // client's counts stay readable through a handle kept before.
    let client = (*guard).clone();
    drop(guard);
    let stats = client.stats();
    println!("browser_use: {} events captured, {} sent", stats.captured, stats.sent);
}

/// A pretend agent run: three steps, the second with an error.
fn run_agent(task: &str) {
    let started = Instant::now();
    let agent_id = uuid_like();
    telemetry_runtime::capture(&AgentRun {
        agent_id: agent_id.clone(),
        use_vision: true,
        task: task.to_owned(),
        model_name: "gpt-4o".into(),
        chat_model_library: "ChatOpenAI".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        source: Source::Pip,
    });
    let steps: [(&[&str], &[&str]); 3] = [
        (&["go_to_url"], &[]),
        (
            &["click_element"],
            &["Element with index 12 does not exist at https://flights.example/search?q=lisbon"],
        ),
        (&["extract_content", "done"], &[]),
    ];
    let mut failures = 0;
    for (index, (actions, errors)) in steps.iter().enumerate() {
        failures = if errors.is_empty() { 0 } else { failures + 1 };
        telemetry_runtime::capture(&AgentStep {
            agent_id: agent_id.clone(),
            step: index as u32 + 1,
            step_error: errors.iter().map(|e| (*e).to_owned()).collect(),
            step_error_count: errors.len() as u32,
            consecutive_failures: failures,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        });
    }
    telemetry_runtime::capture(&AgentEnd {
        agent_id,
        steps: steps.len() as u32,
        max_steps_reached: false,
        is_done: true,
        success: Some(true),
        total_input_tokens: 5321,
        total_duration_seconds: started.elapsed().as_secs_f64(),
    });
}

fn config() -> Result<Config, ConfigError> {
    let mut config = Config::new("browser_use", env!("CARGO_PKG_VERSION"))
        // On by default, as in browser-use; the user's variable turns it off.
        .default_level(Level::Usage)
        .env(|mut e| {
            e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        })
        // The switch browser-use's users know: the notice and log lines name it.
        .env(|e| telemetry_runtime::EnvVars { documented: Some("ANONYMIZED_TELEMETRY".into()), ..e })
        .delivery(|d| telemetry_runtime::Delivery { shutdown_timeout: Duration::from_secs(3), ..d });
    match (std::env::var("BROWSER_USE_POSTHOG_KEY"), std::env::var("BROWSER_USE_POSTHOG_HOST")) {
        (Ok(key), Ok(host)) => config = config.sink(PostHogSink::new(key)?.host(&host)?),
        _ => {
            let file = std::env::temp_dir().join("browser_use-events.jsonl");
            println!("browser_use: events are written to {}", file.display());
            config = config.sink(JsonlSink::new(file));
        }
    }
    Ok(config)
}

/// A random UUID v4 as text, from the standard library's hasher keys (this
/// example has no uuid dependency of its own; the value only needs to be
/// random per agent, as browser-use's `uuid4()`).
fn uuid_like() -> String {
    use std::hash::{BuildHasher, RandomState};
    let a = RandomState::new().hash_one(1u8);
    let b = RandomState::new().hash_one(2u8);
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}
