//! Debug output privacy: what `StderrSink` prints (and every log record,
//! echoed to stderr) at each consent level, read from a child process's real
//! stderr. Redacted values never appear; opt-in values only at Full; at Off
//! nothing is printed at all.

use std::time::Duration;

use telemetry_runtime::sink::StderrSink;
use telemetry_runtime::{Level, Telemetry, TelemetryEvent};
use telemetry_tests::canary::Canary;
use telemetry_tests::{child, logs, Sandbox, SOON};

/// A form was submitted: one field of every classification.
#[derive(TelemetryEvent)]
struct FormSubmitted {
    /// Which form, from a fixed list.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    form: String,
    /// The text the user entered: only with full consent.
    #[telemetry(opt_in)]
    entered: String,
    /// Never sent.
    #[telemetry(redact)]
    secret_dropped: String,
    /// Sent as a marker.
    #[telemetry(redact = "marker")]
    secret_marked: String,
    /// Sent as its length.
    #[telemetry(redact = "length")]
    secret_measured: String,
    /// Sent as a keyed hash.
    #[telemetry(redact = "hash")]
    secret_hashed: String,
}

/// Sent only at Full, as a whole.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct FullOnlyDetail {
    /// Public within the event, but the event needs Full.
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    detail: String,
}

const KINDS: [&str; 7] = ["public", "optin", "optin_event", "drop", "marker", "length", "hash"];

/// The child's part: print events at `level` with canaries passed in the
/// environment, with every log record echoed to stderr too.
fn print_events(level: &str) {
    logs::install();
    let canary = |kind: &str| std::env::var(format!("CANARY_{}", kind.to_uppercase())).unwrap();
    let level: Level = level.parse().unwrap();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().consent(level).sink(StderrSink)).unwrap();
    telemetry.capture(&FormSubmitted {
        form: canary("public"),
        entered: canary("optin"),
        secret_dropped: canary("drop"),
        secret_marked: canary("marker"),
        secret_measured: canary("length"),
        secret_hashed: canary("hash"),
    });
    telemetry.capture(&FullOnlyDetail { detail: canary("optin_event") });
    child::report("flushed", telemetry.flush(SOON));
    child::report("shutdown", telemetry.shutdown(SOON));
}

#[test]
fn stderr_debug_output_respects_every_classification_at_every_level() {
    if let Some(level) = child::mode() {
        return print_events(&level);
    }
    for level in ["off", "usage", "full"] {
        let canaries: Vec<(&str, Canary)> = KINDS.iter().map(|kind| (*kind, Canary::new(kind))).collect();
        let names: Vec<(String, std::ffi::OsString)> = canaries
            .iter()
            .map(|(kind, canary)| (format!("CANARY_{}", kind.to_uppercase()), child::os(canary.text())))
            .collect();
        let envs: Vec<(&str, &std::ffi::OsStr)> = names
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_os_str()))
            .chain([("TELEMETRY_TESTS_ECHO_LOGS", std::ffi::OsStr::new("1"))])
            .collect();
        let output = child::run(
            "privacy_stderr::stderr_debug_output_respects_every_classification_at_every_level",
            level,
            &envs,
            Duration::from_secs(30),
        );
        assert!(output.success(), "{level}: the child failed:\n{}", output.stderr);
        assert_eq!(output.value("flushed"), Some("true"), "{level}");
        let printed =
            |kind: &str| canaries.iter().find(|(k, _)| *k == kind).unwrap().1.found_in_text(&output.stderr);

        for kind in ["drop", "marker", "length", "hash"] {
            assert!(!printed(kind), "{level}: the redacted ({kind}) value was printed:\n{}", output.stderr);
        }
        match level {
            "off" => {
                assert!(
                    !output.stderr.contains("[telemetry]"),
                    "nothing is printed at Off:\n{}",
                    output.stderr
                );
                assert!(KINDS.iter().all(|kind| !printed(kind)), "{}", output.stderr);
            }
            "usage" => {
                assert!(
                    printed("public"),
                    "positive control: the public value is printed:\n{}",
                    output.stderr
                );
                assert!(!printed("optin") && !printed("optin_event"), "opt-in at Usage:\n{}", output.stderr);
                assert!(output.stderr.contains("[redacted]"), "the marker stands in for the value");
            }
            _ => {
                assert!(printed("public") && printed("optin") && printed("optin_event"), "{}", output.stderr);
            }
        }
    }
}
