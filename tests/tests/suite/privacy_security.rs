//! Security: certificates are verified for https endpoints (a self-signed
//! server gets nothing), nothing falls back to plaintext, the API key is
//! never logged, and the files the library writes are private (0600).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telemetry_runtime::cli::Status;
use telemetry_runtime::sink::{HttpSink, JsonlSink, PostHogSink};
use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{DropReason, Level, Properties, Telemetry, Value};
use telemetry_tests::canary::Canary;

telemetry_runtime::event! {
    /// Sent to an HTTPS endpoint with a self-signed certificate.
    static OVER_TLS = "over_tls" {}
}

telemetry_runtime::event! {
    /// Sent to an HTTPS endpoint that does not speak TLS.
    static NO_FALLBACK = "no_fallback" {
        /// A canary that must not travel in plaintext.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        v: String,
    }
}

telemetry_runtime::event! {
    /// Sent with an API key through every failure path.
    static KEYED = "keyed" {
        /// The round of the test.
        round: u8,
    }
}

telemetry_runtime::event! {
    /// An event over the client's size limit.
    static TOO_BIG = "too_big" {
        /// Filler text.
        #[telemetry(public, reason = "a value the test chose, not one a user gave")]
        blob: String,
    }
}

telemetry_runtime::event! {
    /// Makes the library write every file it writes.
    static PRIVATE_FILES = "private_files" {
        /// Hashed, so that the hashing key is created.
        #[telemetry(redact = "hash")]
        h: String,
    }
}
use telemetry_tests::{contains_bytes, logs, Behaviour, RawServer, Sandbox, TestServer, API_KEY, SOON};

/// A PostHog sink for `host` with one quick retry.
fn sink_for(key: &str, host: &str) -> PostHogSink {
    PostHogSink::new(key)
        .unwrap()
        .host(host)
        .unwrap()
        .http(|h| telemetry_runtime::sink::HttpOptions {
            backoff_base: Duration::from_millis(10),
            max_retries: 1,
            ..h
        })
        .http(|h| telemetry_runtime::sink::HttpOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..h
        })
}

/// `openssl s_server` with a fresh self-signed certificate for 127.0.0.1,
/// killed on drop.
struct SelfSignedServer {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl SelfSignedServer {
    /// `None` when the `openssl` command is missing: `test` is then
    /// reported as skipped (a failure where every case must run, as on CI,
    /// which installs openssl). Any other trouble with openssl fails.
    fn start(test: &str) -> Option<SelfSignedServer> {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let generated = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .args(["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
            // A leaf certificate, valid in every way except that nobody trusted signed it.
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match generated {
            Ok(status) => assert!(status.success(), "openssl could not make a certificate: {status}"),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                telemetry_tests::skip(test, "the openssl command is missing (apt-get install openssl)");
                return None;
            }
            Err(err) => panic!("cannot run openssl: {err}"),
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start openssl s_server");
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let server = SelfSignedServer { child, port, output, _dir: dir };
        let deadline = Instant::now() + SOON;
        while !server.output().contains("ACCEPT") {
            assert!(Instant::now() < deadline, "openssl s_server did not start: {}", server.output());
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(server)
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for SelfSignedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each of two runs captures one event for an endpoint whose certificate
/// nobody vouches for, with the spool on; returns the stats and what the
/// spool holds after each run.
fn two_runs_to_an_untrusted_endpoint(url: &str) -> Vec<(telemetry_runtime::Stats, usize)> {
    let sandbox = Sandbox::new();
    (0..2)
        .map(|_| {
            let config = Sandbox::spooling_config_in(sandbox.path()).sink(sink_for(API_KEY, url));
            let telemetry = Telemetry::new(config).unwrap();
            telemetry.capture_with(&OVER_TLS, Properties::new());
            assert!(!telemetry.flush(SOON), "events were given up on");
            assert!(telemetry.shutdown(SOON));
            let spool = sandbox.cache_dir().join("telemetry_spool");
            (telemetry.stats(), std::fs::read_dir(spool).map_or(0, |d| d.count()))
        })
        .collect()
}

#[test]
fn a_self_signed_https_endpoint_gets_no_event_and_is_not_retried() {
    logs::install();
    let Some(server) = SelfSignedServer::start(
        "privacy_security::a_self_signed_https_endpoint_gets_no_event_and_is_not_retried",
    ) else {
        return;
    };
    // Control: the server does complete a handshake with a client that does
    // not verify certificates (s_client only reports a failed verification).
    let control = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", server.port), "-brief"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let control_text = String::from_utf8_lossy(&control.stderr).into_owned();
    assert!(control_text.contains("CONNECTION ESTABLISHED"), "the TLS server works: {control_text}");

    let url = format!("https://127.0.0.1:{}", server.port);
    for (run, (stats, spooled)) in two_runs_to_an_untrusted_endpoint(&url).into_iter().enumerate() {
        assert_eq!(stats.sent, 0, "delivered to a server whose certificate nobody vouches for: {stats:?}");
        // No retry changes a certificate: one attempt, given up on at once,
        // and not kept for a later run (nor replayed by one).
        assert_eq!(stats.dropped(DropReason::Misconfigured), 1, "run {run}: {stats:?}");
        assert_eq!((stats.failed, stats.retried), (1, 0), "run {run}: {stats:?}");
        assert_eq!(stats.dropped(DropReason::Undeliverable), 0, "run {run}: {stats:?}");
        assert_eq!(spooled, 0, "run {run}: a batch no run can deliver is not spooled");
    }
    // The client refused the certificate itself: an unknown issuer (it is
    // its own issuer), not a network error. Said once per sink.
    let warnings = logs::containing("not delivered")
        .into_iter()
        .filter(|l| l.level == log::Level::Warn && l.message.contains(&url))
        .collect::<Vec<_>>();
    assert_eq!(warnings.len(), 2, "one warning per run (per sink): {warnings:?}");
    eprintln!("the client logged: {}", warnings[0].message);
    assert!(warnings[0].message.contains("invalid peer certificate"), "{warnings:?}");
    assert!(warnings[0].message.contains("UnknownIssuer"), "{warnings:?}");
    assert!(warnings[0].message.contains("No retry can change this"), "{warnings:?}");
}

#[test]
fn an_https_endpoint_that_does_not_speak_tls_gets_no_plaintext() {
    logs::install();
    // Whatever arrives is answered with a plaintext HTTP 200.
    let server = RawServer::start(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"Ok\"}");
    let secret = Canary::new("over_https");
    let sandbox = Sandbox::new();
    let url = format!("https://127.0.0.1:{}", server.port());
    let telemetry = Telemetry::new(sandbox.config().sink(sink_for(API_KEY, &url))).unwrap();
    telemetry.capture_with(&NO_FALLBACK, Properties::new().with("v", Value::Text(secret.text().into())));
    assert!(!telemetry.flush(SOON), "events were given up on");
    let stats = telemetry.stats();
    assert_eq!((stats.sent, stats.dropped(DropReason::Undeliverable)), (0, 1), "{stats:?}");
    let received = server.received();
    assert_eq!(received.len(), 2, "one attempt and one retry");
    for bytes in &received {
        // A TLS handshake record (0x16, version 3.x), and nothing readable.
        assert!(
            bytes.len() > 5 && bytes[0] == 0x16 && bytes[1] == 0x03,
            "not a TLS ClientHello: {bytes:02x?}"
        );
        for plain in [&b"POST"[..], b"/batch/", API_KEY.as_bytes(), b"no_fallback"] {
            assert!(
                !contains_bytes(bytes, plain),
                "{:?} was sent in plaintext",
                String::from_utf8_lossy(plain)
            );
        }
        assert!(!secret.found_in(bytes));
    }
}

#[test]
fn the_api_key_and_header_secrets_are_never_logged() {
    logs::install();
    let key = format!("phc_{}", Canary::new("k").text().replace('-', "_"));
    let token = Canary::new("bearer_token");
    let server = TestServer::start();
    // Every kind of failure a log line is written for.
    server.script([
        Behaviour::Status(503),
        Behaviour::ResetMidBody,
        Behaviour::Close,
        Behaviour::Status(400),
        Behaviour::Status(413),
        Behaviour::Status(413),
        Behaviour::Status(413),
    ]);
    let sandbox = Sandbox::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tls = RawServer::start(b"garbage");
    let config = sandbox
        .config()
        .consent(Level::Full)
        .sink(sink_for(&key, &server.url()).http(|h| telemetry_runtime::sink::HttpOptions {
            backoff_base: Duration::from_millis(5),
            max_retries: 2,
            ..h
        }))
        .sink(sink_for(&key, &format!("http://127.0.0.1:{closed}")))
        .sink(sink_for(&key, &format!("https://127.0.0.1:{}", tls.port())))
        .sink(
            HttpSink::new(format!("{}/ingest", server.url()))
                .unwrap()
                .header("Authorization", format!("Bearer {}", token.text()))
                .unwrap()
                .http(|h| telemetry_runtime::sink::HttpOptions {
                    backoff_base: Duration::from_millis(5),
                    max_retries: 1,
                    ..h
                }),
        )
        .delivery(|d| telemetry_runtime::Delivery { max_event_bytes: 4096, ..d });
    let debug_text = format!("{config:?}");
    let telemetry = Telemetry::new(config).unwrap();
    for round in 0..3u8 {
        telemetry.capture_with(&KEYED, Properties::new().with("round", round));
        telemetry
            .capture_with(&TOO_BIG, Properties::new().with("blob", Value::Text("b".repeat(5000).into())));
        assert!(!telemetry.flush(SOON), "events were given up on");
    }
    assert!(telemetry.shutdown(SOON));
    let stats = telemetry.stats();
    assert!(stats.failed >= 6 && stats.retried >= 2, "the failure paths ran: {stats:?}");

    let lines = logs::lines();
    let ours = |l: &&logs::Line| l.message.contains(&server.url()) || l.message.contains(&closed.to_string());
    assert!(lines.iter().filter(ours).any(|l| l.level == log::Level::Warn), "warnings were logged");
    for line in &lines {
        assert!(!line.message.contains(&key), "the API key was logged: {line:?}");
        assert!(!token.found_in_text(&line.message), "the bearer token was logged: {line:?}");
    }
    assert!(!debug_text.contains(&key) && !token.found_in_text(&debug_text), "Config's Debug: {debug_text}");
    let names = Status::of(&telemetry).sink_names.join(" ");
    assert!(!names.contains(&key) && !token.found_in_text(&names), "sink names: {names}");
    // The key does travel, in the request body PostHog reads it from.
    assert!(server.received(key.as_bytes()));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn every_file_the_library_writes_is_private() {
    let sandbox = Sandbox::new();
    let memory = MemorySink::new();
    let jsonl = sandbox.path().join("events/out.jsonl");
    let telemetry =
        Telemetry::new(sandbox.config().sink(memory.clone()).sink(JsonlSink::new(&jsonl))).unwrap();
    // A hashed value makes the runtime create its hashing key too.
    telemetry.capture_with(&PRIVATE_FILES, Properties::new().with("h", Value::from("x")));
    assert!(telemetry.flush(SOON));
    telemetry.save_consent(Some(Level::Usage)).unwrap();
    let files: Vec<_> = sandbox.files().into_iter().filter(|p| sandbox.path().join(p).is_file()).collect();
    for expected in ["cache/telemetry_user_id", "cache/telemetry_hash_key", "config/telemetry_consent"] {
        assert!(files.iter().any(|p| p.ends_with(expected)), "{expected} missing from {files:?}");
    }
    for file in &files {
        assert_eq!(mode(&sandbox.path().join(file)), 0o600, "{} is not 0600", file.display());
    }
    assert_eq!(mode(&jsonl), 0o600);
    assert!(!files.iter().any(|p| p.to_string_lossy().contains(".tmp")), "no temporary file left: {files:?}");
}
