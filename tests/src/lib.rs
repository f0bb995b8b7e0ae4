//! Shared helpers for the integration tests: a real HTTP server on loopback
//! and a sandbox that keeps every client away from the real environment and
//! home directory (CI runs with `CI=true`, which would turn telemetry off).

pub mod canary;
pub mod catalog_check;
pub mod child;
pub mod custom;
pub mod logs;
pub mod otlp;
pub mod program;
pub mod server;
#[cfg(target_os = "linux")]
pub mod stamped;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use telemetry_runtime::sink::{HttpOptions, PostHogSink};
use telemetry_runtime::{Config, Delivery, Level};

pub use catalog_check::{catalog_json, catalog_json_of, event_named};
pub use program::{own_properties, Program};
pub use server::{
    batch_events, contains_bytes, Answer, Answerer, Behaviour, Gate, RawServer, Request, TestServer,
};

/// The README's examples compile and run as doctests of this crate, which
/// is never published: the README is outside the runtime's package
/// directory, where a doctest of the published crate could not reach it.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The project key the PostHog tests send.
pub const API_KEY: &str = "phc_test_project_key";

/// A generous bound for anything that should happen "soon": only a broken
/// runtime takes this long, a slow CI machine does not.
pub const SOON: Duration = Duration::from_secs(10);

/// Temporary cache and config directories for one client.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A fresh sandbox; the directories themselves are not created, so a test
    /// can tell whether the runtime created them.
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("create a temporary directory") }
    }

    /// The root of the sandbox.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the install id goes.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// Where the persisted consent goes.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Where local-only events and the record of recent deliveries go.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Like [`config`](Sandbox::config) for a sandbox whose files are under
    /// `dir` (a run that is a child process, or a later run of the same
    /// program), with the spool on and batches sent on flush only.
    pub fn spooling_config_in(dir: &Path) -> Config {
        Config::new("testapp", "1.2.3")
            .environment(env(&[]))
            .dirs(|_| telemetry_runtime::Dirs {
                cache: Some(dir.join("cache")),
                config: Some(dir.join("config")),
                data: Some(dir.join("data")),
            })
            .default_level(Level::Usage)
            .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
            .delivery(|d| Delivery { spool: true, ..on_flush(d) })
    }

    /// A config for app `testapp` that reads no real environment variable,
    /// keeps its files in the sandbox and is on (`Level::Usage`) by default,
    /// without the first-run notice (tests of the notice turn it back on).
    pub fn config(&self) -> Config {
        self.config_with_env(&[])
    }

    /// Like [`config`](Sandbox::config) with these environment variables.
    pub fn config_with_env(&self, vars: &[(&str, &str)]) -> Config {
        Config::new("testapp", "1.2.3")
            .environment(env(vars))
            .dirs(|_| telemetry_runtime::Dirs {
                cache: Some(self.cache_dir()),
                config: Some(self.config_dir()),
                data: Some(self.data_dir()),
            })
            .default_level(Level::Usage)
            .notice(|n| telemetry_runtime::Notice { enabled: false, ..n })
    }

    /// Every file under the sandbox, relative to it.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        collect_files(self.dir.path(), self.dir.path(), &mut found);
        found
    }
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

fn collect_files(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        found.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        if path.is_dir() {
            collect_files(root, &path, found);
        }
    }
}

/// The variable that turns every [`skip`] into a failure: `.ci/run` sets
/// it, so that on CI every case runs.
pub const NO_SKIP_ENV: &str = "TELEMETRY_TESTS_NO_SKIP";

/// Says that the calling test cannot run its case on this machine (`why`:
/// a tool is missing, the compiler is not the stable one), where the test
/// output shows it even when the test passes: straight to the process's
/// stderr, which the test harness does not capture. With
/// [`NO_SKIP_ENV`]`=1` it fails the test instead. The caller returns
/// afterwards: never a quiet pass.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    if std::env::var_os(NO_SKIP_ENV).is_some_and(|v| v == "1") {
        panic!("{test} cannot run here ({why}), and {NO_SKIP_ENV}=1 allows no skipped test");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// An environment made of `vars` alone.
pub fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

/// `options` with retries after 10-20 ms, 20-40 ms, 40-80 ms: fast, but
/// still a real backoff (for a sink's `http`).
pub fn fast(options: HttpOptions) -> HttpOptions {
    HttpOptions { backoff_base: Duration::from_millis(20), ..options }
}

/// `delivery` with batches sent on flush only (a flush interval no test
/// waits out), for a `Config::delivery`.
pub fn on_flush(delivery: Delivery) -> Delivery {
    Delivery { flush_interval: Duration::from_secs(120), ..delivery }
}

/// A PostHog sink for `server` with fast retries and short timeouts, and
/// uncompressed bodies, so that sizes on the wire are the events' own
/// (`tests/suite/compression.rs` covers gzip).
pub fn posthog_sink(server: &TestServer) -> PostHogSink {
    PostHogSink::new(API_KEY)
        .and_then(|sink| sink.host(&server.url()))
        .expect("valid PostHog sink")
        .http(fast)
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

/// Polls `done` every 5 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The milliseconds since the Unix epoch of an RFC 3339 UTC time with
/// milliseconds (`YYYY-MM-DDTHH:MM:SS.fffZ`, as the library writes them),
/// by Howard Hinnant's `days_from_civil`.
pub fn rfc3339_unix_millis(text: &str) -> Option<u64> {
    if !is_rfc3339_utc(text) || text.len() != 24 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    u64::try_from(seconds * 1000 + num(20..23)?).ok()
}

/// Whether `text` is an RFC 3339 UTC time as PostHog reads it:
/// `YYYY-MM-DDTHH:MM:SS[.fff]Z`, with plausible field ranges.
pub fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    let num = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap_or(u32::MAX);
    if b.len() < 20 || !digits(0..4) || !digits(5..7) || !digits(8..10) || !digits(11..13) || !digits(14..16)
    {
        return false;
    }
    if !digits(17..19) || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let fraction_ok = match &b[19..] {
        [b'Z'] => true,
        [b'.', rest @ .., b'Z'] => !rest.is_empty() && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    fraction_ok
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

/// The `uuid` strings of parsed events.
pub fn uuids(events: &[serde_json::Value]) -> Vec<String> {
    events.iter().map(|e| e["uuid"].as_str().unwrap_or_default().to_owned()).collect()
}

/// A future that is pending once, then ready: a suspension point for the
/// `async fn`s under test.
#[derive(Default)]
pub struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Runs a future to completion on this thread, polling with a no-op waker:
/// enough for the `async fn`s under test, which never wait on I/O.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_check() {
        assert!(is_rfc3339_utc("2024-02-29T23:59:59.123Z"));
        assert!(is_rfc3339_utc("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339_unix_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(rfc3339_unix_millis("2024-02-29T23:59:59.123Z"), Some(1_709_251_199_123));
        assert_eq!(rfc3339_unix_millis("2025-12-01T00:00:01.005Z"), Some(1_764_547_201_005));
        assert_eq!(rfc3339_unix_millis("2024-02-29T23:59:59Z"), None);
        for bad in [
            "",
            "2024-02-29 23:59:59Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00+01:00",
            "2024-01-01T00:00:00.Z",
        ] {
            assert!(!is_rfc3339_utc(bad), "{bad}");
        }
    }
}

/// A user's home for a program run as a child process: its own `HOME` and
/// XDG directories, so that the program's id, saved choice and files land
/// in a temporary directory.
#[derive(Debug)]
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A fresh, empty home.
    pub fn new() -> Home {
        Home { dir: tempfile::tempdir().expect("create a temporary home") }
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A command running `program` in this home, without `ambient` (the
    /// program's own telemetry variables) nor the CI markers of the machine
    /// running the tests, which would change its decision.
    pub fn command(&self, program: &str, ambient: &[&str]) -> std::process::Command {
        let home = self.path();
        let mut command = std::process::Command::new(program);
        for var in ambient.iter().chain(telemetry_runtime::__private::CI_VARIABLES) {
            command.env_remove(var);
        }
        command
            .env("HOME", home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"));
        command
    }
}

impl Default for Home {
    fn default() -> Home {
        Home::new()
    }
}

/// The threads of this process named like the library's worker
/// (`telemetry-worker`, which Linux may cut short in `comm`), from
/// `/proc/self/task`; `None` where there is no `/proc`.
pub fn worker_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .flatten()
            .filter(|task| {
                std::fs::read_to_string(task.path().join("comm"))
                    .is_ok_and(|c| !c.trim().is_empty() && "telemetry-worker".starts_with(c.trim()))
            })
            .count(),
    )
}
