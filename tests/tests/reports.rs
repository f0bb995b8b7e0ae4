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
use telemetry_tests::{
    child, env, fast_backoff, wait_until, Behaviour, Gate, Sandbox, TestServer, API_KEY, SOON,
};

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
        /// `ok` or `error`.
        status,
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
struct Asked {
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
        .backoff(fast_backoff())
        .timeouts(Duration::from_secs(2), Duration::from_secs(5))
        .gzip_above(None)
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
        .cache_dir(dir.join("cache"))
        .config_dir(dir.join("config"))
        .data_dir(dir.join("data"))
        .default_level(Level::Usage)
        .first_run_notice(false)
        .route(sink(url), route);
    telemetry_runtime::__private::report_clock(config, now)
}

fn weekly() -> Route {
    Route::all().per_period(Duration::from_secs(WEEK))
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
            telemetry.increment(&TOOL_CALLS, ["ok"]);
        }
        for _ in 0..error {
            telemetry.increment(&TOOL_CALLS, ["error"]);
        }
        for _ in 0..builds {
            telemetry.capture(&Built { seconds: 3 });
        }
        telemetry.capture(&Asked { question: "is this counted?".into() });
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
    const TEST: &str = "two_hundred_runs_in_a_week_send_nothing_then_one_report_with_the_exact_sums";
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
    const TEST: &str = "eight_processes_counting_at_once_lose_no_count";
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
        telemetry.increment(&TOOL_CALLS, ["ok"]);
        let _ = telemetry.flush(SOON);
    }
}

#[test]
fn a_writer_killed_in_the_middle_of_a_write_leaves_a_readable_file() {
    const TEST: &str = "a_writer_killed_in_the_middle_of_a_write_leaves_a_readable_file";
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
    let written = || machine.files("counts").first().map_or(0, |file| {
        counts_in(&std::fs::read_to_string(file).unwrap()).get("tool_calls{status=ok}").copied().unwrap_or(0)
    });
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
    const TEST: &str = "two_processes_starting_together_after_the_week_send_its_report_once";
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
        week.increment(&TOOL_CALLS, ["ok"]);
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
