//! Captures every `log` record of the test process, so a test can check what
//! the library says (a warning that names a dropped event) and what it never
//! says (an API key, a redacted value).
//!
//! [`install`] once per test binary (it is idempotent); the records of every
//! test in the binary land in the same list, while the other tests run, so
//! look for what only your test produces: its server's URL, its sandbox's
//! paths, a canary, or the records of your own thread ([`Line::thread`],
//! [`this_thread`]: what a client logs while it is made and while it
//! captures). Set `TELEMETRY_TESTS_ECHO_LOGS=1` to also print them.

use std::sync::{Mutex, MutexGuard, Once};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The log target of the library's per-event debug lines (the guide's
/// "Seeing what is sent").
pub const EVENTS_LOG_TARGET: &str = "telemetry_runtime::events";

/// One captured record.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its level.
    pub level: Level,
    /// Its target (the module that logged it).
    pub target: String,
    /// The formatted message.
    pub message: String,
    /// The thread that logged it.
    pub thread: ThreadId,
}

impl Line {
    /// Whether the calling thread logged it.
    pub fn is_from_this_thread(&self) -> bool {
        self.thread == std::thread::current().id()
    }
}

static LINES: Mutex<Vec<Line>> = Mutex::new(Vec::new());
/// Targets the logger reports as disabled (with their sub-targets).
static DISABLED: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Records logged to a disabled target.
static SUPPRESSED: Mutex<Vec<Line>> = Mutex::new(Vec::new());

fn suppressed_lock() -> MutexGuard<'static, Vec<Line>> {
    SUPPRESSED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The records logged to a target while it was disabled (see
/// [`set_target_enabled`]): a library that checks `log_enabled!` first
/// never sends any.
pub fn suppressed() -> Vec<Line> {
    suppressed_lock().clone()
}
static INSTALL: Once = Once::new();
static CAPTURE: Capture = Capture;

struct Capture;

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        let disabled = DISABLED.lock().unwrap_or_else(|e| e.into_inner());
        !disabled.iter().any(|d| target == d || target.starts_with(&format!("{d}::")))
    }

    fn log(&self, record: &Record<'_>) {
        let line = Line {
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
            thread: std::thread::current().id(),
        };
        if !self.enabled(record.metadata()) {
            // Logged without asking whether the target is enabled: kept
            // apart, for tests of what a disabled target costs.
            suppressed_lock().push(line);
            return;
        }
        if std::env::var_os("TELEMETRY_TESTS_ECHO_LOGS").is_some() {
            eprintln!("[log {} {}] {}", line.level, line.target, line.message);
        }
        lines_lock().push(line);
    }

    fn flush(&self) {}
}

fn lines_lock() -> MutexGuard<'static, Vec<Line>> {
    LINES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the capturing logger at the most verbose level. Panics if some
/// other logger was installed first (the capture would see nothing).
pub fn install() {
    INSTALL.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger is installed in this test process");
        log::set_max_level(LevelFilter::Trace);
    });
}

/// Makes the logger report `target` (and its sub-targets) as disabled, as
/// a host's filter would, or enabled again; affects every test of the
/// binary (a test that disables a target the others log to runs in a
/// process of its own: [`child::isolated`](crate::child::isolated)).
pub fn set_target_enabled(target: &str, enabled: bool) {
    let mut disabled = DISABLED.lock().unwrap_or_else(|e| e.into_inner());
    disabled.retain(|d| d != target);
    if !enabled {
        disabled.push(target.to_owned());
    }
}

/// Every record captured so far, oldest first.
pub fn lines() -> Vec<Line> {
    lines_lock().clone()
}

/// A point in the captured records, for [`since`].
#[derive(Debug, Clone, Copy)]
pub struct Mark(usize);

/// The point after the records captured so far: the records that can carry
/// what a test makes afterwards (a canary, a client's lines) come later.
pub fn mark() -> Mark {
    Mark(lines_lock().len())
}

/// The records captured after `mark`, oldest first: this test's, and those
/// of the tests that ran meanwhile. Far fewer than [`lines`] in a binary
/// whose tests have logged for a while.
pub fn since(mark: Mark) -> Vec<Line> {
    lines_lock().get(mark.0..).map(<[Line]>::to_vec).unwrap_or_default()
}

/// The records the calling thread logged, oldest first.
pub fn this_thread() -> Vec<Line> {
    lines_lock().iter().filter(|l| l.is_from_this_thread()).cloned().collect()
}

/// The records of every thread that logged `marker` at least once: with a
/// test server's URL, what the worker threads of the clients that sent to
/// it logged (the HTTP client names the URL of each request), including
/// the lines that name no URL.
pub fn of_threads_that_logged(marker: &str) -> Vec<Line> {
    let lines = lines_lock();
    let threads: Vec<ThreadId> =
        lines.iter().filter(|l| l.message.contains(marker)).map(|l| l.thread).collect();
    lines.iter().filter(|l| threads.contains(&l.thread)).cloned().collect()
}

/// The records whose message contains `text`.
pub fn containing(text: &str) -> Vec<Line> {
    lines_lock().iter().filter(|l| l.message.contains(text)).cloned().collect()
}

/// Waits until a record matches `matches` or `timeout` passes; returns the
/// first match.
pub fn wait_for(timeout: Duration, matches: impl Fn(&Line) -> bool) -> Option<Line> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = lines_lock().iter().find(|l| matches(l)) {
            return Some(line.clone());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
