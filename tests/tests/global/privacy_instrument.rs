//! Instrumented functions never put an error's message, or an argument not
//! named in `args(...)`, on the wire: only the error's type name. Through
//! the global client, so a process of its own and a single test.

use std::fmt;

use telemetry_runtime::{requires_telemetry, Level};
use telemetry_tests::canary::Canary;
use telemetry_tests::{child, logs, posthog_sink, Sandbox, TestServer, SOON};

/// An error whose message carries whatever the function was working on.
#[derive(Debug)]
struct FetchError {
    message: String,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FetchError {}

#[requires_telemetry(instrument, args(retries))]
fn fetch(url: &str, retries: u32) -> Result<usize, FetchError> {
    if url.is_empty() {
        return Ok(retries as usize);
    }
    Err(FetchError { message: format!("cannot fetch {url} after {retries} retries") })
}

#[requires_telemetry(instrument, name = "load_profile")]
fn load(path: String) -> Result<(), String> {
    Err(format!("no such file: {path}"))
}

#[requires_telemetry(instrument)]
fn lookup(key: &str) -> Option<String> {
    Some(format!("value of {key}"))
}

#[test]
fn instrumented_calls_send_the_error_type_never_the_message_or_unnamed_arguments() {
    child::isolated(
        "privacy_instrument::instrumented_calls_send_the_error_type_never_the_message_or_unnamed_arguments",
        || {
            logs::install();
            let url = Canary::new("argument_url");
            let path = Canary::new("argument_path");
            let key = Canary::new("argument_key");
            let server = TestServer::start();
            let sandbox = Sandbox::new();
            let guard = telemetry_runtime::init(
                sandbox
                    .config()
                    .consent(Level::Full)
                    .sink(posthog_sink(&server))
                    .delivery(telemetry_tests::on_flush),
            )
            .unwrap();

            // The functions behave exactly as written, message included...
            let err = fetch(&url.text(), 2).unwrap_err();
            assert!(url.found_in_text(&err.to_string()));
            assert!(path.found_in_text(&load(path.text()).unwrap_err()));
            assert!(key.found_in_text(&lookup(&key.text()).unwrap()));
            assert_eq!(fetch("", 5).unwrap(), 5);
            assert!(telemetry_runtime::global().unwrap().flush(SOON));

            // ...and what leaves is the outcome, the type and the named argument.
            let events = server.accepted_events();
            let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
            assert_eq!(names, ["fetch", "load_profile", "lookup", "fetch"]);
            let props = |i: usize| events[i]["properties"].clone();
            assert_eq!(props(0)["outcome"], "error");
            assert!(props(0)["error_type"].as_str().unwrap().ends_with("FetchError"), "{}", props(0));
            assert_eq!(props(0)["retries"], 2);
            assert_eq!(props(1)["outcome"], "error");
            assert_eq!(props(1)["error_type"], "alloc::string::String");
            assert_eq!(props(2)["outcome"], "ok");
            assert_eq!(props(3)["outcome"], "ok");
            for (i, event) in events.iter().enumerate() {
                assert!(event["properties"]["duration_ms"].as_f64().is_some(), "event {i}");
                assert!(
                    event["properties"].get("url").is_none() && event["properties"].get("path").is_none()
                );
            }

            // Not even at Full: no byte the server read carries a message or an
            // unnamed argument, and neither does any log record.
            let raw = server.raw_bytes().concat();
            let log_text: String = logs::lines().into_iter().map(|l| l.message + "\n").collect();
            for (what, canary) in [("url argument and error message", &url), ("path", &path), ("key", &key)] {
                assert!(!canary.found_in(&raw), "the {what} canary went on the wire");
                assert!(!server.received(canary.text().as_bytes()), "the {what} canary is in a body");
                assert!(!canary.found_in_text(&log_text), "the {what} canary was logged");
            }

            // With consent off, instrumented calls open no connection.
            let before = server.connections();
            telemetry_runtime::global().unwrap().set_consent(Level::Off);
            let _ = fetch(&url.text(), 1);
            let _ = telemetry_runtime::global().unwrap().flush(SOON);
            assert_eq!(server.connections(), before);
            assert_eq!(server.accepted_events().len(), 4);
            drop(guard);
        },
    );
}
