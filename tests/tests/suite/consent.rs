//! Consent through the public API: with it off nothing leaves the process or
//! touches the disk; run-time changes apply at once; and the sources rank as
//! designed, with an injected environment (never the real one).

use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{
    Config, ConsentSource, DropReason, Level, Polarity, Properties, Stats, Telemetry, Value,
};
use telemetry_tests::{env, posthog_sink, Sandbox, TestServer, SOON};

telemetry_runtime::event! {
    /// Captured while consent is off: must never be sent.
    static NEVER_SENT = "never_sent" {}
}

telemetry_runtime::event! {
    /// Captured before the user lowered consent.
    static BEFORE_NO = "before_no" {}
}

telemetry_runtime::event! {
    /// Captured while consent is off.
    static WHILE_OFF = "while_off" {}
}

telemetry_runtime::event! {
    /// Captured after the user raised consent again.
    static AFTER_YES = "after_yes" {}
}

telemetry_runtime::event! {
    /// Captured at full consent, with an opt-in property.
    static CAPTURED_AT_FULL = "captured_at_full" {
        /// A number, public.
        count: u64,
        /// Sent only at full consent.
        #[telemetry(opt_in)]
        query: String,
    }
}

telemetry_runtime::event! {
    /// Captured after consent went down to usage.
    static CAPTURED_AT_USAGE = "captured_at_usage" {}
}

#[test]
fn consent_off_sends_nothing_writes_nothing_counts_nothing() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let jsonl = sandbox.path().join("events/out.jsonl");
    // Off because the user said so, although the application defaults to on.
    let config = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY", "off")])
        .sink(posthog_sink(&server))
        .sink(JsonlSink::new(&jsonl))
        .delivery(|d| telemetry_runtime::Delivery { flush_interval: Duration::from_millis(20), ..d });
    let telemetry = Telemetry::new(config).unwrap();
    assert!(!telemetry.is_enabled());
    assert_eq!(telemetry.level(), Level::Off);
    for _ in 0..100 {
        telemetry.capture_with(&NEVER_SENT, Properties::new());
    }
    // With consent off, a property the declaration does not name is not
    // even looked at: nothing is counted, not even as undeclared.
    telemetry.capture_with(&NEVER_SENT, Properties::new().with("undeclared", 1u8));
    assert!(telemetry.flush(Duration::from_secs(1)));
    // Give an interval-driven worker, if one had started, time to act.
    std::thread::sleep(Duration::from_millis(100));
    assert!(telemetry.shutdown(Duration::from_secs(1)));

    assert_eq!(server.connections(), 0, "no connection at all");
    assert!(server.requests().is_empty());
    assert!(!jsonl.exists());
    assert!(sandbox.files().is_empty(), "nothing created on disk: {:?}", sandbox.files());
    assert_eq!(telemetry.stats(), Stats::default());
}

#[test]
fn lowering_consent_drops_what_is_queued_and_raising_it_resumes() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(posthog_sink(&server)).delivery(telemetry_tests::on_flush))
            .unwrap();
    for _ in 0..5 {
        telemetry.capture_with(&BEFORE_NO, Properties::new());
    }
    telemetry.set_consent(Level::Off);
    assert!(!telemetry.is_enabled());
    assert_eq!(telemetry.consent().source, ConsentSource::Explicit);
    for _ in 0..5 {
        telemetry.capture_with(&WHILE_OFF, Properties::new());
    }
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!(stats.captured, 5);
    assert_eq!(stats.dropped(DropReason::ConsentWithdrawn), 5);
    assert_eq!(stats.sent, 0);
    assert_eq!(server.connections(), 0, "nothing captured before the user said no left the process");

    telemetry.set_consent(Level::Usage);
    assert!(telemetry.is_enabled());
    for _ in 0..3 {
        telemetry.capture_with(&AFTER_YES, Properties::new());
    }
    assert!(telemetry.flush(SOON));
    let names: Vec<String> =
        server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["after_yes"; 3]);
    assert_eq!(telemetry.stats().sent, 3);
}

/// An event that exists only at full consent.
#[derive(telemetry_runtime::TelemetryEvent)]
#[telemetry(opt_in)]
struct FullOnly {}

#[test]
fn lowering_consent_from_full_strips_what_full_allowed() {
    let memory = MemorySink::new();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(
        sandbox.config().consent(Level::Full).sink(memory.clone()).delivery(telemetry_tests::on_flush),
    )
    .unwrap();
    telemetry.capture_with(
        &CAPTURED_AT_FULL,
        Properties::new().with("count", 1u8).with("query", Value::Text(("CANARY-opt-in-qz").into())),
    );
    telemetry.capture(&FullOnly {});
    telemetry.set_consent(Level::Usage);
    telemetry.capture_with(&CAPTURED_AT_USAGE, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    let names: Vec<String> =
        memory.events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["captured_at_full", "captured_at_usage"], "the full-only event is not sent at usage");
    assert!(
        !memory.raw().iter().any(|raw| raw.contains("CANARY-opt-in-qz")),
        "an opt-in value left at usage"
    );
    assert_eq!(memory.events()[0]["properties"]["count"], 1);
    assert_eq!(telemetry.stats().dropped(DropReason::ConsentWithdrawn), 1);
}

/// The consent a fresh client resolves from `config`.
fn resolved(config: Config) -> (Level, ConsentSource) {
    let consent = Telemetry::new(config).unwrap().consent();
    (consent.level, consent.source)
}

fn var(name: &str) -> ConsentSource {
    ConsentSource::EnvVar(name.to_owned())
}

#[test]
fn explicit_choice_outranks_every_other_source() {
    let sandbox = Sandbox::new();
    let base =
        || sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "full"), ("DO_NOT_TRACK", "1"), ("CI", "true")]);
    assert_eq!(resolved(base().consent(Level::Off)), (Level::Off, ConsentSource::Explicit));
    assert_eq!(resolved(base().consent(Level::Usage)), (Level::Usage, ConsentSource::Explicit));

    let telemetry = Telemetry::new(base()).unwrap();
    assert_eq!(telemetry.level(), Level::Full);
    telemetry.set_consent(Level::Off);
    assert_eq!(
        (telemetry.consent().level, telemetry.consent().source),
        (Level::Off, ConsentSource::Explicit)
    );
    telemetry.set_consent(Level::Usage);
    assert_eq!(telemetry.level(), Level::Usage);
}

#[test]
fn app_variable_outranks_legacy_variables_dnt_persisted_ci_and_default() {
    let sandbox = Sandbox::new();
    Telemetry::new(sandbox.config()).unwrap().save_consent(Some(Level::Full)).unwrap();
    let config = sandbox
        .config_with_env(&[
            ("TESTAPP_TELEMETRY", " OFF "),
            ("ANONYMIZED_TELEMETRY", "true"),
            ("DO_NOT_TRACK", "0"),
            ("CI", "1"),
        ])
        .env(|mut e| {
            e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        });
    assert_eq!(resolved(config), (Level::Off, var("TESTAPP_TELEMETRY")));

    let on = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "yes"), ("DO_NOT_TRACK", "1")]);
    assert_eq!(resolved(on), (Level::Usage, var("TESTAPP_TELEMETRY")));
    let full = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "All")]).default_level(Level::Off);
    assert_eq!(resolved(full), (Level::Full, var("TESTAPP_TELEMETRY")));
}

#[test]
fn the_configured_default_cannot_override_the_user() {
    let sandbox = Sandbox::new();
    // Opt-out application, user said no.
    let config = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "0")]).default_level(Level::Full);
    assert_eq!(resolved(config), (Level::Off, var("TESTAPP_TELEMETRY")));
    let config = sandbox.config_with_env(&[("DO_NOT_TRACK", "true")]).default_level(Level::Full);
    assert_eq!(resolved(config), (Level::Off, ConsentSource::DoNotTrack));
}

#[test]
fn renamed_and_derived_variable_names() {
    let sandbox = Sandbox::new();
    let config =
        Config::new("my-tool.rs", "1").environment(env(&[("MY_TOOL_RS_TELEMETRY", "on")])).dirs(|d| {
            telemetry_runtime::Dirs {
                config: Some(sandbox.config_dir()),
                cache: Some(sandbox.cache_dir()),
                ..d
            }
        });
    assert_eq!(resolved(config), (Level::Usage, var("MY_TOOL_RS_TELEMETRY")));

    let renamed = sandbox
        .config_with_env(&[("TESTAPP_TELEMETRY", "off"), ("AGENT_STATS", "full")])
        .env(|e| telemetry_runtime::EnvVars { main: "AGENT_STATS".into(), ..e });
    assert_eq!(resolved(renamed), (Level::Full, var("AGENT_STATS")), "the old name is no longer read");
}

#[test]
fn legacy_variables_keep_their_polarity() {
    let sandbox = Sandbox::new();
    let enables = |value: &str, extra: &[(&str, &str)]| {
        let mut vars = vec![("ANONYMIZED_TELEMETRY", value)];
        vars.extend_from_slice(extra);
        sandbox.config_with_env(&vars).env(|mut e| {
            e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        })
    };
    assert_eq!(resolved(enables("False", &[])), (Level::Off, var("ANONYMIZED_TELEMETRY")));
    // A legacy variable is still a user's variable: it outranks DO_NOT_TRACK and CI.
    assert_eq!(
        resolved(enables("true", &[("DO_NOT_TRACK", "1"), ("CI", "true")])),
        (Level::Usage, var("ANONYMIZED_TELEMETRY"))
    );

    let disables = |value: &str, extra: &[(&str, &str)]| {
        let mut vars = vec![("TESTAPP_NO_TELEMETRY", value)];
        vars.extend_from_slice(extra);
        sandbox.config_with_env(&vars).env(|mut e| {
            e.legacy.push(("TESTAPP_NO_TELEMETRY".into(), Polarity::Disables));
            e
        })
    };
    assert_eq!(resolved(disables("1", &[])), (Level::Off, var("TESTAPP_NO_TELEMETRY")));
    assert_eq!(resolved(disables("yes", &[])), (Level::Off, var("TESTAPP_NO_TELEMETRY")));
    // "Do not disable" is not "enable": the next source decides.
    assert_eq!(resolved(disables("0", &[])), (Level::Usage, ConsentSource::Default));
    assert_eq!(
        resolved(disables("false", &[("DO_NOT_TRACK", "1")])),
        (Level::Off, ConsentSource::DoNotTrack)
    );
    // Unknown values fail closed whatever the polarity.
    assert_eq!(resolved(disables("perhaps", &[])), (Level::Off, var("TESTAPP_NO_TELEMETRY")));

    // The main variable is read first.
    let both = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "full"), ("TESTAPP_NO_TELEMETRY", "1")]).env(
        |mut e| {
            e.legacy.push(("TESTAPP_NO_TELEMETRY".into(), Polarity::Disables));
            e
        },
    );
    assert_eq!(resolved(both), (Level::Full, var("TESTAPP_TELEMETRY")));
}

#[test]
fn unknown_values_fail_closed() {
    let sandbox = Sandbox::new();
    for value in ["maybe", "2", "offf", "enable"] {
        let config = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", value)]).default_level(Level::Full);
        assert_eq!(resolved(config), (Level::Off, var("TESTAPP_TELEMETRY")), "{value:?}");
    }
    // Empty or blank decides nothing.
    let blank = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "  "), ("DO_NOT_TRACK", "")]);
    assert_eq!(resolved(blank), (Level::Usage, ConsentSource::Default));
}

#[test]
fn do_not_track_outranks_persisted_ci_and_default() {
    let sandbox = Sandbox::new();
    Telemetry::new(sandbox.config()).unwrap().save_consent(Some(Level::Full)).unwrap();
    for value in ["1", "true", "yes", "anything"] {
        let config = sandbox.config_with_env(&[("DO_NOT_TRACK", value), ("CI", "true")]);
        assert_eq!(resolved(config), (Level::Off, ConsentSource::DoNotTrack), "DO_NOT_TRACK={value}");
    }
    for value in ["0", "false", ""] {
        let config = sandbox.config_with_env(&[("DO_NOT_TRACK", value)]);
        assert_eq!(
            resolved(config).1,
            ConsentSource::Persisted(sandbox.config_dir().join("telemetry_consent"))
        );
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn persisted_choice_is_private_read_by_a_new_client_and_outranks_ci() {
    let sandbox = Sandbox::new();
    let first = Telemetry::new(sandbox.config()).unwrap();
    let path = Status::of(&first).consent_path.unwrap();
    assert!(path.starts_with(sandbox.config_dir()));
    assert!(!path.exists(), "nothing is written until the user chooses");
    first.save_consent(Some(Level::Off)).unwrap();
    assert!(path.exists());
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    // The choice applies at once to the client that saved it...
    assert_eq!((first.level(), first.consent().source), (Level::Off, ConsentSource::Persisted(path.clone())));

    // ...and to a new client (a new run) with the same config directory.
    let (level, source) = resolved(sandbox.config());
    assert_eq!((level, source), (Level::Off, ConsentSource::Persisted(path.clone())));

    first.save_consent(Some(Level::Full)).unwrap();
    let with_ci = sandbox.config_with_env(&[("CI", "true"), ("GITHUB_ACTIONS", "true")]);
    assert_eq!(resolved(with_ci), (Level::Full, ConsentSource::Persisted(path.clone())));

    // An environment variable set by the user still outranks the saved choice.
    let env_wins = Telemetry::new(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "off")])).unwrap();
    env_wins.save_consent(Some(Level::Full)).unwrap();
    assert_eq!(env_wins.consent().source, var("TESTAPP_TELEMETRY"));
    assert_eq!(env_wins.level(), Level::Off);

    // Forgetting it falls back to CI detection and the default.
    first.save_consent(None).unwrap();
    assert!(!path.exists());
    assert_eq!(first.consent().source, ConsentSource::Default);
}

#[test]
fn a_corrupt_persisted_choice_fails_closed() {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.config_dir()).unwrap();
    let path = sandbox.config_dir().join("telemetry_consent");
    std::fs::write(&path, "\u{fffd} garbage").unwrap();
    assert_eq!(
        resolved(sandbox.config().default_level(Level::Full)),
        (Level::Off, ConsentSource::Persisted(path))
    );
}

#[test]
fn ci_turns_telemetry_off_unless_detection_is_disabled() {
    let sandbox = Sandbox::new();
    assert_eq!(resolved(sandbox.config_with_env(&[("CI", "true")])), (Level::Off, ConsentSource::Ci("CI")));
    assert_eq!(
        resolved(sandbox.config_with_env(&[("GITHUB_ACTIONS", "true")])),
        (Level::Off, ConsentSource::Ci("GITHUB_ACTIONS"))
    );
    assert_eq!(resolved(sandbox.config_with_env(&[("CI", "false")])), (Level::Usage, ConsentSource::Default));
    assert_eq!(
        resolved(
            sandbox
                .config_with_env(&[("CI", "true")])
                .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
        ),
        (Level::Usage, ConsentSource::Default)
    );
}

#[test]
fn the_default_level_decides_last() {
    let sandbox = Sandbox::new();
    assert_eq!(resolved(sandbox.config()), (Level::Usage, ConsentSource::Default));
    assert_eq!(resolved(sandbox.config().default_level(Level::Off)), (Level::Off, ConsentSource::Default));
    // Config::new is opt-in.
    let opt_in = Config::new("testapp", "1").environment(|_| None).dirs(|d| telemetry_runtime::Dirs {
        cache: Some(sandbox.cache_dir()),
        config: Some(sandbox.config_dir()),
        ..d
    });
    assert_eq!(resolved(opt_in), (Level::Off, ConsentSource::Default));
}
