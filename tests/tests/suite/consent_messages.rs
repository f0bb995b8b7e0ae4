//! What the library tells the user about turning telemetry off names the
//! switch actually in use, with the value that works for it, and never a
//! variable that an explicit choice outranks. And a dedicated opt-in switch
//! (`Polarity::OptInFull`) raises consent to full.
//!
//! One test: it reads the log lines each step adds on its thread (a client
//! says what it decided while it is made, on the thread that makes it; the
//! other tests of the binary log meanwhile).

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{cli, Config, ConsentSource, Level, Polarity, Telemetry};
use telemetry_tests::{logs, Sandbox};

/// The log lines `make` adds on this thread, and what it returns.
fn logged<T>(make: impl FnOnce() -> T) -> (T, Vec<String>) {
    let before = logs::this_thread().len();
    let made = make();
    (made, logs::this_thread()[before..].iter().map(|l| l.message.clone()).collect())
}

fn enabled_line(lines: &[String]) -> String {
    lines.iter().find(|l| l.contains("telemetry enabled")).cloned().unwrap_or_else(|| panic!("{lines:?}"))
}

#[test]
fn messages_name_the_switch_in_use() {
    logs::install();
    let sandbox = Sandbox::new();
    let client = |config: Config| Telemetry::new(config.sink(MemorySink::new())).unwrap();

    // The main variable: the library's words.
    let (_c, lines) = logged(|| client(sandbox.config()));
    assert!(enabled_line(&lines).contains("Set TESTAPP_TELEMETRY=off to disable."), "{lines:?}");

    // A legacy variable that enabled it: its own name, and `false`, as such
    // variables are documented (`MCP_USE_ANONYMIZED_TELEMETRY=false`).
    let (c, lines) = logged(|| {
        client(sandbox.config_with_env(&[("MCP_USE_ANONYMIZED_TELEMETRY", "true")]).env(|mut e| {
            e.legacy.push(("MCP_USE_ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
            e
        }))
    });
    assert_eq!(c.consent().source, ConsentSource::EnvVar("MCP_USE_ANONYMIZED_TELEMETRY".into()));
    let line = enabled_line(&lines);
    assert!(line.contains("Set MCP_USE_ANONYMIZED_TELEMETRY=false to disable."), "{line}");
    assert!(!line.contains("=off"), "{line}");

    // The variable the program documents, when none decided.
    let (_c, lines) = logged(|| {
        client(
            sandbox
                .config()
                .env(|mut e| {
                    e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
                    e
                })
                .env(|e| telemetry_runtime::EnvVars { documented: Some("ANONYMIZED_TELEMETRY".into()), ..e }),
        )
    });
    assert!(enabled_line(&lines).contains("Set ANONYMIZED_TELEMETRY=false to disable."), "{lines:?}");
    assert!(Telemetry::new(
        sandbox.config().env(|e| telemetry_runtime::EnvVars { documented: Some("NOT_READ".into()), ..e })
    )
    .is_err());

    // An explicit choice outranks every variable: none is offered.
    let (c, lines) = logged(|| {
        client(
            sandbox
                .config_with_env(&[("ANONYMIZED_TELEMETRY", "true")])
                .env(|mut e| {
                    e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables));
                    e
                })
                .consent(Level::Usage),
        )
    });
    let line = enabled_line(&lines);
    assert!(!line.contains("Set ") && !line.contains("TELEMETRY="), "{line}");
    let mut status = Vec::new();
    cli::run_command(&c, &["status"], &mut status).unwrap();
    let status = String::from_utf8(status).unwrap();
    assert!(!status.contains("set TESTAPP_TELEMETRY="), "{status}");
    // ...and set_consent later is explicit too.
    let (_, lines) = logged(|| {
        let c = client(sandbox.config());
        c.set_consent(Level::Full);
    });
    let last = lines.iter().rev().find(|l| l.contains("telemetry enabled")).unwrap();
    assert!(!last.contains("Set "), "{last}");

    // A dedicated opt-in switch: truthy means full; the off switch it names
    // is the main variable, since the opt-in switch cannot turn it off.
    let trajectory = |value: &str, main: Option<&str>| {
        let mut vars = vec![("TESTAPP_LOG_TRAJECTORY", value)];
        vars.extend(main.map(|m| ("TESTAPP_TELEMETRY", m)));
        sandbox.config_with_env(&vars).default_level(Level::Off).env(|mut e| {
            e.legacy.push(("TESTAPP_LOG_TRAJECTORY".into(), Polarity::OptInFull));
            e
        })
    };
    for yes in ["1", "true", "yes", "on"] {
        let (c, lines) = logged(|| client(trajectory(yes, None)));
        assert_eq!(c.level(), Level::Full, "{yes}");
        assert!(enabled_line(&lines).contains("Set TESTAPP_TELEMETRY=off to disable."), "{lines:?}");
        assert_eq!(client(trajectory(yes, Some("off"))).level(), Level::Off, "off wins over {yes}");
    }
    for no in ["0", "false", "no", "off"] {
        assert_eq!(client(trajectory(no, None)).level(), Level::Off, "{no}");
        assert_eq!(client(trajectory(no, Some("on"))).level(), Level::Usage, "{no}");
    }
    let (c, lines) = logged(|| client(trajectory("maybe", Some("on"))));
    assert_eq!(c.level(), Level::Usage, "a value it does not understand never raises consent");
    assert!(lines.iter().any(|l| l.contains("TESTAPP_LOG_TRAJECTORY") && l.contains("maybe")), "{lines:?}");

    // A value it does not understand is named in the log when it is short
    // (a typo), and only by its length when it is long: a token pasted into
    // the variable by mistake never reaches a log, whole or in part.
    let (c, lines) = logged(|| client(sandbox.config_with_env(&[("TESTAPP_TELEMETRY", "flase")])));
    assert_eq!(c.level(), Level::Off);
    assert!(lines.iter().any(|l| l.contains("TESTAPP_TELEMETRY") && l.contains("\"flase\"")), "{lines:?}");
    let token = "phx_8f2KqXw3mZt9RbV1cYp5LdN7hJs4GuE6aTiO0";
    for (name, polarity) in
        [("TESTAPP_TELEMETRY", Polarity::Enables), ("TESTAPP_LOG_TRAJECTORY", Polarity::OptInFull)]
    {
        let config = sandbox.config_with_env(&[(name, token)]).env(|mut e| {
            e.legacy.push(("TESTAPP_LOG_TRAJECTORY".into(), polarity));
            e
        });
        let (_c, lines) = logged(|| client(config));
        let about = lines
            .iter()
            .find(|l| l.contains(name) && l.contains("Unrecognised"))
            .unwrap_or_else(|| panic!("{lines:?}"));
        assert!(about.contains(&format!("of {} characters", token.len())), "{about}");
        let leaked =
            token.as_bytes().windows(6).any(|piece| about.contains(std::str::from_utf8(piece).unwrap()));
        assert!(!leaked, "a piece of the value reached the log: {about}");
    }
}
