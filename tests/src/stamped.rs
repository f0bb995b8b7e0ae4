//! A loopback HTTP server that records when the kernel received each piece
//! of what a client sent (`SO_TIMESTAMPNS`): the time a byte was written to
//! the client's socket, read on the server's side, to compare with a moment
//! the test took ("once `set_consent` returned, no byte of ...").
//!
//! A stamp is when the kernel took a segment in, which on loopback is
//! soon after the client's `write` handed it over, though not always at
//! once: TCP may hold a small segment back until an earlier one is done
//! (autocorking), and under load the receive path runs later. And a read
//! reports one stamp, the newest of the segments it takes (TCP merges
//! queued segments and keeps the newest stamp). So a byte's own read's
//! stamp can be later than its write; the stamp of the read before it is
//! a bound from below: the byte arrived after the segments of that read.
//! [`StampedServer::earliest_arrivals_of`] gives those bounds: one after a
//! moment means a write after it (or two pieces of one write held back).

use std::io::{IoSliceMut, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use nix::sys::time::TimeSpec;

/// What one connection received: each piece with the kernel's stamp.
type Pieces = Vec<(SystemTime, Vec<u8>)>;

/// The server; it answers every request `200 OK` and keeps the connection.
///
/// Its receive buffer is large and it reads as fast as it can, so that the
/// client's socket never holds back what was written to it (a full window
/// would delay a segment past the write, and the stamp would tell when the
/// window opened, not when the byte was written).
pub struct StampedServer {
    url: String,
    connections: Arc<Mutex<Vec<Arc<Mutex<Pieces>>>>>,
    stop: Arc<AtomicBool>,
}

impl StampedServer {
    pub fn start() -> StampedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        // Connections inherit it. As root the limit of net.core.rmem_max
        // does not apply; otherwise the largest the system allows.
        const RECEIVE_BUFFER: usize = 16 * 1024 * 1024;
        if setsockopt(&listener, sockopt::RcvBufForce, &RECEIVE_BUFFER).is_err() {
            let _ = setsockopt(&listener, sockopt::RcvBuf, &RECEIVE_BUFFER);
        }
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let connections: Arc<Mutex<Vec<Arc<Mutex<Pieces>>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (accepted, stopping) = (connections.clone(), stop.clone());
        thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let pieces: Arc<Mutex<Pieces>> = Arc::default();
                        accepted.lock().unwrap().push(pieces.clone());
                        let stopping = stopping.clone();
                        thread::spawn(move || serve(stream, &pieces, &stopping));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        StampedServer { url, connections, stop }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// For each place `needle` was received, on any connection, the
    /// earliest its last byte can have arrived: the stamp of the read
    /// before the one that took it (the Unix epoch for the first read).
    pub fn earliest_arrivals_of(&self, needle: &[u8]) -> Vec<SystemTime> {
        let mut arrivals = Vec::new();
        for connection in self.connections.lock().unwrap().iter() {
            let pieces = connection.lock().unwrap();
            let stream: Vec<u8> = pieces.iter().flat_map(|(_, bytes)| bytes.iter().copied()).collect();
            let mut ends = Vec::with_capacity(pieces.len());
            let (mut end, mut before) = (0, UNIX_EPOCH);
            for (stamp, bytes) in pieces.iter() {
                end += bytes.len();
                ends.push((end, before));
                before = *stamp;
            }
            let mut from = 0;
            while let Some(at) = find(&stream[from..], needle) {
                let last = from + at + needle.len() - 1;
                let piece = ends.iter().find(|(end, _)| last < *end).expect("a piece holds every byte");
                arrivals.push(piece.1);
                from += at + 1;
            }
        }
        arrivals
    }
}

impl Drop for StampedServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// Reads a connection piece by piece with the kernel's stamps, answering
/// each whole request.
fn serve(mut stream: TcpStream, pieces: &Mutex<Pieces>, stop: &AtomicBool) {
    if setsockopt(&stream, sockopt::ReceiveTimestampns, &true).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let fd = stream.as_raw_fd();
    let mut buffer = vec![0; 256 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut space = nix::cmsg_space!(TimeSpec);
        let mut slices = [IoSliceMut::new(&mut buffer)];
        let (read, stamp) =
            match recvmsg::<SockaddrStorage>(fd, &mut slices, Some(&mut space), MsgFlags::empty()) {
                Ok(message) => {
                    let stamp = message.cmsgs().ok().and_then(|mut cmsgs| {
                        cmsgs.find_map(|cmsg| match cmsg {
                            ControlMessageOwned::ScmTimestampns(at) => Some(at),
                            _ => None,
                        })
                    });
                    (message.bytes, stamp)
                }
                Err(nix::errno::Errno::EAGAIN) => continue,
                Err(_) => return,
            };
        if read == 0 {
            return;
        }
        let stamp = stamp.map_or_else(SystemTime::now, |at| {
            UNIX_EPOCH + Duration::new(at.tv_sec() as u64, at.tv_nsec() as u32)
        });
        pieces.lock().unwrap().push((stamp, buffer[..read].to_vec()));
        pending.extend_from_slice(&buffer[..read]);
        // Answer every request that is whole.
        while let Some(length) = whole_request(&pending) {
            pending.drain(..length);
            if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_err() {
                return;
            }
        }
    }
}

/// The length of the first request in `bytes`, when it is all there.
fn whole_request(bytes: &[u8]) -> Option<usize> {
    let head = find(bytes, b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&bytes[..head]).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (bytes.len() >= head + length).then_some(head + length)
}
