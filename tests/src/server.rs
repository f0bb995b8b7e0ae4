//! A small HTTP/1.1 server on loopback for the delivery tests.
//!
//! It speaks just enough HTTP for ureq: a request line, headers, a body sized
//! by `Content-Length` or `Transfer-Encoding: chunked`, keep-alive. Every
//! request is recorded; the answer to each comes from a script of
//! [`Behaviour`]s, one per request, then the default (200 `{"status":"Ok"}`).
//!
//! Dropping the server closes the listener and every open socket and waits a
//! bounded time for its threads, so a test that fails half-way cannot hang.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The body of a default answer, like PostHog's.
pub const OK_BODY: &str = r#"{"status":"Ok"}"#;

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers with this status (body `{"status":"Ok"}` for 2xx, an error
    /// object otherwise).
    Status(u16),
    /// Answers with this status and extra headers.
    StatusWithHeaders(u16, Vec<(&'static str, &'static str)>),
    /// Reads the request and never answers; the socket stays open until the
    /// server is dropped.
    Hang,
    /// Reads the request and closes the connection without an answer.
    Close,
    /// Reads the request and waits until the gate opens (or the server is
    /// dropped), then answers 200. Lets a test hold the client's worker in a
    /// request while it queues more events.
    Gate(Gate),
}

/// A latch a test opens to release [`Behaviour::Gate`] requests.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Opens the gate for every waiting and later request.
    pub fn open(&self) {
        *lock(&self.inner.0) = true;
        self.inner.1.notify_all();
    }

    /// Waits until the gate opens or `stop` is set; polls `stop` so that a
    /// dropped server frees its threads.
    fn wait(&self, stop: &AtomicBool) {
        let mut open = lock(&self.inner.0);
        while !*open && !stop.load(SeqCst) {
            open = self
                .inner
                .1
                .wait_timeout(open, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The request target, e.g. `/batch/`.
    pub path: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Which accepted connection (0-based) carried it.
    pub connection: usize,
    /// When the request was fully read.
    pub received_at: Instant,
    /// The status answered, `None` for `Hang` and `Close` (or a gate still shut).
    pub status: Option<u16>,
}

impl Request {
    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The events of a PostHog-shaped body (`{"batch": [...]}`).
    pub fn events(&self) -> Vec<serde_json::Value> {
        batch_events(&self.json())
    }

    /// The uuids of the events in the body, in order.
    pub fn event_uuids(&self) -> Vec<String> {
        self.events().iter().map(|e| e["uuid"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Whether the server answered 2xx.
    pub fn accepted(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The `batch` array of a parsed body (empty when there is none).
pub fn batch_events(body: &serde_json::Value) -> Vec<serde_json::Value> {
    body["batch"].as_array().cloned().unwrap_or_default()
}

/// What the connection threads share with the test.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    connections: AtomicUsize,
    /// Connection threads still running, for the bounded join on drop.
    live: Mutex<usize>,
    live_changed: Condvar,
    /// Clones of open sockets by connection id, shut down on drop to
    /// unblock reads.
    sockets: Mutex<Vec<(usize, TcpStream)>>,
    state: Mutex<State>,
    requests_changed: Condvar,
}

#[derive(Default)]
struct State {
    script: VecDeque<Behaviour>,
    default: Option<Behaviour>,
    /// Answer 413 to bodies longer than this, before consulting the script.
    max_body: Option<usize>,
    requests: Vec<Request>,
}

/// A running test server; see the module docs.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on `127.0.0.1` and an ephemeral port.
    pub fn start() -> TestServer {
        TestServer::start_on(0)
    }

    /// Starts a server on `127.0.0.1:port` (0: any free port). A fixed port
    /// lets a test bring a server back where a dropped one was.
    pub fn start_on(port: u16) -> TestServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the test server");
        let addr = listener.local_addr().expect("test server address");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name("test-server-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .expect("spawn the accept thread");
        TestServer { addr, shared, accept_thread: Some(accept_thread) }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Queues behaviours for the next requests, one each, in order.
    pub fn script(&self, behaviours: impl IntoIterator<Item = Behaviour>) -> &TestServer {
        self.state().script.extend(behaviours);
        self
    }

    /// The behaviour once the script is used up (default: 200).
    pub fn set_default(&self, behaviour: Behaviour) -> &TestServer {
        self.state().default = Some(behaviour);
        self
    }

    /// Answers 413 to every request whose body is longer than `bytes`.
    pub fn reject_bodies_over(&self, bytes: usize) -> &TestServer {
        self.state().max_body = Some(bytes);
        self
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(SeqCst)
    }

    /// Waits until at least `n` requests have arrived or `timeout` passes;
    /// returns whether they did.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |requests| requests.len() >= n)
    }

    /// Waits until the requests the server accepted (2xx) carry at least `n`
    /// events in all, or `timeout` passes.
    pub fn wait_for_accepted_events(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |requests| {
            requests.iter().filter(|r| r.accepted()).map(|r| r.events().len()).sum::<usize>() >= n
        })
    }

    /// Every event of every request the server accepted, in arrival order.
    pub fn accepted_events(&self) -> Vec<serde_json::Value> {
        self.requests().iter().filter(|r| r.accepted()).flat_map(|r| r.events()).collect()
    }

    /// The uuids of [`accepted_events`](TestServer::accepted_events).
    pub fn accepted_uuids(&self) -> Vec<String> {
        self.accepted_events().iter().map(|e| e["uuid"].as_str().unwrap_or_default().to_owned()).collect()
    }

    fn wait_until(&self, timeout: Duration, done: impl Fn(&[Request]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        loop {
            if done(&state.requests) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .shared
                .requests_changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        // Wake the accept thread with a connection of our own (it checks
        // `stop` before counting it), then free every blocked read.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
        for (_, socket) in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        // Bounded: a thread that does not end in time is left behind rather
        // than hanging the test.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut live = lock(&self.shared.live);
        while *live > 0 && Instant::now() < deadline {
            live = self
                .shared
                .live_changed
                .wait_timeout(live, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.connections.fetch_add(1, SeqCst);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.sockets).push((id, clone));
        }
        *lock(&shared.live) += 1;
        let conn_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new().name(format!("test-server-conn-{id}")).spawn(move || {
            let _ = serve_connection(stream, id, &conn_shared);
            // The registry's clone would keep the socket open: close it for real.
            let mut sockets = lock(&conn_shared.sockets);
            if let Some(pos) = sockets.iter().position(|(i, _)| *i == id) {
                let _ = sockets.swap_remove(pos).1.shutdown(Shutdown::Both);
            }
            drop(sockets);
            *lock(&conn_shared.live) -= 1;
            conn_shared.live_changed.notify_all();
        });
        if spawned.is_err() {
            *lock(&shared.live) -= 1;
        }
    }
    // The listener is dropped here: later connections are refused.
}

/// Serves requests on one connection until the client closes it, a
/// behaviour ends it, or the server stops. New behaviours (a reset in the
/// middle of the answer, a byte-by-byte answer) belong in the `match` below:
/// the request has been read and recorded by then.
fn serve_connection(stream: TcpStream, id: usize, shared: &Shared) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while !shared.stop.load(SeqCst) {
        let Some(mut request) = read_request(&mut reader, id)? else { return Ok(()) };
        let close_requested = request.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let behaviour = {
            let mut state = lock(&shared.state);
            if state.max_body.is_some_and(|max| request.body.len() > max) {
                Behaviour::Status(413)
            } else {
                let next = state.script.pop_front();
                next.or_else(|| state.default.clone()).unwrap_or(Behaviour::Status(200))
            }
        };
        let (status, headers) = match &behaviour {
            Behaviour::Status(code) | Behaviour::StatusWithHeaders(code, _) => {
                (Some(*code), behaviour_headers(&behaviour))
            }
            Behaviour::Gate(_) => (Some(200), Vec::new()),
            Behaviour::Hang | Behaviour::Close => (None, Vec::new()),
        };
        // A gated request is recorded as it arrives (so a test can see the
        // worker is held) and gets its status once released.
        let gated = matches!(behaviour, Behaviour::Gate(_));
        request.status = if gated { None } else { status };
        let index = record(shared, request);
        match behaviour {
            Behaviour::Hang => {
                while !shared.stop.load(SeqCst) {
                    thread::sleep(Duration::from_millis(20));
                }
                return Ok(());
            }
            Behaviour::Close => {
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(());
            }
            Behaviour::Gate(gate) => {
                gate.wait(&shared.stop);
                lock(&shared.state).requests[index].status = Some(200);
                shared.requests_changed.notify_all();
            }
            Behaviour::Status(_) | Behaviour::StatusWithHeaders(..) => {}
        }
        write_response(&mut writer, status.unwrap_or(200), &headers)?;
        if close_requested {
            return Ok(());
        }
    }
    Ok(())
}

fn behaviour_headers(behaviour: &Behaviour) -> Vec<(&'static str, &'static str)> {
    match behaviour {
        Behaviour::StatusWithHeaders(_, headers) => headers.clone(),
        _ => Vec::new(),
    }
}

fn record(shared: &Shared, request: Request) -> usize {
    let mut state = lock(&shared.state);
    state.requests.push(request);
    shared.requests_changed.notify_all();
    state.requests.len() - 1
}

/// Reads one request; `None` when the client closed the connection first.
fn read_request(reader: &mut BufReader<TcpStream>, connection: usize) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        connection,
        received_at: Instant::now(),
        status: None,
    };
    if request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize =
            len.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "content-length"))?;
        request.body = vec![0; len];
        reader.read_exact(&mut request.body)?;
    }
    request.received_at = Instant::now();
    Ok(Some(request))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?; // the CRLF after the chunk
    }
}

fn write_response(writer: &mut TcpStream, status: u16, headers: &[(&str, &str)]) -> io::Result<()> {
    let body = if (200..300).contains(&status) {
        OK_BODY.to_owned()
    } else {
        format!(r#"{{"error":"status {status}"}}"#)
    };
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(body.as_bytes())?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed assertion in a test thread must not poison the server for the rest.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
