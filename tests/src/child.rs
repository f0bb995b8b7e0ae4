//! Runs one test of the current test binary in a child process: for what
//! only a process can show (how long it takes to exit, what reaches its
//! stderr, how it reads a real environment, whether it survives).
//!
//! The test calls [`mode`] first; in the child it gets `Some(mode)` and does
//! the child's part, reporting results with [`report`]; in the parent it
//! gets `None`, calls [`run`] with its own name and reads the [`Output`].
//!
//! The child's environment is the parent's without anything that could
//! decide consent (`CI` and friends, `DO_NOT_TRACK`, `*TELEMETRY*` but the
//! tests' own `TELEMETRY_TESTS_*`), plus what the test passes.
//!
//! A test is named by its full path inside the binary (`module::name`);
//! [`run`] fails when the child ran anything but that one test, so that a
//! misspelt or outdated name is not a quiet pass.
//!
//! [`isolated`] runs a whole test in a process of its own: for a test that
//! needs the process to itself (the global client, its thread count, its
//! resident memory, a process-wide logger setting).

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The variable that tells a test it runs as the child, and in which mode.
pub const CHILD_ENV: &str = "TELEMETRY_TESTS_CHILD";

/// The child's mode, or `None` in the parent.
pub fn mode() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The mode of a test that [`isolated`] runs as a child.
const ISOLATED: &str = "isolated";

/// How long an [`isolated`] test may run before it is killed and fails.
const ISOLATED_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `body`, the test named `test` (its full path inside the binary,
/// `module::name`), in a process of its own: in the parent, runs the test
/// again as a child and fails unless the child passed, showing what it
/// printed; in the child, runs `body`. For a test that needs the process to
/// itself: one that installs the global client, counts the process's
/// threads, reads its resident memory, or sets the logger for the whole
/// process; the other tests of the binary run in the parent meanwhile.
pub fn isolated(test: &str, body: impl FnOnce()) {
    if mode().as_deref() == Some(ISOLATED) {
        return body();
    }
    let output = run(test, ISOLATED, &[], ISOLATED_TIMEOUT);
    // What the child printed, where the harness shows a test's output.
    print!("{}", output.stdout);
    eprint!("{}", output.stderr);
    assert!(!output.timed_out, "{test} did not end within {ISOLATED_TIMEOUT:?} in its own process");
    assert!(output.success(), "{test} failed in its own process ({:?}): see its output above", output.status);
}

/// A value the child passes to the parent (one stdout line).
pub fn report(key: &str, value: impl std::fmt::Display) {
    // On a line of its own: the test harness may have started one.
    println!("\nCHILD:{key}={value}");
}

/// How the child ended.
#[derive(Debug)]
pub struct Output {
    /// Its exit status (`None` when it was killed at the timeout).
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// From spawn to exit, as the parent saw it.
    pub elapsed: Duration,
    /// Whether it had to be killed.
    pub timed_out: bool,
}

impl Output {
    /// A value the child [`report`]ed.
    pub fn value(&self, key: &str) -> Option<&str> {
        let prefix = format!("CHILD:{key}=");
        self.stdout.lines().find_map(|line| line.strip_prefix(prefix.as_str()))
    }

    /// Whether the child exited successfully (its test passed).
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Runs the test named `test` (its full path inside the binary) of this
/// binary as a child in `mode`, with `envs` added, killing it after
/// `timeout`.
pub fn run(test: &str, mode: &str, envs: &[(&str, &OsStr)], timeout: Duration) -> Output {
    run_under(&[], test, mode, envs, timeout)
}

/// Like [`run`], with the child started by the command `wrapper` (its
/// program and arguments, before the test binary's path): `unshare
/// --mount` for a child with mounts of its own, say.
pub fn run_under(
    wrapper: &[&str],
    test: &str,
    mode: &str,
    envs: &[(&str, &OsStr)],
    timeout: Duration,
) -> Output {
    let mut command = command(wrapper, test, mode, envs);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn the child test process");
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let deadline = started + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(err) => panic!("waiting for the child: {err}"),
        }
    };
    let elapsed = started.elapsed();
    let join = |handle: Option<std::thread::JoinHandle<Vec<u8>>>| {
        let bytes = handle.and_then(|h| h.join().ok()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let output = Output { status, stdout: join(stdout), stderr: join(stderr), elapsed, timed_out };
    // The harness says how many tests it runs before it runs them: a name
    // that matches no test would run none, and pass.
    assert!(
        output.stdout.lines().any(|line| line == "running 1 test"),
        "the child did not run exactly the test {test:?}: is that its full name in this binary \
         (`module::name`)?\n{}\n{}",
        output.stdout,
        output.stderr
    );
    output
}

/// Starts the test named `test` of this binary as a child in `mode`, like
/// [`run`], and returns it running: for a test that ends the child itself
/// (a kill at a moment it chooses). Its output is discarded.
pub fn spawn(test: &str, mode: &str, envs: &[(&str, &OsStr)]) -> std::process::Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let listed = Command::new(&exe)
        .args([test, "--exact", "--list"])
        .stdin(Stdio::null())
        .output()
        .expect("list the test binary's tests");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.lines().any(|line| line == format!("{test}: test")),
        "no test {test:?} in this binary: is that its full name (`module::name`)?\n{listed}"
    );
    let mut command = command(&[], test, mode, envs);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command.spawn().expect("spawn the child test process")
}

/// The command that runs `test` as a child in `mode`, with `envs` added,
/// started by `wrapper` when it is not empty.
fn command(wrapper: &[&str], test: &str, mode: &str, envs: &[(&str, &OsStr)]) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = match wrapper {
        [] => Command::new(exe),
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg(exe);
            command
        }
    };
    command.args([test, "--exact", "--nocapture", "--test-threads=1"]).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        let consent_var =
            telemetry_runtime::__private::CI_VARIABLES.contains(&text.as_ref()) || text == "DO_NOT_TRACK";
        // The tests' own settings (`TELEMETRY_TESTS_NO_SKIP`) hold in the child too.
        let ours = text.starts_with("TELEMETRY_TESTS_");
        if consent_var || (text.contains("TELEMETRY") && !ours) {
            command.env_remove(&name);
        }
    }
    command.env(CHILD_ENV, mode);
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// `value` as an `OsString`, for [`run`]'s `envs`.
pub fn os(value: impl Into<OsString>) -> OsString {
    value.into()
}

/// Limits the size of every file this process writes to `bytes` (the soft
/// `RLIMIT_FSIZE`; the hard limit is kept), leaving `SIGXFSZ` at its
/// default action: a write that starts at the limit ends the process. For
/// a child's part: the limit binds this process and those it starts. Any
/// user may lower their own limit, root included, and the limit binds root
/// too.
#[cfg(unix)]
pub fn limit_file_size(bytes: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let maximum = getrlimit(Resource::Fsize).maximum;
    setrlimit(Resource::Fsize, Rlimit { current: Some(bytes), maximum }).expect("lower RLIMIT_FSIZE");
}

/// The signal `SIGXFSZ` (file size limit exceeded), as an exit status shows it.
#[cfg(unix)]
pub const SIGXFSZ: i32 = rustix::process::Signal::XFSZ.as_raw();

/// Makes file modes bind this thread and the threads it starts afterwards,
/// as they bind every user but root: on Linux, drops the capabilities that
/// let root read and write whatever a file's mode says
/// (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, `CAP_FOWNER`), for good.
/// For a child's part. Returns whether modes bind now: a file of mode 000
/// cannot be read.
#[cfg(unix)]
pub fn obey_file_modes() -> bool {
    use std::os::unix::fs::PermissionsExt;
    #[cfg(target_os = "linux")]
    {
        use rustix::thread::{capabilities, set_capabilities, CapabilitySet};
        let overrides = CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH | CapabilitySet::FOWNER;
        if let Ok(mut sets) = capabilities(None) {
            sets.effective.remove(overrides);
            sets.permitted.remove(overrides);
            let _ = set_capabilities(None, sets);
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let probe = dir.path().join("probe");
    std::fs::write(&probe, "x").expect("write the probe");
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o000)).expect("chmod the probe");
    std::fs::read(&probe).is_err()
}
