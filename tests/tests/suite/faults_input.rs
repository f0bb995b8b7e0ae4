//! Bad input from the environment, the disk and the caller: each gets a
//! defined outcome, says so in the log, and never panics.
//!
//! - unknown consent values (also non-UTF-8 in a real process environment):
//!   off, with a warning that names the variable;
//! - a corrupt, unreadable or misplaced id file, an unwritable cache or
//!   config directory: a per-process id or key, a warning, delivery goes on;
//!   a consent choice that cannot be saved is an `Err`, nothing changes;
//! - a file size limit (`RLIMIT_FSIZE`): no file ends in a partial record,
//!   and the library's writes never get the process killed (`SIGXFSZ`);
//! - odd and lossy strings: sent as they are, as valid JSON;
//! - NaN and infinities: omitted (kept in place as `null` inside a list);
//! - deeply nested properties: must not take the host down.
//!
//! The disk faults hold for root too (CI runs as root, whom file modes do
//! not stop): a file where a directory must be, or a child process of the
//! test with a file size limit, which binds every user.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::JsonlSink;
use telemetry_runtime::testing::MemorySink;
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
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
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

telemetry_runtime::event! {
    /// Written to files under a file size limit.
    static LIMITED = "limited" {
        /// Its number.
        i: u64,
        /// Filler, so that the files reach the limit soon.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        filler: String,
    }
}

/// Whether a warning containing `text` was logged. The other tests of the
/// binary log too: `text` names what only this test has (a path in its
/// sandbox, an event name no other test declares).
fn warned(text: &str) -> bool {
    logs::wait_for(SOON, |l| l.level == log::Level::Warn && l.message.contains(text)).is_some()
}

/// Whether this thread logged a warning containing `text`: a client says
/// what it decided while it is made, on the thread that makes it.
fn warned_here(text: &str) -> bool {
    logs::this_thread().iter().any(|l| l.level == log::Level::Warn && l.message.contains(text))
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
    assert!(warned_here("in TESTAPP_TELEMETRY: telemetry is off"));

    // Legacy variables and DO_NOT_TRACK with odd values.
    let legacy = sandbox.config_with_env(&[("OLD_TELEMETRY", "\u{FFFD}")]).env(|mut e| {
        e.legacy.push(("OLD_TELEMETRY".into(), Polarity::Disables));
        e
    });
    assert_eq!(Telemetry::new(legacy).unwrap().level(), Level::Off);
    assert!(warned_here("in OLD_TELEMETRY"));
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
        .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
        .dirs(|d| telemetry_runtime::Dirs {
            cache: Some(sandbox.cache_dir()),
            config: Some(sandbox.config_dir()),
            ..d
        });
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
        let output = child::run(
            "faults_input::non_utf8_values_in_the_real_environment_fail_closed",
            "env",
            &[(name, value)],
            SOON,
        );
        assert!(output.success(), "{name}={bytes:?}: the child failed:\n{}", output.stderr);
        assert_eq!(output.value("level"), Some(level), "{name}={bytes:?}");
        assert_eq!(output.value("source"), Some(source), "{name}={bytes:?}");
    }
}

/// Captures one event on a fresh client and returns its distinct id.
fn distinct_id_of_a_new_client(sandbox: &Sandbox) -> String {
    id_and_hash_of_a_new_client(sandbox).0
}

/// Captures one event on a fresh client and returns its distinct id and
/// the keyed hash of a fixed value (which tells hashing keys apart).
fn id_and_hash_of_a_new_client(sandbox: &Sandbox) -> (String, String) {
    let memory = MemorySink::new();
    let telemetry = Telemetry::new(sandbox.config().sink(memory.clone())).unwrap();
    telemetry.capture_with(&WHOAMI, Properties::new().with("hashed", Value::from("not a secret")));
    assert!(telemetry.flush(SOON));
    let events = memory.events();
    assert_eq!(events.len(), 1, "delivery goes on: {:?}", telemetry.stats());
    let hashed = events[0]["properties"]["hashed"].as_str().unwrap();
    assert!(hashed.len() == 32 && hashed.bytes().all(|b| b.is_ascii_hexdigit()), "{hashed}");
    (events[0]["distinct_id"].as_str().unwrap().to_owned(), hashed.to_owned())
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
}

/// The child's part: two clients over an id file of mode 000, in a process
/// where file modes bind (root's capabilities to pass them dropped).
#[cfg(unix)]
fn two_clients_over_an_id_file_nobody_may_read() {
    use std::os::unix::fs::PermissionsExt;
    logs::install();
    if !child::obey_file_modes() {
        return telemetry_tests::skip(
            "faults_input::an_id_file_without_read_permission_gives_a_per_process_id_and_a_warning",
            "file modes cannot be made to bind this process",
        );
    }
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.cache_dir()).unwrap();
    let path = sandbox.cache_dir().join("telemetry_user_id");
    std::fs::write(&path, uuid::Uuid::new_v4().to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert!(std::fs::read(&path).is_err(), "the mode binds");
    let (a, b) = (distinct_id_of_a_new_client(&sandbox), distinct_id_of_a_new_client(&sandbox));
    assert_fresh_v4(&a);
    assert_ne!(a, b);
    assert!(warned(&format!("Cannot read the telemetry id file {}", path.display())));
    child::report("per_process_ids", "yes");
}

#[cfg(unix)]
#[test]
fn an_id_file_without_read_permission_gives_a_per_process_id_and_a_warning() {
    if child::mode().is_some() {
        return two_clients_over_an_id_file_nobody_may_read();
    }
    // In a child, so that root's capabilities can be dropped there alone.
    let output = child::run(
        "faults_input::an_id_file_without_read_permission_gives_a_per_process_id_and_a_warning",
        "mode",
        &[],
        SOON,
    );
    assert!(output.success(), "the child failed:\n{}", output.stderr);
    assert_eq!(output.value("per_process_ids"), Some("yes"), "the case ran:\n{}", output.stderr);
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
    let (named, fallback) = (sandbox.cache_dir().display().to_string(), "using a per-process telemetry id");
    assert!(logs::wait_for(SOON, |l| l.level == log::Level::Warn
        && l.message.contains(&named)
        && l.message.contains(fallback))
    .is_some());
}

/// The child's part: two clients whose files cannot be written (a file
/// size limit of 0: no byte may be written to any file, whoever runs it).
#[cfg(unix)]
fn two_clients_that_cannot_write_their_cache() {
    logs::install();
    let sandbox = Sandbox::new();
    child::limit_file_size(0);
    let (a, hash_a) = id_and_hash_of_a_new_client(&sandbox);
    let (b, hash_b) = id_and_hash_of_a_new_client(&sandbox);
    assert_fresh_v4(&a);
    child::report("ids_differ", a != b);
    child::report("hashes_differ", hash_a != hash_b);
    for (name, file) in [("id", "telemetry_user_id"), ("key", "telemetry_hash_key")] {
        let path = sandbox.cache_dir().join(file);
        child::report(&format!("{name}_written"), path.exists());
        let shown = format!("Cannot write the telemetry id to {}", path.display());
        child::report(
            &format!("{name}_warned"),
            logs::wait_for(SOON, |l| l.message.contains(&shown)).is_some(),
        );
    }
    let left: Vec<_> = sandbox.files().into_iter().filter(|p| sandbox.path().join(p).is_file()).collect();
    child::report("files", format!("{left:?}"));
}

#[cfg(unix)]
#[test]
fn an_unwritable_cache_directory_gives_per_process_ids_and_keys_and_delivery_goes_on() {
    if child::mode().is_some() {
        return two_clients_that_cannot_write_their_cache();
    }
    // Control: where the files can be written, two clients share the id
    // and the hashing key.
    let sandbox = Sandbox::new();
    assert_eq!(id_and_hash_of_a_new_client(&sandbox), id_and_hash_of_a_new_client(&sandbox));

    let test =
        "faults_input::an_unwritable_cache_directory_gives_per_process_ids_and_keys_and_delivery_goes_on";
    let output = child::run(test, "unwritable", &[], SOON);
    assert!(output.success(), "the child failed: {:?}\n{}", output.status, output.stderr);
    assert_eq!(output.value("ids_differ"), Some("true"), "no file, so a per-process id each time");
    assert_eq!(output.value("hashes_differ"), Some("true"), "and a per-process hashing key");
    for name in ["id", "key"] {
        assert_eq!(output.value(&format!("{name}_written")), Some("false"), "{name}");
        assert_eq!(
            output.value(&format!("{name}_warned")),
            Some("true"),
            "the log says the {name} was not saved"
        );
    }
    assert_eq!(output.value("files"), Some("[]"), "no file, not even an empty or temporary one");
}

/// The child's part: a choice that cannot be saved (a file size limit of 0).
#[cfg(unix)]
fn a_choice_that_cannot_be_saved() {
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config()).unwrap();
    child::report("level_before", telemetry.level());
    child::limit_file_size(0);
    match telemetry.save_consent(Some(Level::Off)) {
        Ok(()) => child::report("error", "none"),
        Err(err) => child::report("error", format!("{:?}", err.kind())),
    }
    child::report("level_after", telemetry.level());
    child::report("source_after", format!("{:?}", telemetry.consent().source));
    child::report("saved", sandbox.config_dir().join("telemetry_consent").exists());
}

#[cfg(unix)]
#[test]
fn a_consent_choice_that_cannot_be_saved_is_an_error_and_changes_nothing() {
    if child::mode().is_some() {
        return a_choice_that_cannot_be_saved();
    }
    // Control: saved, the choice applies at once.
    let sandbox = Sandbox::new();
    let telemetry = Telemetry::new(sandbox.config()).unwrap();
    telemetry.save_consent(Some(Level::Off)).unwrap();
    assert_eq!(telemetry.level(), Level::Off);
    assert!(matches!(telemetry.consent().source, ConsentSource::Persisted(_)));

    let test = "faults_input::a_consent_choice_that_cannot_be_saved_is_an_error_and_changes_nothing";
    let output = child::run(test, "unsaved", &[], SOON);
    assert!(output.success(), "the child failed: {:?}\n{}", output.status, output.stderr);
    assert_eq!(output.value("level_before"), Some("usage"));
    assert_eq!(output.value("error"), Some("FileTooLarge"), "the write was refused, and said so");
    assert_eq!(
        output.value("level_after"),
        Some("usage"),
        "a choice that was not saved is not applied either"
    );
    assert_eq!(output.value("source_after"), Some("Default"));
    assert_eq!(output.value("saved"), Some("false"));
}

/// The file size limit of the children below: a few batches of events.
#[cfg(unix)]
const FILE_SIZE_LIMIT: u64 = 16 * 1024;

/// The child's part: under [`FILE_SIZE_LIMIT`], in `dir`, a plain write
/// past the limit (`plain`: the process should not survive it), or a
/// client with the spool, a JSONL file and a remote endpoint writing its
/// files (`library`).
#[cfg(unix)]
fn write_under_a_file_size_limit(mode: &str) {
    let (what, dir) = mode.split_once(' ').unwrap();
    let dir = Path::new(dir);
    if what == "plain" {
        child::limit_file_size(FILE_SIZE_LIMIT);
        let written = std::fs::write(dir.join("plain"), vec![b'x'; 2 * FILE_SIZE_LIMIT as usize]);
        child::report("survived", format!("{written:?}"));
        return;
    }
    logs::install();
    let server = TestServer::start();
    let config = Sandbox::spooling_config_in(dir)
        .sink(posthog_sink(&server))
        .sink(JsonlSink::new(dir.join("events.jsonl")));
    let telemetry = Telemetry::new(config).unwrap();
    child::limit_file_size(FILE_SIZE_LIMIT);
    let filler = "f".repeat(100);
    let mut i = 0u64;
    // Rounds of 10 events (about 5 KB of JSON lines each), then one of 300:
    // a batch whose copy in the spool is larger than the limit.
    for events in [10, 10, 10, 10, 10, 10, 300] {
        for _ in 0..events {
            let properties =
                Properties::new().with("i", i).with("filler", Value::Text(filler.clone().into()));
            telemetry.capture_with(&LIMITED, properties);
            i += 1;
        }
        // Not all delivered: the events file refuses what passes the limit.
        let _ = telemetry.flush(SOON);
    }
    assert!(telemetry.shutdown(SOON));
    let stats = telemetry.stats();
    child::report("captured", stats.captured);
    child::report("not_appended", stats.dropped(DropReason::SinkError));
    child::report("delivered", server.accepted_events().len());
    let warned =
        |text: &str| logs::lines().iter().any(|l| l.level == log::Level::Warn && l.message.contains(text));
    child::report("warned_jsonl", warned("process's file size limit (RLIMIT_FSIZE)"));
    child::report("warned_spool", warned("Cannot spool telemetry"));
}

#[cfg(unix)]
#[test]
fn files_under_a_file_size_limit_end_in_whole_records_and_the_host_survives() {
    use std::os::unix::process::ExitStatusExt;
    if let Some(mode) = child::mode() {
        return write_under_a_file_size_limit(&mode);
    }
    let test = "faults_input::files_under_a_file_size_limit_end_in_whole_records_and_the_host_survives";
    let run = |what: &str| {
        let dir = tempfile::tempdir().unwrap();
        let output =
            child::run(test, &format!("{what} {}", dir.path().display()), &[], Duration::from_secs(60));
        (output, dir)
    };
    // Control: the limit binds, and a plain write past it gets the process
    // killed by SIGXFSZ, its signal's default action.
    let (plain, _dir) = run("plain");
    assert_eq!(plain.status.and_then(|s| s.signal()), Some(child::SIGXFSZ), "{plain:?}");

    let (output, dir) = run("library");
    assert!(
        output.success(),
        "the process did not survive the library's writes: {:?} (signal {:?})\n{}",
        output.status,
        output.status.and_then(|s| s.signal()),
        output.stderr
    );
    let number = |key: &str| -> u64 {
        output.value(key).unwrap_or_else(|| panic!("{key}: {output:?}")).parse().unwrap()
    };
    let captured = number("captured");
    assert_eq!(captured, 360);
    assert_eq!(number("delivered"), captured, "delivery to the endpoint goes on");

    // The events file holds whole lines only, up to the limit, and what did
    // not fit is counted and said.
    let text = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(text.len() as u64 <= FILE_SIZE_LIMIT, "{} bytes", text.len());
    assert!(
        text.ends_with('\n'),
        "the file ends in a partial line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("a whole JSON line")).collect();
    assert!(lines.len() > 10, "the file was written up to the limit: {} lines", lines.len());
    assert_eq!(lines.len() as u64, captured - number("not_appended"), "each event written or counted");
    let numbers: Vec<u64> = lines.iter().map(|e| e["properties"]["i"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (0..lines.len() as u64).collect::<Vec<_>>(), "the first events, in order");
    assert_eq!(output.value("warned_jsonl"), Some("true"));
    // The spool's copy of the large batch was refused before a byte was
    // written (its events went out without one).
    assert_eq!(output.value("warned_spool"), Some("true"));

    // No file of the library is over the limit or left half-written.
    let mut files = Vec::new();
    for entry in walk(dir.path()) {
        let len = std::fs::metadata(&entry).unwrap().len();
        assert!(len <= FILE_SIZE_LIMIT, "{}: {len} bytes", entry.display());
        let name = entry.file_name().unwrap().to_string_lossy();
        assert!(!name.contains(".tmp"), "a temporary file is left: {}", entry.display());
        files.push(entry);
    }
    let recent =
        files.iter().find(|p| p.ends_with("telemetry_recent.jsonl")).expect("the record of deliveries");
    let record = std::fs::read_to_string(recent).unwrap();
    let recorded: Vec<_> =
        record.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
    assert!(record.ends_with('\n') && !recorded.is_empty(), "{record:?}");
    assert_eq!(recorded.len(), record.lines().count(), "whole JSON lines only");
}

/// The child's part: JSON lines appended to a file on a 16 KiB tmpfs of
/// its own at `dir`, until the device is full.
#[cfg(target_os = "linux")]
fn append_to_a_full_device(dir: &str) {
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs", dir])
        .status()
        .expect("run mount");
    assert!(mounted.success(), "mount a 16 KiB tmpfs at {dir}: {mounted}");
    logs::install();
    let sandbox = Sandbox::new();
    let path = Path::new(dir).join("events.jsonl");
    let memory = MemorySink::new();
    let telemetry =
        Telemetry::new(sandbox.config().sink(memory.clone()).sink(JsonlSink::new(&path))).unwrap();
    let filler = "f".repeat(100);
    for round in 0..8u64 {
        for i in 0..10 {
            let properties = Properties::new()
                .with("i", round * 10 + i)
                .with("filler", Value::Text(filler.clone().into()));
            telemetry.capture_with(&LIMITED, properties);
        }
        // Not all delivered: the file cannot take them all.
        let _ = telemetry.flush(SOON);
    }
    assert!(telemetry.shutdown(SOON));
    let text = std::fs::read_to_string(&path).expect("the events file");
    child::report("bytes", text.len());
    child::report("ends_with_a_whole_line", text.is_empty() || text.ends_with('\n'));
    let lines = text.lines().filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()).count();
    child::report("json_lines", lines);
    child::report("lines", text.lines().count());
    child::report("not_appended", telemetry.stats().dropped(DropReason::SinkError));
    child::report("delivered_to_memory", memory.events().len());
    let full =
        logs::lines().iter().any(|l| l.level == log::Level::Warn && l.message.contains("No space left"));
    child::report("warned", full);
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_device_leaves_the_events_file_ending_in_a_whole_line() {
    if let Some(dir) = child::mode() {
        return append_to_a_full_device(&dir);
    }
    let test = "faults_input::a_full_device_leaves_the_events_file_ending_in_a_whole_line";
    // A device that fills up mid-write: a tmpfs of 16 KiB, mounted in a
    // mount namespace of the child's own (root, with CAP_SYS_ADMIN).
    let private = ["unshare", "--mount", "--propagation", "private"];
    let can_mount = std::process::Command::new(private[0])
        .args(&private[1..])
        .args(["sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !can_mount {
        return telemetry_tests::skip(
            test,
            "cannot mount a tmpfs in a mount namespace of its own (root and util-linux's unshare needed)",
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let output =
        child::run_under(&private, test, &dir.path().display().to_string(), &[], Duration::from_secs(60));
    assert!(output.success(), "the child failed: {:?}\n{}", output.status, output.stderr);
    let number = |key: &str| -> u64 {
        output.value(key).unwrap_or_else(|| panic!("{key}: {output:?}")).parse().unwrap()
    };
    // The device filled up: some events were written, the rest counted.
    assert!(number("bytes") > 0 && number("not_appended") > 0, "{}", output.stdout);
    assert_eq!(output.value("warned"), Some("true"), "the failure was logged");
    // What a write cut short left was cut back: whole lines only.
    assert_eq!(output.value("ends_with_a_whole_line"), Some("true"), "{}", output.stdout);
    assert_eq!(number("json_lines"), number("lines"), "every line is whole JSON");
    assert_eq!(number("lines") + number("not_appended"), 80, "each event written or counted");
    assert_eq!(number("delivered_to_memory"), 80, "the other sink got every event");
}

/// Every file under `dir`.
#[cfg(unix)]
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
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
    assert!(warned(&format!("Cannot read the telemetry choice in {}", sandbox.config_dir().display())));
    assert!(telemetry.save_consent(Some(Level::Full)).is_err(), "and it cannot be saved either");
    assert_eq!(telemetry.level(), Level::Off);

    // The same for a directory where the choice file should be.
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.config_dir().join("telemetry_consent")).unwrap();
    let telemetry = Telemetry::new(sandbox.config().default_level(Level::Full)).unwrap();
    assert_eq!(telemetry.level(), Level::Off);
    assert!(telemetry.save_consent(Some(Level::Full)).is_err());
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
        telemetry.capture_with(
            &ODD_TEXT,
            Properties::new().with("i", i).with("value", Value::Text(text.clone().into())),
        );
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
        "faults_input::a_very_deeply_nested_property_does_not_take_the_process_down",
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

/// The application's name and version go out with every event: a client
/// with either of the wrong shape is refused, by `Telemetry::new` and by
/// `init` alike, with a message that names it, and nothing is sent.
#[test]
fn an_app_name_or_version_of_the_wrong_shape_is_refused() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let good = Telemetry::new(
        telemetry_runtime::Config::new("mytool", env!("CARGO_PKG_VERSION"))
            .environment(telemetry_tests::env(&[]))
            .dirs(|_| telemetry_runtime::Dirs {
                cache: Some(sandbox.cache_dir()),
                config: Some(sandbox.config_dir()),
                data: Some(sandbox.data_dir()),
            })
            .consent(Level::Usage)
            .sink(memory.clone()),
    );
    assert!(good.is_ok(), "env!(\"CARGO_PKG_VERSION\") has the shape of a version");
    for (name, version, says) in [
        ("mytool", "latest", "app version \"latest\" does not look like a version"),
        ("mytool", "1.0.0-ada@example.com", "does not look like a version"),
        ("mytool", "", "does not look like a version"),
        ("/home/ada", "1.0.0", "app name \"/home/ada\" must be 1-64 ASCII letters"),
        ("ada lovelace", "1.0.0", "must be 1-64 ASCII letters"),
    ] {
        let config =
            || telemetry_runtime::Config::new(name, version).consent(Level::Usage).sink(memory.clone());
        let err = Telemetry::new(config()).unwrap_err();
        assert!(err.to_string().contains(says), "{name:?} {version:?}: {err}");
        let err = telemetry_runtime::init(config()).unwrap_err();
        assert!(err.to_string().contains(says), "init, {name:?} {version:?}: {err}");
    }
    assert!(memory.events().is_empty());
}
