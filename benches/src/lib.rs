//! Shared pieces of the benchmarks: the loopback HTTP server, the typical
//! 8-property event in each library's form, the clients under test, and CPU
//! time readings.
//!
//! Nothing here is part of telemetry-runtime; see BENCHMARKS.md at the top of
//! the repository for what is measured and how to run it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

pub mod interleave;

use telemetry_runtime::sink::HttpSink;
use telemetry_runtime::{Config, Level, Properties, Telemetry, TelemetryEvent, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The event
// ---------------------------------------------------------------------------

/// The data of a typical event, as the application holds it: two uuids, a
/// float, an int, a short string, a bool, a list of two strings and a version
/// string. Every variant below starts from this and copies what it needs.
#[derive(Clone, Debug)]
pub struct EventData {
    pub project_id: Uuid,
    pub run_id: Uuid,
    pub duration_ms: f64,
    pub items: u64,
    pub command: String,
    pub cached: bool,
    pub features: Vec<String>,
    pub version: String,
}

impl EventData {
    pub fn sample() -> EventData {
        EventData {
            project_id: Uuid::from_u128(0x0f0e_0d0c_0b0a_4908_8706_0504_0302_0100),
            run_id: Uuid::from_u128(0x1f1e_1d1c_1b1a_4918_9716_1514_1312_1110),
            duration_ms: 1234.5,
            items: 42,
            command: "build".to_owned(),
            cached: true,
            features: vec!["fast".to_owned(), "color".to_owned()],
            version: "1.4.2".to_owned(),
        }
    }

    /// The typed event, borrowing nothing: built by the application.
    pub fn typed(&self) -> TaskFinished {
        TaskFinished {
            project_id: self.project_id,
            run_id: self.run_id,
            duration_ms: self.duration_ms,
            items: self.items,
            command: self.command.clone(),
            cached: self.cached,
            features: self.features.clone(),
            version: self.version.clone(),
        }
    }

    /// The dynamic form, for [`TASK_FINISHED`]: `Properties` built by hand;
    /// runtime strings go through `Value::Text`.
    pub fn properties(&self) -> Properties {
        Properties::new()
            .with("project_id", self.project_id)
            .with("run_id", self.run_id)
            .with("duration_ms", self.duration_ms)
            .with("items", self.items)
            .with("command", Value::Text(String::from(self.command.as_str()).into()))
            .with("cached", self.cached)
            .with(
                "features",
                Value::List(self.features.iter().map(|f| Value::Text(String::from(f.as_str()).into())).collect()),
            )
            .with("version", Value::Text(String::from(self.version.as_str()).into()))
    }

    /// The same event for posthog-rs: anonymous, with an install id the
    /// application keeps (as telemetry-runtime does), no person profile.
    pub fn posthog(&self, distinct_id: &str) -> posthog_rs::Event {
        let mut event = posthog_rs::Event::new("task_finished", distinct_id);
        // Serializing these plain values cannot fail.
        let _ = event.insert_prop("project_id", self.project_id);
        let _ = event.insert_prop("run_id", self.run_id);
        let _ = event.insert_prop("duration_ms", self.duration_ms);
        let _ = event.insert_prop("items", self.items);
        let _ = event.insert_prop("command", &self.command);
        let _ = event.insert_prop("cached", self.cached);
        let _ = event.insert_prop("features", &self.features);
        let _ = event.insert_prop("version", &self.version);
        let _ = event.insert_prop("$process_person_profile", false);
        event
    }
}

/// A task finished: the benchmarks' typical event with eight properties.
#[derive(TelemetryEvent, Clone, Debug)]
pub struct TaskFinished {
    /// The project the task ran in.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    pub project_id: Uuid,
    /// This run.
    #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
    pub run_id: Uuid,
    /// How long the task took.
    pub duration_ms: f64,
    /// How many items it handled.
    pub items: u64,
    /// The subcommand, from the program's fixed list.
    #[telemetry(public, reason = "a subcommand name from the program's fixed list")]
    pub command: String,
    /// Whether the result came from the cache.
    pub cached: bool,
    /// Enabled features, from the program's fixed list.
    #[telemetry(public, reason = "feature names from the program's fixed list")]
    pub features: Vec<String>,
    /// The program's version.
    #[telemetry(public, reason = "the program's own version, a constant")]
    pub version: String,
}

telemetry_runtime::event! {
    /// A task finished: the benchmarks' typical event with eight properties.
    pub static TASK_FINISHED = "task_finished" {
        /// The project the task ran in.
        #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
        project_id: Uuid,
        /// This run.
        #[telemetry(public, reason = "a random v4 uuid, linked to no person or machine")]
        run_id: Uuid,
        /// How long the task took.
        duration_ms: f64,
        /// How many items it handled.
        items: u64,
        /// The subcommand, from the program's fixed list.
        #[telemetry(public, reason = "a subcommand name from the program's fixed list")]
        command: String,
        /// Whether the result came from the cache.
        cached: bool,
        /// Enabled features, from the program's fixed list.
        #[telemetry(public, reason = "feature names from the program's fixed list")]
        features: Vec<String>,
        /// The program's version.
        #[telemetry(public, reason = "the program's own version, a constant")]
        version: String,
    }
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/// How many records a client may hold: "large" keeps drops out of the
/// measurement, "default" is the library's own 10,000.
pub const LARGE_QUEUE: usize = 4_000_000;

/// The queue's byte bound for a queue of `events`: the library's 16 MiB,
/// or 1 KiB per event for a larger queue, so that the event count is what
/// bounds [`LARGE_QUEUE`] (1,000,000 typical events fill about 150 MB).
pub fn queue_bytes(events: usize) -> usize {
    events.saturating_mul(1024).max(16 << 20)
}

/// A telemetry-runtime client at `Usage`, reading no environment, with its
/// files in `dir`, shipping through `sink`.
pub fn ours(dir: &Path, sink: impl telemetry_runtime::sink::Sink, queue: usize, recent: usize) -> Telemetry {
    Telemetry::new(ours_config(dir, sink, queue, recent)).expect("bench config is valid")
}

/// The configuration `ours` builds, for benchmarks that change one setting.
pub fn ours_config(
    dir: &Path,
    sink: impl telemetry_runtime::sink::Sink,
    queue: usize,
    recent: usize,
) -> Config {
    Config::new("bench", "1.0.0")
        .consent(Level::Usage)
        .environment(|_| None)
        .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
        .dirs(|_| telemetry_runtime::Dirs::from(dir))
        .delivery(|d| telemetry_runtime::Delivery {
            queue_capacity: queue,
            queue_bytes: queue_bytes(queue),
            recent_deliveries: recent,
            ..d
        })
        .sink(sink)
}

/// An `HttpSink` to the loopback server at `addr`, sending plain bodies
/// like posthog-rs (gzip, on by default above 4 KiB, is measured apart).
pub fn http_sink(addr: SocketAddr) -> HttpSink {
    http_sink_default_gzip(addr).http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

/// An `HttpSink` to the loopback server at `addr` with the library's
/// default compression (gzip above 4 KiB).
pub fn http_sink_default_gzip(addr: SocketAddr) -> HttpSink {
    HttpSink::new(format!("http://{addr}/batch/")).expect("loopback URL is valid")
}

/// A `PostHogSink` to the loopback server at `addr` (plain bodies).
pub fn posthog_sink(addr: SocketAddr) -> telemetry_runtime::sink::PostHogSink {
    posthog_sink_default_gzip(addr).http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

/// A `PostHogSink` to the loopback server at `addr` with the library's
/// defaults (`/batch/`, gzip above 4 KiB): what a PostHog user runs.
pub fn posthog_sink_default_gzip(addr: SocketAddr) -> telemetry_runtime::sink::PostHogSink {
    telemetry_runtime::sink::PostHogSink::new("phc_bench")
        .and_then(|s| s.host(&format!("http://{addr}")))
        .expect("loopback host is valid")
}

/// A `PostHogSink` speaking capture Analytics V1 to the loopback server at
/// `addr` (plain bodies).
pub fn posthog_v1_sink(addr: SocketAddr) -> telemetry_runtime::sink::PostHogSink {
    posthog_sink(addr).capture_api(telemetry_runtime::sink::CaptureApi::AnalyticsV1)
}

/// An `OtlpSink` to the loopback server at `addr` in `protocol` (plain
/// bodies).
pub fn otlp_sink(
    addr: SocketAddr,
    protocol: telemetry_runtime::sink::Protocol,
) -> telemetry_runtime::sink::OtlpSink {
    telemetry_runtime::sink::OtlpSink::new(&format!("http://{addr}"))
        .expect("loopback URL is valid")
        .protocol(protocol)
        .http(|h| telemetry_runtime::sink::HttpOptions { gzip_above: None, ..h })
}

/// A posthog-rs blocking client sending to the loopback server at `addr`,
/// batches of 100 (its default), holding at most `queue` events.
pub fn posthog_client(addr: SocketAddr, queue: usize) -> posthog_rs::Client {
    let options = posthog_rs::ClientOptionsBuilder::default()
        .api_key("phc_bench".to_owned())
        .host(format!("http://{addr}"))
        .max_queue_size(queue)
        .flush_at(100)
        .max_batch_size(100)
        .request_timeout_seconds(10)
        .shutdown_timeout_ms(1000)
        .build()
        .expect("posthog options are valid");
    posthog_rs::client(options)
}

// ---------------------------------------------------------------------------
// The loopback server
// ---------------------------------------------------------------------------

/// What the server does with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Reads the request and answers `200 {"status":1}`, keeping the
    /// connection open.
    Ok,
    /// Accepts connections and reads from them, but never answers.
    Hang,
}

/// What the server has received so far.
#[derive(Default, Debug)]
pub struct ServerStats {
    pub requests: AtomicU64,
    pub body_bytes: AtomicU64,
    /// Events counted in request bodies (occurrences of `"event":`).
    pub events: AtomicU64,
}

impl ServerStats {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (self.requests.load(Relaxed), self.body_bytes.load(Relaxed), self.events.load(Relaxed))
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1, a thread per connection. It ends
/// with the process.
pub struct Server {
    pub addr: SocketAddr,
    pub stats: Arc<ServerStats>,
}

pub fn serve(mode: Mode) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let stats = Arc::new(ServerStats::default());
    let accepted = Arc::clone(&stats);
    std::thread::Builder::new()
        .name("loopback-accept".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let stats = Arc::clone(&accepted);
                let _ = std::thread::Builder::new()
                    .name("loopback-conn".into())
                    .spawn(move || connection(stream, mode, &stats));
            }
        })
        .expect("spawn server");
    Server { addr, stats }
}

fn connection(stream: TcpStream, mode: Mode, stats: &ServerStats) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut body = Vec::new();
    loop {
        let Some((close, gzipped)) = read_request(&mut reader, &mut body) else { return };
        stats.requests.fetch_add(1, Relaxed);
        stats.body_bytes.fetch_add(body.len() as u64, Relaxed);
        let events = if gzipped {
            let mut plain = Vec::new();
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
            count(&plain, b"\"event\":")
        } else {
            count(&body, b"\"event\":")
        };
        stats.events.fetch_add(events, Relaxed);
        if mode == Mode::Hang {
            // Keep reading (and holding) the connection; never answer.
            continue;
        }
        let response =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"status\":1}";
        if writer.write_all(response).is_err() || close {
            return;
        }
    }
}

/// Reads one request into `body`; returns whether the client asked to close
/// and whether the body is gzipped, or `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Option<(bool, bool)> {
    let mut line = String::new();
    let mut length = 0usize;
    let mut chunked = false;
    let mut close = false;
    let mut gzipped = false;
    // Request line.
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { continue };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => length = value.parse().ok()?,
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => close = value.eq_ignore_ascii_case("close"),
            "content-encoding" => gzipped = value.eq_ignore_ascii_case("gzip"),
            _ => {}
        }
    }
    body.clear();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            line.clear();
            reader.read_line(&mut line).ok()?;
            if size == 0 {
                break;
            }
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(body).ok()?;
    }
    Some((close, gzipped))
}

fn count(haystack: &[u8], needle: &[u8]) -> u64 {
    // The server answers after counting, so counting is on every request's
    // critical path: str's substring search, not a byte-by-byte window scan.
    match (std::str::from_utf8(haystack), std::str::from_utf8(needle)) {
        (Ok(haystack), Ok(needle)) => haystack.matches(needle).count() as u64,
        _ => haystack.windows(needle.len()).filter(|w| *w == needle).count() as u64,
    }
}

/// The loopback server in a child process, so that its CPU time is not the
/// measured process's. The child is this same executable run with
/// `--serve ok|hang` (see [`child_main`]).
pub struct ChildServer {
    pub addr: SocketAddr,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ChildServer {
    pub fn start(mode: Mode) -> ChildServer {
        let exe = std::env::current_exe().expect("current exe");
        let arg = if mode == Mode::Ok { "ok" } else { "hang" };
        let mut child = Command::new(exe)
            .args(["--serve", arg])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the loopback server");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("server address");
        let addr = line.trim().parse().expect("server address");
        ChildServer { addr, child, stdin, stdout }
    }

    /// (requests, body bytes, events) received so far.
    pub fn stats(&mut self) -> (u64, u64, u64) {
        writeln!(self.stdin, "stats").expect("ask the server");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("server stats");
        let mut n = line.split_whitespace().map(|x| x.parse::<u64>().expect("number"));
        (n.next().unwrap_or(0), n.next().unwrap_or(0), n.next().unwrap_or(0))
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Call first in a bench binary's `main`: when started as a child server,
/// serves until its stdin closes and then exits.
pub fn child_main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("--serve") {
        return;
    }
    let mode = if args.get(2).map(String::as_str) == Some("hang") { Mode::Hang } else { Mode::Ok };
    let server = serve(mode);
    println!("{}", server.addr);
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "stats" {
            let (r, b, e) = server.stats.snapshot();
            println!("{r} {b} {e}");
            let _ = std::io::stdout().flush();
        }
    }
    std::process::exit(0);
}

/// Waits until `done` or `timeout`; returns whether it became true.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done()
}

// ---------------------------------------------------------------------------
// CPU time
// ---------------------------------------------------------------------------

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system CPU time of the whole process (every thread, living or not).
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// User and system CPU time of every living thread of this process whose
/// name starts with `prefix` (names are cut at 15 bytes), from /proc, in
/// clock ticks.
pub fn named_threads_cpu_split(prefix: &str) -> (Duration, Duration) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let (mut user, mut system) = (0u64, 0u64);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (Duration::ZERO, Duration::ZERO) };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // "tid (comm) state ..." with utime and stime the 14th and 15th fields.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        user += fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        system += fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    let time = |t: u64| Duration::from_nanos(t * 1_000_000_000 / ticks);
    (time(user), time(system))
}

/// CPU time of every living thread of this process whose name starts with
/// `prefix`, from /proc's schedstat (the scheduler's own count, in
/// nanoseconds, where `stat` rounds to clock ticks of 10 ms).
pub fn named_threads_cpu(prefix: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let mut total = 0u64;
    for task in tasks.flatten() {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else { continue };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else { continue };
        total += schedstat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()).unwrap_or(0);
    }
    Duration::from_nanos(total)
}

/// Minor page faults of the calling thread so far: each one is the kernel
/// providing a page of memory new to the process.
pub fn thread_minor_faults() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    usage.ru_minflt as u64
}

/// Minor page faults of every living thread of this process whose name
/// starts with `prefix`, from /proc.
pub fn named_threads_minor_faults(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    let mut faults = 0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // minflt is the 10th field, the 8th after "(comm)".
        faults +=
            stat[close + 2..].split_whitespace().nth(7).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    }
    faults
}

/// Peak resident memory of this process so far (VmHWM), in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Median and range of `xs`.
pub fn summary(xs: &mut [f64]) -> (f64, f64, f64) {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    (median, xs[0], xs[n - 1])
}
