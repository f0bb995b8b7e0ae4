//! Bad input from the environment, the disk and the caller: each gets a
//! defined outcome, says so in the log, and never panics.
//!
//! - unknown consent values (also non-UTF-8 in a real process environment):
//!   off, with a warning that names the variable;
//! - a corrupt, unreadable or misplaced id file, an unwritable cache or
//!   config directory: a per-process id or key, a warning, delivery goes on;
//!   a consent choice that cannot be saved is an `Err`, nothing changes;
//! - odd and lossy strings: sent as they are, as valid JSON;
//! - NaN and infinities: omitted (kept in place as `null` inside a list);
//! - deeply nested properties: must not take the host down.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::MemorySink;
use telemetry_runtime::{ConsentSource, DropReason, Level, Polarity, Properties, Telemetry, Value};
use telemetry_tests::{child, logs, posthog_sink, Sandbox, TestServer, SOON};

/// Two lists, one inside the other.
type Nest2<T> = Vec<Vec<T>>;
/// Ten lists, one inside the other.
type Nest10<T> = Nest2<Nest2<Nest2<Nest2<Nest2<T>>>>>;
/// Ten lists, one inside the other, around a number.
type Nested10 = Nest10<u64>;
/// Forty lists around a number: deeper than the runtime lets through.
type TooDeep = Nest10<Nest10<Nest10<Nest10<u64>>>>;

telemetry_runtime::event! {
    /// Shows which distinct id a client sends.
    static WHOAMI = "whoami" {
        /// A keyed hash, to check the hash key works.
        #[telemetry(redact = "hash")]
        hashed: String,
    }
}

telemetry_runtime::event! {
    /// Carries one odd string.
    static ODD_TEXT = "odd_text" {
        /// Which string.
        i: u64,
        /// The string, from the test's fixed list.
        #[telemetry(public)]
        value: String,
    }
}

telemetry_runtime::event! {
    /// Carries extreme and non-finite numbers.
    static NUMBERS = "numbers" {
        nan: f64,
        inf: f64,
        neg_inf: f64,
        nan32: f32,
        neg_zero: f64,
        tiny: f64,
        max: f64,
        i64_min: i64,
        u64_max: u64,
        in_list: Vec<f64>,
    }
}

telemetry_runtime::event! {
    /// Carries lists nested ten deep.
    static NESTED_TEN = "nested_ten" {
        /// Ten lists, one inside the other, around a number.
        v: Nested10,
    }
}

telemetry_runtime::event! {
    /// Captured before the event nested too deep.
    static BEFORE_DEEP = "before_deep" {}
}

telemetry_runtime::event! {
    /// Carries lists nested deeper than JSON parsers accept.
    static TOO_DEEP = "too_deep" {
        /// Lists nested deeper than JSON parsers accept, around a number.
        v: TooDeep,
    }
}

telemetry_runtime::event! {
    /// Captured after the event nested too deep.
    static AFTER_DEEP = "after_deep" {}
}

telemetry_runtime::event! {
    /// Carries lists nested far deeper than JSON parsers accept.
    static VERY_DEEP = "very_deep" {
        /// Lists nested deeper than JSON parsers accept, around a number.
        v: TooDeep,
    }
}

telemetry_runtime::event! {
    /// Captured after the event nested far too deep.
    static AFTER_VERY_DEEP = "after_very_deep" {}
}

fn warned(text: &str) -> bool {
    logs::wait_for(SOON, |l| l.level == log::Level::Warn && l.message.contains(text)).is_some()
}

#[test]
fn unknown_consent_values_fail_closed_with_a_warning_naming_the_variable() {
    logs::install();
    let sandbox = Sandbox::new();
    let long = "x".repeat(1 << 20);
    let values = [
        "maybe",
        "\u{FFFD}\u{FFFD}",      // what a lossy non-UTF-8 value becomes
        "on\u{0}",               // an embedded NUL
        "TRUE\u{200B}",          // a zero-width space is not trimmed away
        "\u{FF11}",              // a full-width digit one
        "\u{1b}[31mon\u{1b}[0m", // terminal colour codes
        "yes please",
        "o\u{301}n",   // a combining accent
        long.as_str(), // a megabyte of text
    ];
    for value in values {
        let config = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", value)]).default_level(Level::Full);
        let telemetry = Telemetry::new(config).unwrap();
        let consent = telemetry.consent();
        let shown: String = value.chars().take(20).collect();
        assert_eq!(consent.level, Level::Off, "{shown:?} fails closed");
        assert_eq!(consent.source, ConsentSource::EnvVar("TESTAPP_TELEMETRY".into()), "{shown:?}");
    }
    assert!(warned("in TESTAPP_TELEMETRY: telemetry is off"));

    // Legacy variables and DO_NOT_TRACK with odd values.
    let legacy = sandbox
        .config_with_env(&[("OLD_TELEMETRY", "\u{FFFD}")])
        .legacy_env_var("OLD_TELEMETRY", Polarity::Disables);
    assert_eq!(Telemetry::new(legacy).unwrap().level(), Level::Off);
    assert!(warned("in OLD_TELEMETRY"));
    let dnt = sandbox.config_with_env(&[("DO_NOT_TRACK", "\u{FFFD}")]);
    assert_eq!(Telemetry::new(dnt).unwrap().consent().source, ConsentSource::DoNotTrack);

    // Whitespace around a known value is not "unknown".
    let padded = sandbox.config_with_env(&[("TESTAPP_TELEMETRY", " \tFull\r\n")]);
    assert_eq!(Telemetry::new(padded).unwrap().level(), Level::Full);
}

/// The child's part: a client reading the real process environment.
fn resolve_from_process_environment() {
    let sandbox = Sandbox::new();
    let config = telemetry_runtime::Config::new("testapp", "1")
        .default_level(Level::Usage)
        .detect_ci(false)
        .cache_dir(sandbox.cache_dir())
        .config_dir(sandbox.config_dir());
    let consent = Telemetry::new(config).unwrap().consent();
    child::report("level", consent.level);
    child::report("source", format!("{:?}", consent.source));
}

#[cfg(unix)]
#[test]
fn non_utf8_values_in_the_real_environment_fail_closed() {
    use std::os::unix::ffi::OsStrExt;
    if child::mode().is_some() {
        return resolve_from_process_environment();
    }
    let cases: [(&str, &[u8], &str, &str); 4] = [
        ("TESTAPP_TELEMETRY", b"on\xff", "off", "EnvVar(\"TESTAPP_TELEMETRY\")"),
        ("TESTAPP_TELEMETRY", b"\xc3\x28", "off", "EnvVar(\"TESTAPP_TELEMETRY\")"),
        ("DO_NOT_TRACK", b"\xff\xfe", "off", "DoNotTrack"),
        ("UNRELATED", b"\xff", "usage", "Default"),
    ];
    for (name, bytes, level, source) in cases {
        let value = OsStr::from_bytes(bytes);
        let output =
            child::run("non_utf8_values_in_the_real_environment_fail_closed", "env", &[(name, value)], SOON);
        assert!(output.success(), "{name}={bytes:?}: the child failed:\n{}", output.stderr);
        assert_eq!(output.value("level"), Some(level), "{name}={bytes:?}");
        assert_eq!(output.value("source"), Some(source), "{name}={bytes:?}");
    }
}

/// Captures one event on a fresh client and returns its distinct id.
fn distinct_id_of_a_new_client(sandbox: &Sandbox) -> String {
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with(&WHOAMI, Properties::new().with("hashed", Value::hashed("not a secret")));
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1, "delivery goes on: {:?}", telemetry.stats());
    let hashed = events[0]["properties"]["hashed"].as_str().unwrap();
    assert!(hashed.len() == 32 && hashed.bytes().all(|b| b.is_ascii_hexdigit()), "{hashed}");
    events[0]["distinct_id"].as_str().unwrap().to_owned()
}

fn assert_fresh_v4(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a uuid"));
    assert_eq!(uuid.get_version_num(), 4, "{id}");
}

#[test]
fn a_corrupt_id_file_gives_a_per_process_id_a_warning_and_is_left_alone() {
    logs::install();
    let corrupt: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("text", b"definitely not a uuid".to_vec()),
        ("binary", vec![0xff, 0xfe, 0x00, 0x80, 0x0a]),
        ("nil uuid", b"00000000-0000-0000-0000-000000000000".to_vec()),
        ("uuid and junk", b"6f1c1e0e-2f4b-4c8e-9d3a-1b2c3d4e5f60 and more".to_vec()),
        ("a megabyte", vec![b'7'; 1 << 20]),
    ];
    for (case, contents) in corrupt {
        let sandbox = Sandbox::new();
        std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
        let path = sandbox.cache_dir().join("telemetry_user_id");
        std::fs::write(&path, &contents).unwrap();
        let a = distinct_id_of_a_new_client(&sandbox);
        let b = distinct_id_of_a_new_client(&sandbox);
        assert_fresh_v4(&a);
        assert_ne!(a, b, "{case}: a fallback id is never shared between processes");
        assert_eq!(std::fs::read(&path).unwrap(), contents, "{case}: the file is left for the user");
        let (named, fallback) = (path.display().to_string(), "using a per-process telemetry id");
        assert!(
            logs::wait_for(SOON, |l| l.message.contains(&named) && l.message.contains(fallback)).is_some(),
            "{case}: no warning"
        );
    }
}

#[test]
fn an_unreadable_id_file_gives_a_per_process_id_and_a_warning() {
    logs::install();
    // A directory where the id file should be: unreadable as a file, for
    // every user, including root.
    let sandbox = Sandbox::new();
    let path = sandbox.cache_dir().join("telemetry_user_id");
    std::fs::create_dir_all(&path).unwrap();
    let (a, b) = (distinct_id_of_a_new_client(&sandbox), distinct_id_of_a_new_client(&sandbox));
    assert_fresh_v4(&a);
    assert_ne!(a, b);
    assert!(warned(&format!("Cannot read the telemetry id file {}", path.display())));

    // A file without read permission: only meaningful when permissions bind.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let sandbox = Sandbox::new();
        std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
        let path = sandbox.cache_dir().join("telemetry_user_id");
        std::fs::write(&path, uuid::Uuid::new_v4().to_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&path).is_ok() {
            eprintln!("note: running as root, chmod 000 does not stop reads: the mode-000 case is skipped");
        } else {
            let (a, b) = (distinct_id_of_a_new_client(&sandbox), distinct_id_of_a_new_client(&sandbox));
            assert_ne!(a, b);
            assert!(warned(&format!("Cannot read the telemetry id file {}", path.display())));
        }
    }
}

/// Makes `dir` refuse new files: by its mode where that binds, else (as
/// root, whom modes do not stop) by putting a directory where the runtime
/// writes its temporary file (`<name>.tmp<pid>`) before renaming it.
/// Returns whether writes of `name` will fail.
fn make_unwritable(dir: &Path, name: &str) -> bool {
    std::fs::create_dir_all(dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(dir.join("probe"), "").is_err() {
            return true;
        }
        std::fs::remove_file(dir.join("probe")).unwrap();
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    eprintln!("note: running as root; {name} is made unwritable through its temporary file name");
    std::fs::create_dir(dir.join(format!("{name}.tmp{}", std::process::id()))).unwrap();
    true
}

#[test]
fn a_cache_directory_that_cannot_be_created_gives_per_process_ids_and_delivery_goes_on() {
    logs::install();
    let sandbox = Sandbox::new();
    // A file where the cache directory should be: fails for root too.
    std::fs::write(sandbox.cache_dir(), "").unwrap();
    let (a, b) = (distinct_id_of_a_new_client(&sandbox), distinct_id_of_a_new_client(&sandbox));
    assert_fresh_v4(&a);
    assert_ne!(a, b);
    assert!(warned("using a per-process telemetry id"));
}

#[test]
fn an_unwritable_cache_directory_gives_per_process_ids_and_keys_and_delivery_goes_on() {
    logs::install();
    let sandbox = Sandbox::new();
    assert!(make_unwritable(&sandbox.cache_dir(), "telemetry_user_id"));
    make_unwritable(&sandbox.cache_dir(), "telemetry_hash_key");
    let (a, b) = (distinct_id_of_a_new_client(&sandbox), distinct_id_of_a_new_client(&sandbox));
    assert_fresh_v4(&a);
    let id_file = sandbox.cache_dir().join("telemetry_user_id");
    if id_file.exists() {
        eprintln!("note: the id file was written after all (the runtime's temporary name changed?)");
        return;
    }
    assert_ne!(a, b, "no file, so a per-process id each time");
    assert!(warned("Cannot write the telemetry id"), "the id could not be saved and the log says so");
}

#[test]
fn a_consent_choice_that_cannot_be_saved_is_an_error_and_changes_nothing() {
    logs::install();
    let sandbox = Sandbox::new();
    make_unwritable(&sandbox.config_dir(), "telemetry_consent");
    let telemetry = Telemetry::new(sandbox.config()).unwrap();
    assert_eq!(telemetry.level(), Level::Usage);
    if telemetry.persist_consent(Level::Off).is_ok() {
        eprintln!("note: the choice was saved after all (the runtime's temporary name changed?)");
        return;
    }
    assert_eq!(telemetry.level(), Level::Usage, "a choice that was not saved is not applied either");
    assert_eq!(telemetry.consent().source, ConsentSource::Default);
}

#[test]
fn a_config_directory_that_is_not_a_directory_fails_closed() {
    logs::install();
    // A file where the config directory should be: the saved choice cannot
    // be read (it is not merely absent), so consent fails closed.
    let sandbox = Sandbox::new();
    std::fs::write(sandbox.config_dir(), "").unwrap();
    let telemetry = Telemetry::new(sandbox.config().default_level(Level::Full)).unwrap();
    assert_eq!(telemetry.level(), Level::Off);
    assert!(warned("Cannot read the telemetry choice"));
    assert!(telemetry.persist_consent(Level::Full).is_err(), "and it cannot be saved either");
    assert_eq!(telemetry.level(), Level::Off);

    // The same for a directory where the choice file should be.
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.config_dir().join("telemetry_consent")).unwrap();
    let telemetry = Telemetry::new(sandbox.config().default_level(Level::Full)).unwrap();
    assert_eq!(telemetry.level(), Level::Off);
    assert!(telemetry.persist_consent(Level::Full).is_err());
}

#[test]
fn odd_and_lossy_strings_arrive_as_valid_json_unchanged() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    let lossy = String::from_utf8_lossy(b"caf\xe9 \xff\xfe end").into_owned();
    let strings = [
        lossy.clone(),
        "nul\u{0}inside".to_owned(),
        "quote\" backslash\\ slash/ tab\t newline\n cr\r".to_owned(),
        "control \u{1}\u{1f}\u{7f} chars".to_owned(),
        "line sep \u{2028} para sep \u{2029}".to_owned(),
        "emoji \u{1F600} and \u{1F1EB}\u{1F1F7} flags".to_owned(),
        "right-to-left \u{202E}txet\u{202C}".to_owned(),
        "\u{FEFF}bom and \u{FFFF} nonchar".to_owned(),
        String::new(),
    ];
    for (i, text) in strings.iter().enumerate() {
        telemetry
            .capture_with(&ODD_TEXT, Properties::new().with("i", i).with("value", Value::text(text.clone())));
    }
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    assert_eq!(events.len(), strings.len());
    for event in events {
        let i = event["properties"]["i"].as_u64().unwrap() as usize;
        assert_eq!(event["properties"]["value"], strings[i].as_str(), "string {i}");
    }
    assert!(lossy.contains('\u{FFFD}'));
}

#[test]
fn non_finite_floats_are_omitted_and_extreme_numbers_are_exact() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(
        &NUMBERS,
        Properties::new()
            .with("nan", f64::NAN)
            .with("inf", f64::INFINITY)
            .with("neg_inf", f64::NEG_INFINITY)
            .with("nan32", f32::NAN)
            .with("neg_zero", -0.0f64)
            .with("tiny", 5e-324f64)
            .with("max", f64::MAX)
            .with("i64_min", i64::MIN)
            .with("u64_max", u64::MAX)
            .with("in_list", vec![1.5, f64::NAN, f64::INFINITY, 2.5]),
    );
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    let props = events[0]["properties"].as_object().unwrap();
    for omitted in ["nan", "inf", "neg_inf", "nan32"] {
        assert!(!props.contains_key(omitted), "{omitted} is omitted");
    }
    assert_eq!(props["neg_zero"].as_f64(), Some(0.0));
    assert_eq!(props["tiny"].as_f64(), Some(5e-324));
    assert_eq!(props["max"].as_f64(), Some(f64::MAX));
    assert_eq!(props["i64_min"].as_i64(), Some(i64::MIN));
    assert_eq!(props["u64_max"].as_u64(), Some(u64::MAX));
    // Inside a list a non-finite value keeps its place as null.
    assert_eq!(props["in_list"], serde_json::json!([1.5, null, null, 2.5]));
    assert_eq!(telemetry.stats().sent, 1);
}

/// `depth` lists, one inside the other, around a number.
fn nested(depth: usize) -> Value {
    let mut value = Value::from(1u8);
    for _ in 0..depth {
        value = Value::List(vec![value]);
    }
    value
}

#[test]
fn moderately_nested_properties_are_delivered() {
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(&NESTED_TEN, Properties::new().with("v", nested(10)));
    assert!(telemetry.flush(SOON));
    let events = server.accepted_events();
    let mut value = &events[0]["properties"]["v"];
    for _ in 0..10 {
        value = &value[0];
    }
    assert_eq!(value, 1);
}

#[test]
fn an_event_nested_deeper_than_parsers_accept_is_dropped_alone_with_a_warning() {
    logs::install();
    let server = TestServer::start();
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config().sink(posthog_sink(&server))).unwrap();
    telemetry.capture_with(&BEFORE_DEEP, Properties::new());
    telemetry.capture_with(&TOO_DEEP, Properties::new().with("v", nested(200)));
    telemetry.capture_with(&AFTER_DEEP, Properties::new());
    assert!(!telemetry.flush(SOON), "events were given up on");
    // serde_json, which PostHog's capture service parses with, refuses
    // nesting over 128 levels: a body like that is a 400 for every event in
    // it. `Request::json` parses the same way.
    for request in server.requests() {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&request.body).is_ok(),
            "a request body a JSON parser refuses went on the wire ({} bytes)",
            request.body.len()
        );
    }
    let names: Vec<String> =
        server.accepted_events().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["before_deep", "after_deep"]);
    assert_eq!(telemetry.stats().dropped(DropReason::Invalid), 1);
    assert!(warned("\"too_deep\""), "a warning names the dropped event");
}

/// The child's part: capture one very deeply nested property.
fn capture_very_deep(depth: usize) {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with(&VERY_DEEP, Properties::new().with("v", nested(depth)));
    telemetry.capture_with(&AFTER_VERY_DEEP, Properties::new());
    let flushed = telemetry.flush(Duration::from_secs(5));
    child::report("flushed", flushed);
    child::report("delivered", memory.events().len());
    child::report("stats", format!("{:?}", telemetry.stats()));
}

#[test]
fn a_very_deeply_nested_property_does_not_take_the_process_down() {
    if let Some(depth) = child::mode() {
        return capture_very_deep(depth.parse().unwrap());
    }
    let output = child::run(
        "a_very_deeply_nested_property_does_not_take_the_process_down",
        "50000",
        &[],
        Duration::from_secs(30),
    );
    assert!(
        output.success(),
        "the host process died: {:?}\n{}",
        output.status,
        output.stderr.lines().rev().take(3).collect::<Vec<_>>().join("\n")
    );
    // The deep event was given up on (invalid): not everything was delivered.
    assert_eq!(output.value("flushed"), Some("false"));
    assert_eq!(output.value("delivered"), Some("1"), "the other event is delivered");
}

#[test]
fn the_id_file_path_in_warnings_is_the_configured_one() {
    // Guards the assertions above: the warnings name the sandbox's file.
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config()).unwrap();
    let status = Status::of(&telemetry);
    assert_eq!(status.id_path, Some(sandbox.cache_dir().join("telemetry_user_id")));
    assert!(status.consent_path.is_some_and(|p| p.starts_with(sandbox.config_dir())));
}
