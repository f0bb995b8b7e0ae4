//! The test server itself, driven by a raw TCP client: if it misread HTTP,
//! every delivery test built on it would prove nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use telemetry_tests::{Behaviour, TestServer, SOON};

fn connect(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream.set_read_timeout(Some(SOON)).unwrap();
    stream
}

/// Reads one response: (status, headers joined, body).
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String, String) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut headers = String::new();
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        headers.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

#[test]
fn keep_alive_script_default_and_recorded_requests() {
    let server = TestServer::start();
    server.script([Behaviour::Status(503), Behaviour::StatusWithHeaders(429, vec![("Retry-After", "7")])]);
    let mut stream = connect(&server);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for i in 0..3 {
        let body = format!("{{\"n\":{i}}}");
        write!(
            stream,
            "POST /batch/ HTTP/1.1\r\nHost: x\r\nCONTENT-length: {}\r\nX-Test: a\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    }
    assert_eq!(read_response(&mut reader).0, 503);
    let (status, headers, _) = read_response(&mut reader);
    assert_eq!(status, 429);
    assert!(headers.contains("Retry-After: 7"), "{headers}");
    let (status, _, body) = read_response(&mut reader);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"Ok"}"#));

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(server.connections(), 1, "three requests, one kept-alive connection");
    assert_eq!(requests[2].method, "POST");
    assert_eq!(requests[2].path, "/batch/");
    assert_eq!(requests[2].header("content-length"), Some("7"));
    assert_eq!(requests[2].header("x-test"), Some("a"));
    assert_eq!(requests[2].json()["n"], 2);
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [Some(503), Some(429), Some(200)]);
}

#[test]
fn chunked_bodies_are_decoded() {
    let server = TestServer::start();
    let mut stream = connect(&server);
    stream
        .write_all(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).0, 200);
    assert_eq!(server.requests()[0].json()["a"], 1);
}

#[test]
fn bodies_over_the_limit_get_413() {
    let server = TestServer::start();
    server.reject_bodies_over(3);
    let mut stream = connect(&server);
    stream.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdPOST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).0, 413);
    assert_eq!(read_response(&mut reader).0, 200);
}

#[test]
fn close_answers_nothing() {
    let server = TestServer::start();
    server.script([Behaviour::Close]);
    let mut stream = connect(&server);
    stream.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "got {:?}", String::from_utf8_lossy(&rest));
    assert_eq!(server.requests()[0].status, None);
}

#[test]
fn hang_and_gate_are_released_by_drop_promptly() {
    let server = TestServer::start();
    server.script([Behaviour::Hang]);
    let mut hung = connect(&server);
    hung.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(server.wait_for_requests(1, SOON));
    hung.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0; 1];
    assert!(hung.read(&mut buf).is_err(), "a hung request gets no answer");

    server.set_default(Behaviour::Gate(telemetry_tests::Gate::new()));
    let mut gated = connect(&server);
    gated.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(server.wait_for_requests(2, SOON));

    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(3), "drop took {:?}", started.elapsed());
    hung.set_read_timeout(Some(SOON)).unwrap();
    assert_eq!(hung.read(&mut buf).unwrap_or(0), 0, "the hung socket is closed on drop");
}

#[test]
fn gate_answers_once_opened() {
    let server = TestServer::start();
    let gate = telemetry_tests::Gate::new();
    server.script([Behaviour::Gate(gate.clone())]);
    let mut stream = connect(&server);
    stream.write_all(b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(server.wait_for_requests(1, SOON));
    assert_eq!(server.requests()[0].status, None);
    gate.open();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).0, 200);
    assert_eq!(server.requests()[0].status, Some(200));
}

#[test]
fn a_dropped_server_refuses_connections() {
    let server = TestServer::start();
    let port = server.port();
    drop(server);
    assert!(TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_err());
}
