//! Wire privacy of derived events: a canary string in every redacted field
//! and every opt-in field, and a search of every byte delivered, to the
//! memory sink and to a real HTTP server on 127.0.0.1, at each consent level.
//! A redacted canary must never appear; an opt-in canary only at `Full`.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use telemetry_runtime::sink::HttpSink;
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Config, Level, Telemetry, TelemetryEvent};
use telemetry_tests::{Request, TestServer};

const SOON: Duration = Duration::from_secs(10);

/// Values that must never leave the process, whatever the level.
const REDACTED: [&str; 7] = [
    "CANARY-redact-kqzv",
    "CANARY-drop-jwxp",
    "CANARY-marker-ymrt",
    "CANARY-hash-vnqk",
    "CANARY-length-xzpl",
    "CANARY-opthash-wqjm",
    "CANARY-skip-tzrk",
];

/// Values that leave the process only at `Full`.
const OPT_IN: [&str; 4] =
    ["CANARY-optin-plxq", "CANARY-optmaybe-zvmw", "CANARY-optlist-qkry", "CANARY-event-jtzn"];

/// A value that is public: it must be found, which shows the search looks
/// at the right bytes.
const PUBLIC: &str = "PUBLIC-control-gqhs";

/// Every way a value can be kept back.
#[derive(TelemetryEvent)]
struct Secrets<'a> {
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    label: &'a str,
    #[telemetry(redact)]
    token: String,
    #[telemetry(redact = "drop")]
    password: &'a str,
    #[telemetry(redact = "marker")]
    cookie: String,
    #[telemetry(redact = "hash")]
    server_url: String,
    #[telemetry(redact = "length")]
    prompt: Cow<'a, str>,
    #[telemetry(redact = "hash")]
    maybe_host: Option<String>,
    #[telemetry(skip)]
    #[allow(dead_code)]
    scratch: String,
    #[telemetry(opt_in)]
    query: String,
    #[telemetry(opt_in)]
    maybe_query: Option<String>,
    #[telemetry(opt_in)]
    history: Vec<String>,
}

/// An event sent only with full consent.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct FullOnlySummary<'a> {
    #[telemetry(public, reason = "a value the test chose, not one a user gave")]
    summary: &'a str,
}

fn secrets() -> Secrets<'static> {
    Secrets {
        label: PUBLIC,
        token: REDACTED[0].into(),
        password: REDACTED[1],
        cookie: REDACTED[2].into(),
        server_url: REDACTED[3].into(),
        prompt: Cow::Borrowed(REDACTED[4]),
        maybe_host: Some(REDACTED[5].into()),
        scratch: REDACTED[6].into(),
        query: OPT_IN[0].into(),
        maybe_query: Some(OPT_IN[1].into()),
        history: vec!["first".into(), OPT_IN[2].into()],
    }
}

fn config(level: Level, dir: &Path) -> Config {
    Config::new("wiretest", "1.0.0").consent(level).environment(|_| None).dirs(|d| telemetry_runtime::Dirs {
        cache: Some(dir.join("cache")),
        config: Some(dir.join("config")),
        ..d
    })
}

/// Captures the events at `level` through `client`, flushes.
fn capture_all(client: &Telemetry) {
    for _ in 0..3 {
        client.capture(&secrets());
        client.capture(&FullOnlySummary { summary: OPT_IN[3] });
    }
    assert!(client.flush(SOON), "delivered in time");
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Checks `bytes` (everything delivered at `level`) for every canary.
fn check_bytes(level: Level, bytes: &[u8]) {
    for canary in REDACTED {
        assert!(!contains(bytes, canary), "{canary} was delivered at {level:?}");
    }
    // A fragment too: a canary cut or escaped differently is still a leak.
    // (The tails are not hex, so they cannot turn up in a hash or a uuid.)
    for canary in REDACTED.iter().chain(OPT_IN.iter()) {
        let tail = &canary[canary.len() - 4..];
        let leaked = contains(bytes, tail);
        if level == Level::Full && OPT_IN.contains(canary) {
            continue;
        }
        assert!(!leaked, "a fragment of {canary} was delivered at {level:?}");
    }
    for canary in OPT_IN {
        let expected = level == Level::Full;
        assert_eq!(contains(bytes, canary), expected, "{canary} at {level:?}");
    }
    let expected = level != Level::Off;
    assert_eq!(contains(bytes, PUBLIC), expected, "the public control value at {level:?}");
}

/// No file the client wrote holds a canary either.
fn check_files(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            for canary in REDACTED.iter().chain(OPT_IN.iter()) {
                assert!(!contains(&bytes, canary), "{canary} written to {}", path.display());
            }
        }
    }
}

#[test]
fn memory_sink_bytes_hold_no_canary_that_the_level_forbids() {
    for level in [Level::Off, Level::Usage, Level::Full] {
        let dir = tempfile::tempdir().unwrap();
        let memory = MemorySink::new();
        let client = Telemetry::new(config(level, dir.path()).sink(memory.clone())).unwrap();
        capture_all(&client);
        let raw = memory.raw();
        let expected = match level {
            Level::Off => 0,
            Level::Usage => 3,
            Level::Full => 6,
            other => unreachable!("{other:?}"),
        };
        assert_eq!(raw.len(), expected, "{level:?}");
        check_bytes(level, raw.concat().as_bytes());
        check_files(dir.path());
        // The redacted forms are there, in place of the values.
        for event in memory.events().iter().filter(|e| e["event"] == "secrets") {
            let props = &event["properties"];
            assert_eq!(props["cookie"], "[redacted]");
            assert_eq!(props["server_url"].as_str().map(str::len), Some(32));
            assert_eq!(props["maybe_host"].as_str().map(str::len), Some(32));
            assert_eq!(props["prompt"], REDACTED[4].chars().count());
        }
    }
}

/// Everything a request carried: request line, headers and body.
fn request_bytes(request: &Request) -> Vec<u8> {
    let mut bytes = format!("{} {}\r\n", request.method, request.path).into_bytes();
    for (name, value) in &request.headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    bytes.extend_from_slice(&request.body);
    bytes
}

#[test]
fn http_request_bytes_hold_no_canary_that_the_level_forbids() {
    for level in [Level::Off, Level::Usage, Level::Full] {
        let server = TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        let sink = HttpSink::new(format!("{}/v1/events", server.url())).unwrap().http(|h| {
            telemetry_runtime::sink::HttpOptions {
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(5),
                ..h
            }
        });
        let client = Telemetry::new(config(level, dir.path()).sink(sink)).unwrap();
        capture_all(&client);
        let expected = match level {
            Level::Off => 0,
            Level::Usage => 3,
            Level::Full => 6,
            other => unreachable!("{other:?}"),
        };
        if expected > 0 {
            assert!(server.wait_for_accepted_events(expected, SOON), "{level:?}: {:?}", server.requests());
        } else {
            // Give a wrongly started worker the time to send something.
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(client.shutdown(SOON));
        let requests = server.requests();
        assert_eq!(server.accepted_events().len(), expected, "{level:?}");
        let bytes: Vec<u8> = requests.iter().flat_map(request_bytes).collect();
        check_bytes(level, &bytes);
        check_files(dir.path());
    }
}
