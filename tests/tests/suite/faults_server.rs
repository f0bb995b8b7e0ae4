//! The fault behaviours of the test server, checked with a raw TCP client:
//! if they did not do what they claim, the fault tests would prove nothing.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use telemetry_tests::{Behaviour, RawServer, Request, TestServer, SOON};

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(SOON)).unwrap();
    stream
}

fn post(stream: &mut TcpStream, body: &[u8]) {
    write!(stream, "POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    stream.write_all(body).unwrap();
}

#[test]
fn reset_mid_body_reads_half_and_resets_the_connection() {
    let server = TestServer::start();
    server.script([Behaviour::ResetMidBody]);
    let mut stream = connect(server.port());
    let body = vec![b'x'; 10_000];
    post(&mut stream, &body);
    let mut buf = [0u8; 64];
    let err = stream.read(&mut buf).expect_err("no answer, a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert!(server.wait_for_requests(1, SOON));
    let request = &server.requests()[0];
    assert!(!request.complete && request.status.is_none());
    assert_eq!(request.body.len(), 5_000);
}

#[test]
fn slow_answers_one_byte_at_a_time() {
    let server = TestServer::start();
    server.script([Behaviour::Slow(503, Duration::from_millis(5))]);
    let mut stream = connect(server.port());
    post(&mut stream, b"{}");
    let started = Instant::now();
    let mut reads = 0;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"}") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    let text = String::from_utf8(answer).unwrap();
    assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
    // Bytes trickle in: many small reads, about 5 ms apart.
    assert!(reads > text.len() / 4, "{reads} reads for {} bytes", text.len());
    assert!(started.elapsed() >= Duration::from_millis(5) * (text.len() as u32 / 2));
}

#[test]
fn down_refuses_connections_and_up_serves_the_same_port_with_records_kept() {
    let server = TestServer::start();
    let mut stream = connect(server.port());
    post(&mut stream, b"{\"n\":1}");
    assert!(server.wait_for_requests(1, SOON));
    server.down();
    assert!(!server.is_up());
    let refused = TcpStream::connect(("127.0.0.1", server.port())).expect_err("the port is closed");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // The open connection was cut too: the read ends at once, not at its timeout.
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while let Ok(1..) = stream.read(&mut buf) {}
    assert!(started.elapsed() < SOON / 2, "the connection stayed open");
    server.up();
    let mut again = connect(server.port());
    post(&mut again, b"{\"n\":2}");
    assert!(server.wait_for_requests(2, SOON));
    let bodies: Vec<Vec<u8>> = server.requests().into_iter().map(|r: Request| r.body).collect();
    assert_eq!(bodies, [b"{\"n\":1}".to_vec(), b"{\"n\":2}".to_vec()]);
    assert_eq!(server.connections(), 2);
}

#[test]
fn every_byte_is_recorded_even_when_it_is_not_http() {
    let server = TestServer::start();
    let mut stream = connect(server.port());
    stream.write_all(&[0x16, 0x03, 0x01, 0xff, 0x00, b'\n']).unwrap();
    stream.write_all(b"more").unwrap();
    drop(stream);
    let deadline = Instant::now() + SOON;
    while server.raw_bytes().concat().len() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let raw = server.raw_bytes();
    assert!(raw[0].starts_with(&[0x16, 0x03, 0x01, 0xff]), "{:02x?}", raw[0]);
    assert!(server.received(&[0x16, 0x03]));
    assert!(server.requests().is_empty(), "garbage is not a request");
}

#[test]
#[should_panic(expected = "add a decoder")]
fn a_compressed_body_cannot_be_searched_by_accident() {
    let server = TestServer::start();
    let mut stream = connect(server.port());
    write!(
        stream,
        "POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc"
    )
    .unwrap();
    assert!(server.wait_for_requests(1, SOON));
    let _ = server.received(b"anything");
}

#[test]
fn the_raw_server_records_and_answers_then_closes() {
    let server = RawServer::start(b"nonsense");
    let mut stream = connect(server.port());
    stream.write_all(b"hello").unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert_eq!(answer, b"nonsense");
    assert_eq!(server.received(), [b"hello".to_vec()]);
}
