//! A small HTTP/1.1 server on loopback for the delivery tests.
//!
//! It speaks just enough HTTP for ureq: a request line, headers, a body sized
//! by `Content-Length` or `Transfer-Encoding: chunked`, keep-alive. Every
//! request is recorded, and so is every byte read from every connection
//! ([`TestServer::raw_bytes`]), even when it is not HTTP at all. The answer
//! to each request comes from a script of [`Behaviour`]s, one per request,
//! then the default (200 `{"status":"Ok"}`).
//!
//! The server never reads ahead: it takes the request head a byte at a time
//! and then exactly the body's length, so bytes it has not asked for stay in
//! the socket (which is what makes [`Behaviour::ResetMidBody`] a real TCP
//! reset).
//!
//! It can be taken down (the port is closed, open connections are cut) and
//! brought back on the same port with its records kept: [`TestServer::down`],
//! [`TestServer::up`].
//!
//! Dropping the server closes the listener and every open socket and waits a
//! bounded time for its threads, so a test that fails half-way cannot hang.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use telemetry_runtime::Catalog;

/// The body of a default answer, like PostHog's.
pub const OK_BODY: &str = r#"{"status":"Ok"}"#;

/// The longest request head (request line and headers) the server reads.
const MAX_HEAD: usize = 64 * 1024;

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers with this status (body `{"status":"Ok"}` for 2xx, an error
    /// object otherwise).
    Status(u16),
    /// Answers with this status and extra headers.
    StatusWithHeaders(u16, Vec<(&'static str, &'static str)>),
    /// Reads the request and never answers; the socket stays open until the
    /// server is dropped or taken [`down`](TestServer::down).
    Hang,
    /// Reads the request and closes the connection without an answer.
    Close,
    /// Reads the request and waits until the gate opens (or the server is
    /// dropped), then answers 200. Lets a test hold the client's worker in a
    /// request while it queues more events.
    Gate(Gate),
    /// Reads the head and half the body, then closes the socket with the
    /// rest of the body unread: the kernel answers the client with a TCP
    /// reset (RST). The request is recorded with `complete: false` and no
    /// status.
    ResetMidBody,
    /// Reads the request, then answers with this status one byte at a time,
    /// pausing this long before each byte.
    Slow(u16, Duration),
    /// For a request sent with `Expect: 100-continue`: reads the head, waits
    /// until the gate opens (or the server is dropped), answers `100
    /// Continue`, then reads the body and answers 200. The client sends the
    /// body only after the `100` (or its own wait for it ends): a test can
    /// act between the head and the body. A body the client gives up on is
    /// recorded with `complete: false` and no status.
    ContinueAfter(Gate),
    /// Answers what the function makes of the request: its status, extra
    /// headers and body (a body that names the request's events, say).
    Answer(Answerer),
}

/// What [`Behaviour::Answer`] answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// Headers besides `Content-Type: application/json` and `Content-Length`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

/// The function of a [`Behaviour::Answer`].
#[derive(Clone)]
pub struct Answerer(pub Arc<dyn Fn(&Request) -> Answer + Send + Sync>);

impl Answerer {
    /// An answerer calling `answer` for each request.
    pub fn new(answer: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Answerer {
        Answerer(Arc::new(answer))
    }
}

impl std::fmt::Debug for Answerer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answerer")
    }
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

    /// Waits until the gate opens or `ended` says to stop; polls `ended` so
    /// that a dropped server frees its threads. Returns whether it opened.
    fn wait(&self, ended: impl Fn() -> bool) -> bool {
        let mut open = lock(&self.inner.0);
        while !*open && !ended() {
            open = self
                .inner
                .1
                .wait_timeout(open, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *open
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
    /// The body, de-chunked (only its first part when not `complete`).
    pub body: Vec<u8>,
    /// Which accepted connection (0-based) carried it.
    pub connection: usize,
    /// When the request was fully read.
    pub received_at: Instant,
    /// The status answered, `None` for `Hang`, `Close` and `ResetMidBody`
    /// (or a gate still shut).
    pub status: Option<u16>,
    /// Whether the whole body was read (`false` for `ResetMidBody`).
    pub complete: bool,
}

impl Request {
    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as the application sent it, after undoing any
    /// `Content-Encoding`. Panics on an encoding it does not know, so that a
    /// search for a canary can never pass because the bytes were compressed.
    pub fn decoded_body(&self) -> Vec<u8> {
        match self.header("content-encoding").map(|v| v.trim().to_ascii_lowercase()) {
            None => self.body.clone(),
            Some(ref identity) if identity.is_empty() || identity == "identity" => self.body.clone(),
            Some(ref gzip) if gzip == "gzip" => {
                use std::io::Read;
                let mut plain = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..])
                    .read_to_end(&mut plain)
                    .expect("a gzip body that decompresses");
                plain
            }
            Some(other) => panic!(
                "the request body is {other}-encoded: add a decoder to Request::decoded_body \
                 (e.g. flate2 for gzip) so that wire searches see the plain text"
            ),
        }
    }

    /// The body parsed as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        let body = self.decoded_body();
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&body)))
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

/// Whether `needle` occurs in `haystack` (an empty needle always does).
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// What the connection threads share with the test.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    connections: AtomicUsize,
    /// Bumped by `down`: connections of an earlier generation end.
    generation: AtomicUsize,
    /// Connection threads still running, for the bounded join on drop.
    live: Mutex<usize>,
    live_changed: Condvar,
    /// Clones of open sockets by connection id, shut down on drop to
    /// unblock reads.
    sockets: Mutex<Vec<(usize, TcpStream)>>,
    /// Every byte read, by connection id.
    raw: Mutex<Vec<Vec<u8>>>,
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

/// The accept thread of a server that is up.
struct Listening {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

/// A running test server; see the module docs.
pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    listening: Mutex<Option<Listening>>,
    /// Whether the drop checks that everything received is in the catalog.
    check_catalog: AtomicBool,
    /// The catalog it checks against, when not the test binary's.
    catalog: Mutex<Option<Catalog>>,
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
        let listening = listen(listener, &shared);
        TestServer {
            addr,
            shared,
            listening: Mutex::new(Some(listening)),
            check_catalog: AtomicBool::new(true),
            catalog: Mutex::new(None),
        }
    }

    /// Skips the check, on drop, that every event and property received is
    /// in the catalog: for tests that send the server traffic of their own.
    pub fn without_catalog_check(&self) -> &TestServer {
        self.check_catalog.store(false, SeqCst);
        self
    }

    /// Checks, on drop, what was received against `catalog` instead of the
    /// test binary's whole catalog: for a server of one program whose
    /// events are among those of several programs in the test binary, as
    /// `Catalog::collect_under` gives them.
    pub fn catalog_check_against(&self, catalog: Catalog) -> &TestServer {
        *lock(&self.catalog) = Some(catalog);
        self
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

    /// Takes the server down: the port is closed (connections are refused)
    /// and every open connection is cut. Records are kept. Does nothing when
    /// it is already down.
    pub fn down(&self) {
        let Some(listening) = lock(&self.listening).take() else { return };
        listening.stop.store(true, SeqCst);
        // Wake the accept thread with a connection of our own (it checks
        // `stop` before counting it).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = listening.thread.join();
        self.shared.generation.fetch_add(1, SeqCst);
        for (_, socket) in lock(&self.shared.sockets).iter() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.wait_for_connection_threads(Duration::from_secs(5));
    }

    /// Brings a server that is down back up on the same port, with its
    /// script, default and records as they were. Waits (boundedly) for the
    /// port to be free again.
    pub fn up(&self) {
        let mut listening = lock(&self.listening);
        if listening.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(err) if Instant::now() >= deadline => panic!("rebind {}: {err}", self.addr),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        };
        *listening = Some(listen(listener, &self.shared));
    }

    /// Whether the server is up (listening).
    pub fn is_up(&self) -> bool {
        lock(&self.listening).is_some()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(SeqCst)
    }

    /// Every byte read from each connection, by connection id: request
    /// heads, bodies, partial requests, and whatever was not HTTP.
    pub fn raw_bytes(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.raw).clone()
    }

    /// Whether `needle` occurs in any byte the server received (per
    /// connection), or in any request body after its content encoding is
    /// undone (see [`Request::decoded_body`]).
    pub fn received(&self, needle: &[u8]) -> bool {
        self.raw_bytes().iter().any(|raw| contains_bytes(raw, needle))
            || self.requests().iter().any(|r| contains_bytes(&r.decoded_body(), needle))
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

    /// Bounded: a thread that does not end in time is left behind rather
    /// than hanging the test.
    fn wait_for_connection_threads(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
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

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        self.down();
        for (_, socket) in lock(&self.shared.sockets).drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        self.wait_for_connection_threads(Duration::from_secs(5));
        if self.check_catalog.load(SeqCst) && !thread::panicking() {
            let undeclared = match lock(&self.catalog).as_ref() {
                Some(catalog) => crate::catalog_check::undeclared_in(catalog, &self.requests()),
                None => crate::catalog_check::undeclared_on_wire(&self.requests()),
            };
            assert!(
                undeclared.is_empty(),
                "the test server received what the catalog does not list (the catalog must be complete): {undeclared:#?}"
            );
        }
    }
}

fn listen(listener: TcpListener, shared: &Arc<Shared>) -> Listening {
    let stop = Arc::new(AtomicBool::new(false));
    let (accept_stop, accept_shared) = (Arc::clone(&stop), Arc::clone(shared));
    let thread = thread::Builder::new()
        .name("test-server-accept".into())
        .spawn(move || accept_loop(listener, accept_shared, accept_stop))
        .expect("spawn the accept thread");
    Listening { stop, thread }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stop.load(SeqCst) || shared.stop.load(SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let id = shared.connections.fetch_add(1, SeqCst);
        {
            let mut raw = lock(&shared.raw);
            if raw.len() <= id {
                raw.resize(id + 1, Vec::new());
            }
        }
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.sockets).push((id, clone));
        }
        *lock(&shared.live) += 1;
        let conn_shared = Arc::clone(&shared);
        let generation = shared.generation.load(SeqCst);
        let spawned = thread::Builder::new().name(format!("test-server-conn-{id}")).spawn(move || {
            let connection = Connection { shared: &conn_shared, id, generation };
            let _ = connection.serve(stream);
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

/// One accepted connection.
struct Connection<'a> {
    shared: &'a Shared,
    id: usize,
    /// The server's generation when it was accepted.
    generation: usize,
}

impl Connection<'_> {
    /// Whether the server was dropped or taken down since this connection
    /// was accepted.
    fn ended(&self) -> bool {
        self.shared.stop.load(SeqCst) || self.shared.generation.load(SeqCst) != self.generation
    }

    /// Serves requests until the client closes the connection, a behaviour
    /// ends it, or the server stops. New behaviours belong in the `match`
    /// below: the request has been read and recorded by then (except for
    /// `ResetMidBody`, which is decided before the body is read).
    fn serve(&self, stream: TcpStream) -> io::Result<()> {
        let mut writer = stream.try_clone()?;
        let mut reader = Recorder { stream, shared: self.shared, id: self.id };
        while !self.ended() {
            let Some(mut request) = read_head(&mut reader, self.id)? else { return Ok(()) };
            if let Some(gate) = self.next_continue() {
                if !gate.wait(|| self.ended()) {
                    return Ok(());
                }
                writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                writer.flush()?;
                let read = read_body(&mut reader, &mut request);
                request.received_at = Instant::now();
                let complete = read.is_ok();
                request.status = complete.then_some(200);
                self.record(request);
                if !complete {
                    return Ok(());
                }
                writer.write_all(&response_bytes(200, &[]))?;
                writer.flush()?;
                continue;
            }
            if self.next_is_reset() {
                read_part_of_body(&mut reader, &mut request)?;
                self.record(request);
                // Closing every handle (no `shutdown`, which would send FIN)
                // with bytes unread makes the kernel send RST.
                let mut sockets = lock(&self.shared.sockets);
                if let Some(pos) = sockets.iter().position(|(i, _)| *i == self.id) {
                    drop(sockets.swap_remove(pos));
                }
                return Ok(());
            }
            read_body(&mut reader, &mut request)?;
            request.received_at = Instant::now();
            let close_requested =
                request.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let behaviour = self.behaviour_for(&request);
            if let Behaviour::Answer(answerer) = &behaviour {
                let answer = (answerer.0)(&request);
                request.status = Some(answer.status);
                self.record(request);
                writer.write_all(&answer_bytes(&answer))?;
                writer.flush()?;
                if close_requested {
                    return Ok(());
                }
                continue;
            }
            let (status, headers) = match &behaviour {
                Behaviour::Status(code)
                | Behaviour::StatusWithHeaders(code, _)
                | Behaviour::Slow(code, _) => (Some(*code), behaviour_headers(&behaviour)),
                Behaviour::Gate(_) => (Some(200), Vec::new()),
                Behaviour::Hang
                | Behaviour::Close
                | Behaviour::ResetMidBody
                | Behaviour::ContinueAfter(_)
                | Behaviour::Answer(_) => (None, Vec::new()),
            };
            // A gated request is recorded as it arrives (so a test can see the
            // worker is held) and gets its status once released.
            let gated = matches!(behaviour, Behaviour::Gate(_));
            request.status = if gated { None } else { status };
            let index = self.record(request);
            match behaviour {
                Behaviour::Hang => {
                    while !self.ended() {
                        thread::sleep(Duration::from_millis(20));
                    }
                    return Ok(());
                }
                Behaviour::Close | Behaviour::ResetMidBody | Behaviour::ContinueAfter(_) => {
                    let _ = writer.shutdown(Shutdown::Both);
                    return Ok(());
                }
                Behaviour::Gate(gate) => {
                    if !gate.wait(|| self.ended()) {
                        return Ok(());
                    }
                    lock(&self.shared.state).requests[index].status = Some(200);
                    self.shared.requests_changed.notify_all();
                }
                Behaviour::Slow(_, per_byte) => {
                    let response = response_bytes(status.unwrap_or(200), &headers);
                    for byte in response {
                        thread::sleep(per_byte);
                        if self.ended() {
                            return Ok(());
                        }
                        writer.write_all(&[byte])?;
                        writer.flush()?;
                    }
                    if close_requested {
                        return Ok(());
                    }
                    continue;
                }
                Behaviour::Status(_) | Behaviour::StatusWithHeaders(..) | Behaviour::Answer(_) => {}
            }
            writer.write_all(&response_bytes(status.unwrap_or(200), &headers))?;
            writer.flush()?;
            if close_requested {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Takes a `ContinueAfter` off the front of the script (or finds it as
    /// the default), before the body is read.
    fn next_continue(&self) -> Option<Gate> {
        let mut state = lock(&self.shared.state);
        match state.script.front() {
            Some(Behaviour::ContinueAfter(gate)) => {
                let gate = gate.clone();
                state.script.pop_front();
                Some(gate)
            }
            Some(_) => None,
            None => match &state.default {
                Some(Behaviour::ContinueAfter(gate)) => Some(gate.clone()),
                _ => None,
            },
        }
    }

    /// Takes a `ResetMidBody` off the front of the script (or finds it as
    /// the default), before the body is read.
    fn next_is_reset(&self) -> bool {
        let mut state = lock(&self.shared.state);
        match state.script.front() {
            Some(Behaviour::ResetMidBody) => {
                state.script.pop_front();
                true
            }
            Some(_) => false,
            None => matches!(state.default, Some(Behaviour::ResetMidBody)),
        }
    }

    fn behaviour_for(&self, request: &Request) -> Behaviour {
        let mut state = lock(&self.shared.state);
        if state.max_body.is_some_and(|max| request.body.len() > max) {
            Behaviour::Status(413)
        } else {
            let next = state.script.pop_front();
            next.or_else(|| state.default.clone()).unwrap_or(Behaviour::Status(200))
        }
    }

    fn record(&self, request: Request) -> usize {
        let mut state = lock(&self.shared.state);
        state.requests.push(request);
        self.shared.requests_changed.notify_all();
        state.requests.len() - 1
    }
}

/// Reads from the socket and keeps a copy of every byte.
struct Recorder<'a> {
    stream: TcpStream,
    shared: &'a Shared,
    id: usize,
}

impl Read for Recorder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        if n > 0 {
            let mut raw = lock(&self.shared.raw);
            if raw.len() <= self.id {
                raw.resize(self.id + 1, Vec::new());
            }
            raw[self.id].extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

fn behaviour_headers(behaviour: &Behaviour) -> Vec<(&'static str, &'static str)> {
    match behaviour {
        Behaviour::StatusWithHeaders(_, headers) => headers.clone(),
        _ => Vec::new(),
    }
}

/// Reads one line, a byte at a time (never past its end); `None` at EOF
/// before any byte.
fn read_line(reader: &mut impl Read, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if reader.read(&mut byte)? == 0 {
            return if line.is_empty() { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
        }
        line.push(byte[0]);
        *budget = budget.checked_sub(1).ok_or_else(|| invalid("request head too long"))?;
        if byte[0] == b'\n' {
            let text = String::from_utf8(line).map_err(|_| invalid("request head is not UTF-8"))?;
            return Ok(Some(text));
        }
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Reads the request line and headers; `None` when the client closed the
/// connection first.
fn read_head(reader: &mut impl Read, connection: usize) -> io::Result<Option<Request>> {
    let mut budget = MAX_HEAD;
    let Some(line) = read_line(reader, &mut budget)? else { return Ok(None) };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(invalid(&format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Ok(Some(Request {
        method,
        path,
        headers,
        body: Vec::new(),
        connection,
        received_at: Instant::now(),
        status: None,
        complete: false,
    }))
}

fn content_length(request: &Request) -> io::Result<Option<usize>> {
    request.header("content-length").map(|len| len.parse().map_err(|_| invalid("content-length"))).transpose()
}

fn is_chunked(request: &Request) -> bool {
    request.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

fn read_body(reader: &mut impl Read, request: &mut Request) -> io::Result<()> {
    if is_chunked(request) {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = content_length(request)? {
        request.body = vec![0; len];
        reader.read_exact(&mut request.body)?;
    }
    request.complete = true;
    Ok(())
}

/// Reads half of a sized body (a chunked one: its first chunk header only).
fn read_part_of_body(reader: &mut impl Read, request: &mut Request) -> io::Result<()> {
    if let Some(len) = content_length(request)?.filter(|_| !is_chunked(request)) {
        request.body = vec![0; len / 2];
        reader.read_exact(&mut request.body)?;
    }
    request.received_at = Instant::now();
    Ok(())
}

fn read_chunked(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut budget = usize::MAX;
    loop {
        let line = read_line(reader, &mut budget)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| invalid(&format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                match read_line(reader, &mut budget)? {
                    None => return Ok(body),
                    Some(line) if line.trim().is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader, &mut budget)?; // the CRLF after the chunk
    }
}

fn answer_bytes(answer: &Answer) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        answer.status,
        reason(answer.status),
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&answer.body);
    head.into_bytes()
}

fn response_bytes(status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
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
    head.push_str(&body);
    head.into_bytes()
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

/// A TCP server on loopback that speaks no protocol: it reads whatever a
/// client sends for a moment, records it, writes a fixed reply and closes.
/// Point an `https://` sink at it to see that no plaintext leaves when the
/// TLS handshake cannot complete.
pub struct RawServer {
    addr: SocketAddr,
    shared: Arc<RawShared>,
    thread: Option<thread::JoinHandle<()>>,
}

#[derive(Default)]
struct RawShared {
    stop: AtomicBool,
    received: Mutex<Vec<Vec<u8>>>,
}

impl RawServer {
    /// Starts the server; `reply` is written to every connection after its
    /// first bytes arrive (or after 200 ms of silence).
    pub fn start(reply: &'static [u8]) -> RawServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the raw server");
        let addr = listener.local_addr().expect("raw server address");
        let shared = Arc::new(RawShared::default());
        let accept_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("raw-server".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.stop.load(SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let mut received = Vec::new();
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buf = [0u8; 16 * 1024];
                    // Whatever arrives in a short while: a TLS ClientHello is
                    // sent at once and then the client waits for us.
                    let deadline = Instant::now() + Duration::from_millis(500);
                    while Instant::now() < deadline && received.len() < 1 << 20 {
                        match stream.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => received.extend_from_slice(&buf[..n]),
                            Err(_) if !received.is_empty() => break,
                            Err(_) => {}
                        }
                    }
                    lock(&accept_shared.received).push(received);
                    let _ = stream.write_all(reply);
                    let _ = stream.flush();
                    let _ = stream.shutdown(Shutdown::Both);
                }
            })
            .expect("spawn the raw server");
        RawServer { addr, shared, thread: Some(thread) }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What each connection sent, in order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.received).clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A failed assertion in a test thread must not poison the server for the rest.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
