//! Sampling at run time: a rate from the configuration or the user's
//! `<APP>_TELEMETRY_SAMPLE_RATE`, for derived and declared events, counted
//! when it leaves an event out, and reproducible with a seed.

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Properties, Telemetry, TelemetryEvent};
use telemetry_tests::{logs, posthog_sink, Sandbox, TestServer, SOON};

/// One step of a run.
#[derive(TelemetryEvent)]
struct SampledStep {
    index: u32,
}

/// An event that samples itself at one half.
#[derive(TelemetryEvent)]
#[telemetry(sample = 0.5)]
struct Halved {
    index: u32,
}

telemetry_runtime::event! {
    /// A declared event.
    static TICK = "tick" {
        /// Its position.
        index: u64,
    }
}

fn run(
    config: telemetry_runtime::Config,
    memory: &MemorySink,
    n: u32,
) -> (Vec<u64>, telemetry_runtime::Stats) {
    let telemetry = Telemetry::new(config.sink(memory.clone())).unwrap();
    for index in 0..n {
        telemetry.capture(&SampledStep { index });
        telemetry.capture_with(&TICK, Properties::new().with("index", index));
    }
    assert!(telemetry.flush(SOON), "sampling is not a loss: {:?}", telemetry.stats());
    let kept = memory
        .events()
        .iter()
        .filter(|e| e["event"] == "sampled_step")
        .map(|e| e["properties"]["index"].as_u64().unwrap())
        .collect();
    (kept, telemetry.stats())
}

#[test]
fn a_configured_rate_keeps_about_that_share_and_counts_the_rest() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let (kept, stats) = run(
        sandbox.config().delivery(|d| telemetry_runtime::Delivery { sample_rate: 0.25, ..d }),
        &memory,
        2000,
    );
    assert!((400..600).contains(&kept.len()), "{}", kept.len());
    let events = memory.events();
    let ticks = events.iter().filter(|e| e["event"] == "tick").count();
    assert!((800..1200).contains(&(kept.len() + ticks)) && ticks > 0, "{ticks}");
    assert!(events.iter().all(|e| e["properties"]["$sample_rate"] == 0.25), "{:?}", events[0]);
    assert_eq!(stats.captured + stats.sampled_out, 4000);
    assert_eq!(stats.sent, stats.captured);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn an_events_own_rate_and_the_configured_rate_multiply() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(
        sandbox
            .config()
            .delivery(|d| telemetry_runtime::Delivery { sample_rate: 0.5, ..d })
            .sink(memory.clone()),
    )
    .unwrap();
    for index in 0..4000 {
        telemetry.capture(&Halved { index });
    }
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert!((800..1200).contains(&events.len()), "{}", events.len());
    assert!(events.iter().all(|e| e["properties"]["$sample_rate"] == 0.25));
    assert_eq!(telemetry.stats().sampled_out + events.len() as u64, 4000);
}

#[test]
fn a_seed_keeps_the_same_events_in_every_run() {
    let sandbox = Sandbox::new();
    let first = run(
        sandbox.config().delivery(|d| telemetry_runtime::Delivery {
            sample_rate: 0.3,
            sample_seed: Some(42),
            ..d
        }),
        &MemorySink::new(),
        500,
    )
    .0;
    let second = run(
        sandbox.config().delivery(|d| telemetry_runtime::Delivery {
            sample_rate: 0.3,
            sample_seed: Some(42),
            ..d
        }),
        &MemorySink::new(),
        500,
    )
    .0;
    let other = run(
        sandbox.config().delivery(|d| telemetry_runtime::Delivery {
            sample_rate: 0.3,
            sample_seed: Some(43),
            ..d
        }),
        &MemorySink::new(),
        500,
    )
    .0;
    assert!(!first.is_empty() && first.len() < 500);
    assert_eq!(first, second);
    assert_ne!(first, other);
}

#[test]
fn the_users_variable_outranks_the_configuration_and_bad_values_are_ignored() {
    logs::install();
    let sandbox = Sandbox::new();
    // Zero: nothing leaves, on the wire either.
    let server = TestServer::start();
    let config = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY_SAMPLE_RATE", " 0 ")])
        .delivery(|d| telemetry_runtime::Delivery { sample_rate: 1.0, ..d });
    let telemetry = Telemetry::new(config.sink(posthog_sink(&server))).unwrap();
    for index in 0..50 {
        telemetry.capture(&SampledStep { index });
    }
    assert!(telemetry.flush(SOON));
    assert_eq!(telemetry.stats().sampled_out, 50);
    assert_eq!(server.connections(), 0);

    // One: everything, whatever the configuration says.
    let memory = MemorySink::new();
    let config = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY_SAMPLE_RATE", "1")])
        .delivery(|d| telemetry_runtime::Delivery { sample_rate: 0.01, ..d });
    assert_eq!(run(config, &memory, 100).0.len(), 100);
    let events = memory.events();
    assert_eq!(events.len(), 200, "the steps and the ticks");
    assert!(events.iter().all(|e| e["properties"].get("$sample_rate").is_none()));

    // Named after the app, whatever the main variable is called.
    let config = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY_SAMPLE_RATE", "0"), ("TESTAPP_ENABLED_SAMPLE_RATE", "1")])
        .env(|e| telemetry_runtime::EnvVars { main: "TESTAPP_ENABLED".into(), ..e });
    let (kept, stats) = run(config, &MemorySink::new(), 10);
    assert!(kept.is_empty() && stats.sampled_out == 20, "{stats:?}");

    // Not a rate: logged, and the configuration's rate stands.
    for bad in ["lots", "1.5", "-0.5", "NaN"] {
        let config = sandbox
            .config_with_env(&[("TESTAPP_TELEMETRY_SAMPLE_RATE", bad)])
            .delivery(|d| telemetry_runtime::Delivery { sample_rate: 0.0, ..d });
        let (kept, stats) = run(config, &MemorySink::new(), 20);
        assert!(kept.is_empty() && stats.sampled_out == 40, "{bad}: {stats:?}");
        // By the client as it is made, on this thread.
        let warned = logs::this_thread()
            .into_iter()
            .any(|line| line.message.contains("TESTAPP_TELEMETRY_SAMPLE_RATE") && line.message.contains(bad));
        assert!(warned, "{bad} was not logged");
    }
}
