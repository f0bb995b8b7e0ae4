//! Reports by period (`Route::per_period`): counts added up on disk across
//! runs and processes, sent as one report once the period is over, by one
//! process, exactly as `telemetry report` shows it. The program's runs are
//! real processes (this test binary, run again as a child); the clock that
//! decides periods is the test's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use telemetry_runtime::sink::PostHogSink;
use telemetry_runtime::{cli, Config, Level, Route, Telemetry, TelemetryEvent};
use telemetry_tests::{child, env, wait_until, Behaviour, Gate, Sandbox, TestServer, API_KEY, SOON};

const WEEK: u64 = 7 * 86_400;
/// Monday 2025-01-06 00:00 UTC: a week starts.
const MONDAY: u64 = 1_736_121_600;
/// Wednesday 2025-01-08 15:04:05 UTC, in that week.
const WEDNESDAY: u64 = MONDAY + 2 * 86_400 + 15 * 3600 + 245;

const DIR_ENV: &str = "REPORTS_TEST_DIR";
const URL_ENV: &str = "REPORTS_TEST_URL";
const NOW_ENV: &str = "REPORTS_TEST_NOW";
/// `rounds:ok:error:builds`: in each round, `ok` and `error` tool calls and
/// `builds` builds, then a flush (the last round ends with the shutdown).
const WORK_ENV: &str = "REPORTS_TEST_WORK";
/// A file the child waits for before it starts, so that children start
/// together.
const GO_ENV: &str = "REPORTS_TEST_GO";

telemetry_runtime::counter! {
    /// Tool calls, by outcome.
    static TOOL_CALLS = "tool_calls", labels: [
        /// How the call ended.
        status: Status = ["ok", "error"],
    ];
}

/// A build ran.
#[derive(TelemetryEvent)]
struct Built {
    /// How long it took.
    seconds: u32,
}

/// The user asked something: an opt-in event, whose occurrence a report
/// never tells.
#[derive(TelemetryEvent)]
#[telemetry(opt_in)]
struct QuestionAsked {
    /// What was asked.
    #[telemetry(opt_in)]
    question: String,
}

/// A time of the test's clock.
fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn sink(url: &str) -> PostHogSink {
    PostHogSink::new(API_KEY)
        .and_then(|sink| sink.host(url))
        .expect("a PostHog sink")
        .http(telemetry_tests::fast)
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

/// The program's configuration: its files under `dir`, a weekly report to
/// the PostHog server at `url` (every counter, and the count of each event),
/// and the test's clock.
fn config(
    dir: &Path,
    url: &str,
    route: Route,
    now: impl Fn() -> SystemTime + Send + Sync + 'static,
) -> Config {
    let config = Config::new("testapp", "1.2.3")
        .environment(env(&[]))
        .dirs(|_| telemetry_runtime::Dirs {
            cache: Some(dir.join("cache")),
            config: Some(dir.join("config")),
            data: Some(dir.join("data")),
        })
        .default_level(Level::Usage)
        .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
        .route(sink(url), route);
    telemetry_runtime::__private::report_clock(config, now)
}

fn weekly() -> Route {
    Route::default().per_period(Duration::from_secs(WEEK))
}

/// One run of the program, as a child process: see [`WORK_ENV`].
fn program_run() {
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("the parent's directory"));
    let url = std::env::var(URL_ENV).expect("the parent's server");
    let now: u64 = std::env::var(NOW_ENV).expect("the time").parse().unwrap();
    let work: Vec<u32> = std::env::var(WORK_ENV).unwrap().split(':').map(|n| n.parse().unwrap()).collect();
    let [rounds, ok, error, builds] = work[..] else { panic!("{work:?}") };
    if let Some(go) = std::env::var_os(GO_ENV) {
        assert!(wait_until(Duration::from_secs(30), || Path::new(&go).exists()), "no go");
    }
    let telemetry = Telemetry::new(config(&dir, &url, weekly(), move || at(now))).unwrap();
    let mut flushed = 0;
    for round in 0..rounds {
        for _ in 0..ok {
            telemetry.add(&TOOL_CALLS, Status::Ok, 1);
        }
        for _ in 0..error {
            telemetry.add(&TOOL_CALLS, Status::Error, 1);
        }
        for _ in 0..builds {
            telemetry.capture(&Built { seconds: 3 });
        }
        telemetry.capture(&QuestionAsked { question: "is this counted?".into() });
        if round + 1 < rounds && telemetry.flush(SOON) {
            flushed += 1;
        }
    }
    child::report("flushed", flushed);
    child::report("done", telemetry.shutdown(SOON));
}

/// A program's machine: its files, and the vendor's server.
struct Machine {
    sandbox: Sandbox,
    server: TestServer,
}

impl Machine {
    fn new() -> Machine {
        Machine { sandbox: Sandbox::new(), server: TestServer::start() }
    }

    fn envs(&self, now: u64, work: &str) -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            (DIR_ENV, child::os(self.sandbox.path())),
            (URL_ENV, child::os(self.server.url())),
            (NOW_ENV, child::os(now.to_string())),
            (WORK_ENV, child::os(work)),
        ]
    }

    /// Runs the program once, as `test` in child mode, at `now`, doing
    /// `work`; checks that it ran and shut down in time.
    fn run(&self, test: &str, now: u64, work: &str) -> child::Output {
        let envs = self.envs(now, work);
        let envs: Vec<(&str, &std::ffi::OsStr)> = envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        let output = child::run(test, "run", &envs, Duration::from_secs(60));
        assert!(output.success() && output.value("done") == Some("true"), "{output:?}");
        output
    }

    /// A client of the program in this process, at `now`.
    fn client(&self, now: u64) -> Telemetry {
        Telemetry::new(config(self.sandbox.path(), &self.server.url(), weekly(), move || at(now))).unwrap()
    }

    /// The files of reports with this extension.
    fn files(&self, extension: &str) -> Vec<PathBuf> {
        let root = self.sandbox.path().join("data").join("telemetry_reports");
        let mut found = Vec::new();
        for folder in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for file in std::fs::read_dir(folder.path()).into_iter().flatten().flatten() {
                if file.path().extension().is_some_and(|e| e == extension) {
                    found.push(file.path());
                }
            }
        }
        found.sort();
        found
    }

    /// The counts of the one period file with this extension.
    fn counts(&self, extension: &str) -> BTreeMap<String, u64> {
        let files = self.files(extension);
        assert_eq!(files.len(), 1, "{files:?}");
        counts_in(&std::fs::read_to_string(&files[0]).unwrap())
    }

    /// The reports the server accepted.
    fn reports(&self) -> Vec<Json> {
        self.server.accepted_events().into_iter().filter(|e| e["event"] == "telemetry_report").collect()
    }
}

/// The counts a file holds, by the names a report sends them under.
fn counts_in(text: &str) -> BTreeMap<String, u64> {
    let json: Json = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    json["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let name = match (entry.get("counter"), entry.get("event")) {
                (Some(name), None) => {
                    let labels: Vec<String> = entry["labels"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|pair| format!("{}={}", pair[0].as_str().unwrap(), pair[1].as_str().unwrap()))
                        .collect();
                    if labels.is_empty() {
                        name.as_str().unwrap().to_owned()
                    } else {
                        format!("{}{{{}}}", name.as_str().unwrap(), labels.join(","))
                    }
                }
                (None, Some(event)) => format!("$events{{event={}}}", event.as_str().unwrap()),
                _ => panic!("{entry}"),
            };
            (name, entry["count"].as_u64().unwrap())
        })
        .collect()
}

/// A report's counts: its properties but the standard ones and the period.
fn report_counts(report: &Json) -> BTreeMap<String, u64> {
    report["properties"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| !name.starts_with('$') || name.starts_with("$events{"))
        .map(|(name, count)| (name.clone(), count.as_u64().unwrap()))
        .collect()
}

fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(name, count)| (name.to_string(), *count)).collect()
}

/// What `telemetry report` prints for `client`.
fn report_command(client: &Telemetry) -> String {
    let mut out = Vec::new();
    cli::run_command(client, &["report"], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn two_hundred_runs_in_a_week_send_nothing_then_one_report_with_the_exact_sums() {
    const TEST: &str = "reports::two_hundred_runs_in_a_week_send_nothing_then_one_report_with_the_exact_sums";
    if child::mode().is_some() {
        return program_run();
    }
    let machine = Machine::new();
    // 200 runs over the week, each of one round: 3 calls that worked, one
    // that failed every fourth run, one build.
    for run in 0..200u64 {
        let error = u64::from(run % 4 == 0);
        machine.run(TEST, MONDAY + run * 3000, &format!("1:3:{error}:1"));
    }
    assert_eq!(machine.server.connections(), 0, "a run sent something during the week");
    // The counts are on disk: the runs did count.
    let sums = expected(&[
        ("tool_calls{status=ok}", 600),
        ("tool_calls{status=error}", 50),
        ("$events{event=built}", 200),
    ]);
    assert_eq!(machine.counts("counts"), sums, "the opt-in event is not counted");

    // The first run of the next week sends the report, once.
    machine.run(TEST, MONDAY + WEEK + 60, "1:1:0:0");
    let reports = machine.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(machine.server.requests().len(), 1, "one request, for the report alone");
    let report = &reports[0];
    assert_eq!(report_counts(report), sums);
    let properties = &report["properties"];
    assert_eq!(properties["$period_start"], "2025-01-06T00:00:00.000Z");
    assert_eq!(properties["$period_end"], "2025-01-13T00:00:00.000Z");
    assert_eq!(report["timestamp"], "2025-01-06T00:00:00.000Z", "the period, not a run's time");
    assert!(properties.get("$session_id").is_none(), "{report}");
    assert_eq!(properties["$app_version"], "1.2.3");
    let install_id = std::fs::read_to_string(machine.sandbox.cache_dir().join("telemetry_user_id")).ok();
    assert_ne!(report["distinct_id"].as_str(), install_id.as_deref(), "a report has an id of its own");
    assert!(uuid::Uuid::parse_str(report["distinct_id"].as_str().unwrap()).is_ok());

    // Later runs of that week send nothing more, and count in it.
    machine.run(TEST, MONDAY + WEEK + 7200, "1:2:0:0");
    assert_eq!(machine.server.requests().len(), 1);
    assert_eq!(machine.counts("counts"), expected(&[("tool_calls{status=ok}", 3)]));
    assert_eq!(machine.files("sent").len(), 1, "the sent report is kept for the user");
}

#[test]
fn eight_processes_counting_at_once_lose_no_count() {
    const TEST: &str = "reports::eight_processes_counting_at_once_lose_no_count";
    if child::mode().is_some() {
        return program_run();
    }
    let machine = Machine::new();
    let go = machine.sandbox.path().join("go");
    // Each process writes its counts 40 times: at 39 flushes and at exit.
    let outputs: Vec<child::Output> = std::thread::scope(|scope| {
        let children: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut envs = machine.envs(WEDNESDAY, "40:5:2:1");
                    envs.push((GO_ENV, child::os(&go)));
                    let envs: Vec<(&str, &std::ffi::OsStr)> =
                        envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
                    child::run(TEST, "run", &envs, Duration::from_secs(120))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&go, "").unwrap();
        children.into_iter().map(|child| child.join().unwrap()).collect()
    });
    for output in &outputs {
        assert!(output.success() && output.value("done") == Some("true"), "{output:?}");
        assert_eq!(output.value("flushed"), Some("39"), "every flush was complete: {output:?}");
    }
    let counts = machine.counts("counts");
    assert_eq!(
        counts,
        expected(&[
            ("tool_calls{status=ok}", 8 * 40 * 5),
            ("tool_calls{status=error}", 8 * 40 * 2),
            ("$events{event=built}", 8 * 40)
        ])
    );
    assert_eq!(machine.server.connections(), 0);
}

/// A child that counts and writes as fast as it can until it is killed.
fn busy_writer() -> ! {
    let dir = PathBuf::from(std::env::var_os(DIR_ENV).unwrap());
    let url = std::env::var(URL_ENV).unwrap();
    let telemetry = Telemetry::new(config(&dir, &url, weekly(), || at(WEDNESDAY))).unwrap();
    loop {
        telemetry.add(&TOOL_CALLS, Status::Ok, 1);
        let _ = telemetry.flush(SOON);
    }
}

#[test]
fn a_writer_killed_in_the_middle_of_a_write_leaves_a_readable_file() {
    const TEST: &str = "reports::a_writer_killed_in_the_middle_of_a_write_leaves_a_readable_file";
    match child::mode().as_deref() {
        Some("write") => busy_writer(),
        Some(_) => return program_run(),
        None => {}
    }
    let machine = Machine::new();
    let envs = machine.envs(WEDNESDAY, "");
    let envs: Vec<(&str, &std::ffi::OsStr)> = envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let temporary = || {
        let root = machine.sandbox.path().join("data").join("telemetry_reports");
        std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|folder| std::fs::read_dir(folder.path()).into_iter().flatten().flatten())
            .any(|file| file.file_name().to_string_lossy().contains(".tmp"))
    };
    let mut caught = 0;
    let mut last = 0;
    let written = || {
        machine.files("counts").first().map_or(0, |file| {
            counts_in(&std::fs::read_to_string(file).unwrap())
                .get("tool_calls{status=ok}")
                .copied()
                .unwrap_or(0)
        })
    };
    for attempt in 0..40 {
        let mut writer = child::spawn(TEST, "write", &envs);
        // Once it has written a few times, kill it the moment it is
        // writing again.
        let at_least = last + 1 + attempt % 5;
        assert!(wait_until(SOON, || written() >= at_least), "the writer writes");
        let seen = wait_until(Duration::from_secs(2), temporary);
        writer.kill().unwrap();
        writer.wait().unwrap();
        // Whatever the moment, the file reads whole, and holds at least
        // what the last writer's predecessors had written.
        let counts = machine.counts("counts");
        let now = counts["tool_calls{status=ok}"];
        assert!(now >= last, "{now} < {last}");
        last = now;
        if seen && temporary() {
            caught += 1;
            if caught == 3 {
                break;
            }
        }
    }
    assert!(caught > 0, "no kill landed in the middle of a write: nothing was shown");
    // The next run writes on top of it, and takes the half-written file away.
    machine.run(TEST, WEDNESDAY, "1:4:0:0");
    assert_eq!(machine.counts("counts")["tool_calls{status=ok}"], last + 4);
    assert!(!temporary(), "the killed writer's temporary file is left behind");
}

#[test]
fn two_processes_starting_together_after_the_week_send_its_report_once() {
    const TEST: &str = "reports::two_processes_starting_together_after_the_week_send_its_report_once";
    if child::mode().is_some() {
        return program_run();
    }
    let machine = Machine::new();
    machine.run(TEST, WEDNESDAY, "1:7:0:0");
    assert_eq!(machine.files("counts").len(), 1);
    // Each process's first request is held until both have started: had
    // both claimed the report, both requests would be waiting here.
    let gate = Gate::new();
    machine.server.set_default(Behaviour::Gate(gate.clone()));
    let go = machine.sandbox.path().join("go");
    let outputs: Vec<child::Output> = std::thread::scope(|scope| {
        let children: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut envs = machine.envs(MONDAY + WEEK + 3600, "1:1:0:0");
                    envs.push((GO_ENV, child::os(&go)));
                    let envs: Vec<(&str, &std::ffi::OsStr)> =
                        envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
                    child::run(TEST, "run", &envs, Duration::from_secs(60))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&go, "").unwrap();
        assert!(machine.server.wait_for_requests(1, SOON), "a process sent the report");
        std::thread::sleep(Duration::from_millis(500));
        gate.open();
        children.into_iter().map(|child| child.join().unwrap()).collect()
    });
    for output in &outputs {
        assert!(output.success(), "{output:?}");
    }
    let reports = machine.reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(machine.server.requests().len(), 1);
    assert_eq!(report_counts(&reports[0]), expected(&[("tool_calls{status=ok}", 7)]));
    assert_eq!(machine.files("sent").len(), 1);
    assert!(machine.files("claim").is_empty());
}

#[test]
fn the_report_command_prints_the_bytes_the_sink_sends() {
    let machine = Machine::new();
    let week = machine.client(WEDNESDAY);
    for _ in 0..12 {
        week.add(&TOOL_CALLS, Status::Ok, 1);
    }
    week.capture(&Built { seconds: 1 });
    assert!(week.flush(SOON));
    let so_far = report_command(&week);
    assert!(
        so_far.contains("This week so far, 2025-01-06 to 2025-01-13 (UTC); sent after it ends as:"),
        "{so_far}"
    );
    drop(week);

    // The next week's first run sends it; the request is held while the
    // report is printed.
    let gate = Gate::new();
    machine.server.set_default(Behaviour::Gate(gate.clone()));
    let next = machine.client(MONDAY + WEEK + 10);
    assert!(machine.server.wait_for_requests(1, SOON), "the report is on its way");
    let pending = report_command(&next);
    let line = |text: &str, after: &str| {
        let mut lines = text.lines().skip_while(|l| !l.starts_with(after));
        lines.next().unwrap_or_else(|| panic!("no {after:?} in {text}"));
        lines.next().unwrap().to_owned()
    };
    let printed = line(&pending, "Waiting to be sent, 2025-01-06 to 2025-01-13 (UTC):");
    // What was shown during the week is what is sent.
    assert_eq!(printed, line(&so_far, "This week so far"));
    gate.open();
    assert!(wait_until(SOON, || !machine.files("sent").is_empty()), "the report was sent");
    let request = &machine.server.requests()[0];
    let body = request.decoded_body();
    assert!(
        telemetry_tests::contains_bytes(&body, printed.as_bytes()),
        "{printed}\nnot in\n{}",
        String::from_utf8_lossy(&body)
    );
    let sent = report_command(&next);
    assert_eq!(line(&sent, "Sent "), printed, "{sent}");
    assert!(sent.contains("No report waiting to be sent."), "{sent}");
    drop(next);
    assert_eq!(machine.server.requests().len(), 1);
}

/// A clock the test moves.
#[derive(Clone)]
struct Clock(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Clock {
    fn at(seconds: u64) -> Clock {
        Clock(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(seconds)))
    }
    fn set(&self, seconds: u64) {
        self.0.store(seconds, std::sync::atomic::Ordering::SeqCst);
    }
    fn read(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let cell = self.0.clone();
        move || at(cell.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl Machine {
    /// A client of the program in this process, on `clock`, with `config`
    /// changed by `change`.
    fn client_with(&self, clock: &Clock, change: impl FnOnce(Config) -> Config) -> Telemetry {
        let config = config(self.sandbox.path(), &self.server.url(), weekly(), clock.read());
        Telemetry::new(change(config)).unwrap()
    }

    /// One report sent (the first week's), one waiting (the second week's:
    /// the server was down when the third week's run tried), and the third
    /// week's counts: returns that run's client, its clock in the third
    /// week, with the server back up.
    fn sent_waiting_and_counting(&self) -> (Telemetry, Clock) {
        let clock = Clock::at(WEDNESDAY);
        let first = self.client_with(&clock, |c| c);
        first.add(&TOOL_CALLS, Status::Ok, 1);
        assert!(first.shutdown(SOON));
        clock.set(WEDNESDAY + WEEK);
        let second = self.client_with(&clock, |c| c);
        assert!(wait_until(SOON, || self.files("sent").len() == 1), "the first week's report is sent");
        second.add(&TOOL_CALLS, Status::Ok, 1);
        second.add(&TOOL_CALLS, Status::Ok, 1);
        assert!(second.shutdown(SOON));
        self.server.down();
        clock.set(WEDNESDAY + 2 * WEEK);
        let third = self.client_with(&clock, |c| c);
        third.add(&TOOL_CALLS, Status::Error, 1);
        assert!(!third.flush(SOON), "the second week's report could not be sent");
        assert!(wait_until(SOON, || self.files("claim").is_empty() && self.files("counts").len() == 2));
        self.server.up();
        (third, clock)
    }
}

#[test]
fn turning_telemetry_off_deletes_what_was_not_sent_and_keeps_what_was() {
    let machine = Machine::new();
    let (client, _clock) = machine.sent_waiting_and_counting();
    let before = report_command(&client);
    for shown in ["Waiting to be sent, 2025-01-13 to 2025-01-20", "This week so far, 2025-01-20", "Sent "] {
        assert!(before.contains(shown), "{shown:?} not in {before}");
    }
    client.set_consent(Level::Off);
    assert_eq!(machine.files("counts"), Vec::<PathBuf>::new(), "what was not sent is deleted");
    assert_eq!(machine.files("sent").len(), 1, "what was sent stays, for the user to read");
    let after = report_command(&client);
    assert!(
        after.contains("No report waiting to be sent.") && after.contains("Nothing counted this week yet."),
        "{after}"
    );
    // Counted before it was turned off, nothing is written after.
    client.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(client.shutdown(SOON));
    assert_eq!(machine.files("counts"), Vec::<PathBuf>::new());
    assert_eq!(machine.reports().len(), 1, "only the first week's report ever left");
}

#[test]
fn a_run_with_telemetry_off_deletes_what_was_not_sent_and_counts_nothing() {
    for off in ["off", "DO_NOT_TRACK", "saved"] {
        let machine = Machine::new();
        let (client, clock) = machine.sent_waiting_and_counting();
        assert!(client.shutdown(SOON));
        assert_eq!(machine.files("counts").len(), 2, "{off}");
        clock.set(WEDNESDAY + 3 * WEEK);
        let later = machine.client_with(&clock, |config| match off {
            "off" => config.consent(Level::Off),
            "DO_NOT_TRACK" => config.environment(env(&[("DO_NOT_TRACK", "1")])),
            _ => {
                std::fs::create_dir_all(machine.sandbox.config_dir()).unwrap();
                std::fs::write(machine.sandbox.config_dir().join("telemetry_consent"), "off\n").unwrap();
                config
            }
        });
        assert_eq!(machine.files("counts"), Vec::<PathBuf>::new(), "{off}");
        later.add(&TOOL_CALLS, Status::Ok, 1);
        assert!(later.shutdown(SOON));
        assert_eq!(machine.files("counts"), Vec::<PathBuf>::new(), "{off}");
        assert_eq!(machine.reports().len(), 1, "{off}");
    }
}

#[test]
fn the_off_subcommand_deletes_what_was_not_sent() {
    let machine = Machine::new();
    let (client, _clock) = machine.sent_waiting_and_counting();
    cli::run_command(&client, &["off"], &mut Vec::new()).unwrap();
    assert_eq!(machine.files("counts"), Vec::<PathBuf>::new());
    assert_eq!(machine.files("sent").len(), 1);
}

#[test]
fn a_reset_deletes_the_reports_and_the_counts() {
    let machine = Machine::new();
    let (client, clock) = machine.sent_waiting_and_counting();
    assert_eq!((machine.files("counts").len(), machine.files("sent").len()), (2, 1));
    let mut out = Vec::new();
    cli::run_command(&client, &["reset"], &mut out).unwrap();
    for extension in ["counts", "sent", "claim"] {
        assert_eq!(machine.files(extension), Vec::<PathBuf>::new(), "{extension}");
    }
    let after = report_command(&client);
    assert!(after.contains("No report waiting to be sent.") && !after.contains("Sent "), "{after}");
    // Counting goes on afresh, and the next week sends only that.
    client.add(&TOOL_CALLS, Status::Error, 1);
    assert!(client.shutdown(SOON));
    clock.set(WEDNESDAY + 3 * WEEK);
    let next = machine.client_with(&clock, |c| c);
    assert!(wait_until(SOON, || machine.reports().len() == 2));
    assert!(next.shutdown(SOON));
    assert_eq!(report_counts(&machine.reports()[1]), expected(&[("tool_calls{status=error}", 1)]));
}

#[test]
fn a_report_that_cannot_be_sent_waits_and_is_the_same_event_when_sent_later() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    let week = machine.client_with(&clock, |c| c);
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.shutdown(SOON));
    // The server takes the request in and answers 503: a later run tries
    // again.
    machine.server.set_default(Behaviour::Status(503));
    clock.set(MONDAY + WEEK + 60);
    let failing = machine.client_with(&clock, |c| c);
    assert!(!failing.flush(SOON));
    assert!(failing.shutdown(SOON));
    let tried = machine.server.requests();
    assert!(tried.len() >= 2, "the report was tried, and retried: {tried:?}");
    assert_eq!(machine.files("counts").len(), 1, "the report waits");
    assert!(machine.files("sent").is_empty());

    machine.server.set_default(Behaviour::Status(200));
    clock.set(MONDAY + WEEK + 7200);
    let later = machine.client_with(&clock, |c| c);
    assert!(wait_until(SOON, || machine.files("sent").len() == 1), "sent by the next run");
    assert!(later.shutdown(SOON));
    let bodies: Vec<Vec<u8>> = machine.server.requests().iter().map(|r| r.decoded_body()).collect();
    assert_eq!(bodies.len(), tried.len() + 1);
    // Every try carried the same event: a receiver keeps one.
    let events: Vec<Json> = machine.server.requests().iter().map(|r| r.events()[0].clone()).collect();
    assert!(events.iter().all(|e| *e == events[0]), "{events:?}");
    assert_eq!(machine.reports().len(), 1);
}

#[test]
fn a_report_older_than_four_weeks_is_deleted_unsent() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    let week = machine.client_with(&clock, |c| c);
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.shutdown(SOON));
    // Its week ended 27 days before this run: still sent.
    clock.set(MONDAY + WEEK + 27 * 86_400);
    let in_time = machine.client_with(&clock, |c| c);
    assert!(wait_until(SOON, || machine.reports().len() == 1), "a report of 27 days ago is sent");
    in_time.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(in_time.shutdown(SOON));
    // This one's week ends; the next run comes 29 days later.
    assert_eq!(machine.files("counts").len(), 1);
    clock.set(MONDAY + 5 * WEEK + 29 * 86_400);
    let too_late = machine.client_with(&clock, |c| c);
    assert!(too_late.shutdown(SOON));
    assert_eq!(machine.files("counts"), Vec::<PathBuf>::new(), "deleted");
    assert_eq!(machine.reports().len(), 1, "not sent");
}

#[test]
fn a_report_carries_the_install_id_only_when_its_route_asks() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    let identified = || weekly().with_install_id();
    let week =
        Telemetry::new(config(machine.sandbox.path(), &machine.server.url(), identified(), clock.read()))
            .unwrap();
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.shutdown(SOON));
    clock.set(MONDAY + WEEK + 60);
    let next =
        Telemetry::new(config(machine.sandbox.path(), &machine.server.url(), identified(), clock.read()))
            .unwrap();
    assert!(wait_until(SOON, || machine.reports().len() == 1));
    assert!(next.shutdown(SOON));
    let install_id = std::fs::read_to_string(machine.sandbox.cache_dir().join("telemetry_user_id")).unwrap();
    assert_eq!(machine.reports()[0]["distinct_id"], install_id.trim());
}

#[test]
fn reports_to_an_otlp_collector_are_sums_over_the_period() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};

    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let clock = Clock::at(WEDNESDAY);
    let otlp = || {
        let config = Config::new("testapp", "1.2.3")
            .environment(env(&[]))
            .dirs(|_| telemetry_runtime::Dirs {
                cache: Some(sandbox.cache_dir()),
                config: Some(sandbox.config_dir()),
                data: Some(sandbox.data_dir()),
            })
            .default_level(Level::Usage)
            .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
            .route(telemetry_runtime::sink::OtlpSink::new(&server.url()).unwrap(), weekly());
        Telemetry::new(telemetry_runtime::__private::report_clock(config, clock.read())).unwrap()
    };
    let week = otlp();
    for _ in 0..4 {
        week.add(&TOOL_CALLS, Status::Ok, 1);
    }
    week.capture(&Built { seconds: 2 });
    assert!(week.shutdown(SOON));
    assert_eq!(server.connections(), 0);
    clock.set(MONDAY + WEEK + 60);
    let next = otlp();
    assert!(server.wait_for_requests(1, SOON));
    assert!(next.shutdown(SOON));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/metrics");
    // Protobuf by default, decoded by its content type.
    let decoded: ExportMetricsServiceRequest = telemetry_tests::otlp::metrics(&requests[0]);
    let mut sums = Vec::new();
    for metric in &decoded.resource_metrics[0].scope_metrics[0].metrics {
        let Some(Data::Sum(sum)) = &metric.data else { panic!("{metric:?}") };
        let point = &sum.data_points[0];
        assert_eq!(point.start_time_unix_nano, MONDAY * 1_000_000_000);
        assert_eq!(point.time_unix_nano, (MONDAY + WEEK) * 1_000_000_000);
        let Some(number_data_point::Value::AsInt(count)) = point.value else { panic!("{point:?}") };
        let attributes: Vec<(String, String)> = point
            .attributes
            .iter()
            .map(|kv| match &kv.value.as_ref().and_then(|v| v.value.clone()) {
                Some(Any::StringValue(text)) => (kv.key.clone(), text.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        sums.push((metric.name.clone(), attributes, count));
    }
    sums.sort();
    let pair = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
    assert_eq!(
        sums,
        [
            ("$events".to_owned(), pair("event", "built"), 1),
            ("tool_calls".to_owned(), pair("status", "ok"), 4)
        ]
    );
}

#[test]
fn the_catalog_and_the_notice_say_that_the_program_reports_by_period() {
    let sandbox = Sandbox::new();
    let server = TestServer::start();
    let config = config(sandbox.path(), &server.url(), weekly(), || at(WEDNESDAY));
    let client =
        Telemetry::new(config.notice(|n| telemetry_runtime::Notice { enabled: false, ..n })).unwrap();
    let page = client.catalog().to_markdown("testapp");
    assert!(page.contains("## Reports by period: `telemetry_report`, once a week"), "{page}");
    assert!(
        page.contains("What it cannot: when, or how many times, the program ran within the week"),
        "{page}"
    );
    let json = telemetry_tests::catalog_json_of(&client);
    assert_eq!(json["reports"][0]["period_seconds"], WEEK);
    assert_eq!(json["reports"][0]["distinct_id"], "random, one per report");
    let plain = Telemetry::new(Sandbox::new().config()).unwrap();
    assert!(telemetry_tests::catalog_json_of(&plain).get("reports").is_none());
    let digest = |client: &Telemetry| telemetry_runtime::cli::Status::of(client).catalog_digest;
    assert_ne!(digest(&client), digest(&plain));
}

#[test]
fn the_first_run_notice_says_that_the_program_reports_by_period() {
    const TEST: &str = "reports::the_first_run_notice_says_that_the_program_reports_by_period";
    if child::mode().is_some() {
        let dir = PathBuf::from(std::env::var_os(DIR_ENV).unwrap());
        let url = std::env::var(URL_ENV).unwrap();
        let config = config(&dir, &url, weekly(), || at(WEDNESDAY)).notice(|n| telemetry_runtime::Notice {
            enabled: true,
            commands: Some("testapp telemetry".into()),
            ..n
        });
        let telemetry = Telemetry::new(config).unwrap();
        child::report("level", telemetry.level());
        return;
    }
    let machine = Machine::new();
    let envs = machine.envs(WEDNESDAY, "");
    let envs: Vec<(&str, &std::ffi::OsStr)> = envs.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let output = child::run(TEST, "notice", &envs, SOON);
    assert!(output.success(), "{output:?}");
    assert_eq!(output.value("level"), Some("off"), "the notice's run sends nothing");
    assert!(
        output.stderr.contains(
            "Usage counts are kept on this machine and sent as one report a week. `testapp telemetry report` shows them."
        ),
        "{}",
        output.stderr
    );
}

#[cfg(unix)]
#[test]
fn a_link_at_the_counts_file_is_not_followed() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    let week = machine.client_with(&clock, |c| c);
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.flush(SOON));
    let counts = machine.files("counts").remove(0);
    let target = machine.sandbox.path().join("target-of-the-link");
    std::fs::write(&target, "untouched").unwrap();
    std::fs::remove_file(&counts).unwrap();
    std::os::unix::fs::symlink(&target, &counts).unwrap();
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.shutdown(SOON));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    assert!(counts.symlink_metadata().unwrap().file_type().is_symlink(), "the link is left as it is");
    // Nor is it read, shown or sent.
    clock.set(MONDAY + WEEK + 60);
    let next = machine.client_with(&clock, |c| c);
    assert!(!report_command(&next).contains("untouched"));
    assert!(next.shutdown(SOON));
    assert!(!machine.server.received(b"untouched"));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    assert!(counts.symlink_metadata().unwrap().file_type().is_symlink(), "the link is still left as it is");
}

#[test]
fn counts_that_cannot_be_read_are_set_aside_and_counting_starts_again() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    let week = machine.client_with(&clock, |c| c);
    week.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(week.flush(SOON));
    let counts = machine.files("counts").remove(0);
    for broken in ["{\"format\":1,\"start\":", "not json", &"x".repeat(2 << 20)] {
        std::fs::write(&counts, broken).unwrap();
        week.add(&TOOL_CALLS, Status::Error, 1);
        assert!(week.flush(SOON));
        assert_eq!(machine.counts("counts"), expected(&[("tool_calls{status=error}", 1)]));
        assert_eq!(machine.files("corrupt").len(), 1, "set aside, for the user to look at");
        std::fs::remove_file(machine.files("corrupt").remove(0)).unwrap();
    }
}

/// Where the page test also writes its page, for a browser to look at
/// (`.ci/run` sets it).
const PAGE_ENV: &str = "TELEMETRY_REPORT_PAGE";

#[test]
fn the_report_page_has_a_chart_per_count_across_the_weeks_on_disk() {
    let machine = Machine::new();
    let clock = Clock::at(WEDNESDAY);
    // Six weeks of use, each sent by the next week's first run.
    for week in 0..6u64 {
        clock.set(WEDNESDAY + week * WEEK);
        let run = machine.client_with(&clock, |c| c);
        for _ in 0..(10 + 7 * week) {
            run.add(&TOOL_CALLS, Status::Ok, 1);
        }
        for _ in 0..(week % 3) {
            run.add(&TOOL_CALLS, Status::Error, 1);
        }
        for _ in 0..(2 + week) {
            run.capture(&Built { seconds: 4 });
        }
        assert!(run.shutdown(SOON));
    }
    assert!(wait_until(SOON, || machine.files("sent").len() == 5), "{:?}", machine.files("sent"));
    // The sixth week's report waits (the server is down), and the seventh
    // counts.
    machine.server.down();
    clock.set(WEDNESDAY + 6 * WEEK);
    let client = machine.client_with(&clock, |c| c);
    client.add(&TOOL_CALLS, Status::Ok, 1);
    assert!(!client.flush(SOON));
    assert!(wait_until(SOON, || machine.files("claim").is_empty()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.html");
    let mut out = Vec::new();
    cli::run_command(&client, &["report", "--html", path.to_str().unwrap()], &mut out).unwrap();
    let printed = String::from_utf8(out).unwrap();
    assert!(printed.starts_with(&format!("Wrote {}.", path.display())), "{printed}");
    let html = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // A chart per count, a bar per week kept: 5 sent, 1 waiting, 1 counting.
    assert_eq!(html.matches("<svg ").count(), 3, "{html}");
    assert_eq!(html.matches("<rect class=\"sent\"").count(), 15);
    assert_eq!(html.matches("<rect class=\"waiting\"").count(), 3);
    assert_eq!(html.matches("<rect class=\"counting\"").count(), 3);
    for text in [
        "tool_calls{status=ok}",
        "tool_calls{status=error}",
        "$events{event=built}",
        "Tool calls, by outcome.",
        "A build ran.",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // The reports as printed, escaped for HTML.
    let pending = printed.lines().skip_while(|l| !l.starts_with("Waiting to be sent")).nth(1).unwrap();
    assert!(html.contains(&pending.replace('&', "&amp;").replace('"', "&quot;")), "{pending}");
    for network in ["<script", "src=", "href=", "url(", "@import", "<link", "<iframe"] {
        assert!(!html.contains(network), "{network}");
    }
    if let Some(copy) = std::env::var_os(PAGE_ENV) {
        std::fs::write(copy, &html).unwrap();
    }
}

/// What a shutdown deadline cuts off is added to the period's counts. The
/// worker is held in a request of another route (the vendor's, which
/// hangs); the counts it had not drained yet, and the events queued behind
/// the request, reach the route that reports by period when the program
/// shuts down. (Before, both were lost.)
#[test]
fn counts_a_shutdown_deadline_cuts_off_are_added_to_the_period() {
    let machine = Machine::new();
    let hung = TestServer::start();
    hung.set_default(Behaviour::Hang);
    let config = config(machine.sandbox.path(), &machine.server.url(), weekly(), || at(WEDNESDAY))
        .route(sink(&hung.url()), Route::default());
    let telemetry = Telemetry::new(config).unwrap();
    telemetry.capture(&Built { seconds: 3 });
    let _ = telemetry.flush(Duration::ZERO);
    assert!(hung.wait_for_requests(1, Duration::from_secs(5)), "the vendor's request hangs");
    telemetry.add(&TOOL_CALLS, Status::Ok, 3);
    telemetry.capture(&Built { seconds: 4 });
    assert!(!telemetry.shutdown(Duration::from_millis(400)), "the deadline cut the run off");
    let counts = machine.counts("counts");
    assert_eq!(counts.get("tool_calls{status=ok}"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("$events{event=built}"), Some(&2), "{counts:?}");
}
