//! The `clap` feature: a host program built on clap's derive mounts the
//! ready `telemetry` subcommand and the `--no-telemetry` flag; every
//! subcommand parses, and running it does what `cli::run_command` does
//! with the same words.

use clap::{Parser, Subcommand};
use telemetry_runtime::cli::{self, NoTelemetry, TelemetryArgs};
use telemetry_runtime::{ConsentSource, Level, Telemetry};
use telemetry_tests::Sandbox;

/// A host program: `host [--no-telemetry] <build | telemetry [...]>`.
#[derive(Parser, Debug)]
#[command(name = "host")]
struct Host {
    #[command(flatten)]
    telemetry: NoTelemetry,
    #[command(subcommand)]
    command: HostCommand,
}

#[derive(Subcommand, Debug, PartialEq)]
enum HostCommand {
    /// Build the project.
    Build,
    /// See or change what telemetry collects.
    Telemetry(TelemetryArgs),
}

/// The words after `telemetry` of every subcommand (what each one is, is
/// checked by running it: `running_a_parsed_subcommand_does_what_run_command_does`).
fn commands() -> Vec<&'static [&'static str]> {
    vec![
        &[],
        &["status"],
        &["on"],
        &["full"],
        &["off"],
        &["local"],
        &["reset"],
        &["catalog"],
        &["catalog", "--json"],
        &["preview"],
        &["preview", "--full"],
        &["report"],
        &["report", "--html", "page.html"],
    ]
}

telemetry_runtime::event! {
    /// An event of the host, so that the catalog and preview list one.
    static BUILT = "built" {
        /// How long the build took.
        seconds: u64,
    }
}

fn parse(args: &[&str]) -> Result<Host, clap::Error> {
    Host::try_parse_from(std::iter::once("host").chain(args.iter().copied()))
}

fn telemetry_args(words: &[&str]) -> TelemetryArgs {
    let argv = [&["telemetry"][..], words].concat();
    match parse(&argv) {
        Ok(Host { command: HostCommand::Telemetry(args), .. }) => args,
        other => panic!("{argv:?} parsed as {other:?}"),
    }
}

#[test]
fn every_subcommand_parses() {
    for words in commands() {
        telemetry_args(words);
    }
    for bad in [
        &["telemetry", "bogus"][..],
        &["telemetry", "catalog", "--full"],
        &["telemetry", "preview", "--json"],
        &["telemetry", "status", "now"],
        &["telemetry", "--json"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?} was accepted");
    }
    // The doc comments are the help.
    let help = parse(&["telemetry", "--help"]).unwrap_err().render().to_string();
    for line in [
        "status   Show what telemetry does now, and why",
        "off      Save your choice: send nothing",
        "catalog  List every event and field the program can send",
        "preview  Show the events as they would be sent, with placeholder values",
    ] {
        assert!(help.contains(line), "{line:?} not in:\n{help}");
    }
}

#[test]
fn the_no_telemetry_flag_goes_anywhere_and_outranks_every_other_source() {
    for argv in [
        &["--no-telemetry", "build"][..],
        &["build", "--no-telemetry"],
        &["telemetry", "--no-telemetry", "status"],
        &["telemetry", "off", "--no-telemetry"],
    ] {
        let host = parse(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        assert!(host.telemetry.no_telemetry, "{argv:?}");
    }
    let without = parse(&["build"]).unwrap();
    assert!(!without.telemetry.no_telemetry);

    // Without the flag the sandbox's default (usage) and even the user's
    // variable decide; with it, telemetry is off whatever they say.
    let sandbox = Sandbox::new();
    let env = [("TESTAPP_TELEMETRY", "full")];
    let client = Telemetry::new(without.telemetry.configure(sandbox.config_with_env(&env))).unwrap();
    assert_eq!(client.level(), Level::Full);
    let flagged = parse(&["build", "--no-telemetry"]).unwrap();
    let client = Telemetry::new(flagged.telemetry.configure(sandbox.config_with_env(&env))).unwrap();
    assert_eq!((client.level(), client.consent().source), (Level::Off, ConsentSource::Explicit));
    assert!(!client.is_enabled());
}

/// What running a subcommand came to, with the sandbox's path replaced.
#[derive(Debug, PartialEq)]
struct Outcome {
    result: Result<(), String>,
    output: String,
    level: Level,
    source: String,
    saved_choice: Option<String>,
    id_exists: bool,
}

/// Runs `run` on a fresh client whose user saved "full" and has an id.
fn outcome(run: impl FnOnce(&Telemetry, &mut Vec<u8>) -> std::io::Result<()>) -> Outcome {
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
    std::fs::create_dir_all(sandbox.config_dir()).unwrap();
    let id_file = sandbox.cache_dir().join("telemetry_user_id");
    let choice_file = sandbox.config_dir().join("telemetry_consent");
    std::fs::write(&id_file, "5f1a6f2e-9d7b-4c3e-8a41-2b6c0d9e7f10\n").unwrap();
    std::fs::write(&choice_file, "full\n").unwrap();
    let client = Telemetry::new(sandbox.config()).unwrap();
    let mut out = Vec::new();
    let result = run(&client, &mut out).map_err(|e| e.to_string());
    let root = sandbox.path().to_str().unwrap();
    let consent = client.consent();
    Outcome {
        result,
        output: String::from_utf8(out).unwrap().replace(root, "<sandbox>"),
        level: consent.level,
        source: consent.source.to_string().replace(root, "<sandbox>"),
        saved_choice: std::fs::read_to_string(&choice_file).ok(),
        id_exists: id_file.exists(),
    }
}

#[test]
fn running_a_parsed_subcommand_does_what_run_command_does() {
    // `report --html` writes a file: tests/suite/reports.rs runs it.
    for words in commands().into_iter().filter(|words| !words.contains(&"--html")) {
        let via_clap = outcome(|client, out| telemetry_args(words).run(client, out));
        let via_words = outcome(|client, out| cli::run_command(client, words, out));
        assert_eq!(via_clap, via_words, "{words:?}");
        assert_eq!(via_clap.result, Ok(()), "{words:?}");

        // And what that is, so that both cannot be wrong the same way.
        let saved = via_clap.saved_choice.as_deref();
        let output = &via_clap.output;
        match words {
            [] | ["status"] => {
                assert!(
                    output.starts_with("Telemetry: full (decided by saved choice in <sandbox>"),
                    "{output}"
                )
            }
            ["on"] => assert_eq!((saved, via_clap.level), (Some("usage\n"), Level::Usage)),
            ["full"] => assert_eq!((saved, via_clap.level), (Some("full\n"), Level::Full)),
            ["off"] => assert_eq!((saved, via_clap.level), (Some("off\n"), Level::Off)),
            ["local"] => assert_eq!(saved, Some("local\n")),
            ["reset"] => {
                // The id goes; the user's choice stays.
                assert_eq!((saved, via_clap.id_exists), (Some("full\n"), false));
                assert!(output.contains("Telemetry: full (decided by saved choice"), "{output}");
            }
            ["catalog"] => assert!(output.contains("`built`") && output.contains("seconds"), "{output}"),
            ["catalog", "--json"] => {
                let json: serde_json::Value = serde_json::from_str(output).unwrap();
                assert!(json["events"].as_array().unwrap().iter().any(|e| e["name"] == "built"));
            }
            ["preview"] => assert!(output.starts_with("Events as sent at level \"usage\""), "{output}"),
            ["preview", "--full"] => {
                assert!(output.starts_with("Events as sent at level \"full\""), "{output}")
            }
            ["report"] => assert!(output.starts_with("This program does not report by period"), "{output}"),
            other => panic!("no expectation for {other:?}"),
        }
        if !matches!(words, ["on" | "full" | "off" | "local" | "reset"]) {
            assert_eq!((saved, via_clap.id_exists), (Some("full\n"), true), "{words:?} changed a file");
        }
    }
}
