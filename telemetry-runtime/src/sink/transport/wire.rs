//! One attempt on the wire: the HTTP client, each write checked against
//! consent ([`gated`](crate::sink::gated)), and gzip framing of the body.

use std::sync::Arc;
use std::time::SystemTime;

use super::answer::{classify, classify_results, parse_retry_after, transport_error, Attempt};
use super::{HttpTransport, Request, MAX_PHASE_TIMEOUT};
use crate::sink::gated::{self, GateConnector, WriteCheck};

/// A deflate stream kept from one request to the next and reset for each:
/// setting one up (its window and tables) costs about as much as
/// compressing a hundred events.
#[derive(Default)]
pub(super) struct Deflater {
    #[cfg(feature = "gzip")]
    compress: Option<flate2::Compress>,
}

impl Clone for Deflater {
    /// A new transport sets up its own.
    fn clone(&self) -> Deflater {
        Deflater::default()
    }
}

/// The body gzip-compressed, or `None` to send it as it is (it could not
/// be compressed).
///
/// The gzip framing (RFC 1952) is written here around flate2's raw deflate
/// stream, so that the checksum comes from crc32fast.
#[cfg(feature = "gzip")]
pub(super) fn gzip(body: &[u8], deflater: &mut Deflater, out: &mut Vec<u8>) -> Option<()> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    /// Magic, deflate, no flags, no time, fastest level (`XFL` 4), unknown OS.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
    out.clear();
    out.reserve(body.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    let deflate = deflater.compress.get_or_insert_with(|| Compress::new(Compression::fast(), false));
    deflate.reset();
    let mut crc = crc32fast::Hasher::new();
    // Runs the compressor until `input` is consumed (and, to finish, until
    // the stream ends), growing `out` when it is full. `None` if it stalls.
    let mut run = |mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>| -> Option<()> {
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(4096));
            }
            let (read, written) = (deflate.total_in(), deflate.total_out());
            let status = deflate.compress_vec(input, out, flush).ok()?;
            let consumed = usize::try_from(deflate.total_in() - read).ok()?;
            input = input.get(consumed..)?;
            let finished = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty(),
            };
            if finished {
                return Some(());
            }
            if consumed == 0 && deflate.total_out() == written && out.capacity() - out.len() >= 64 {
                return None;
            }
        }
    };
    crc.update(body);
    run(body, FlushCompress::None, out)?;
    run(&[], FlushCompress::Finish, out)?;
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // The length modulo 2^32, as the format defines it.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    Some(())
}

#[cfg(not(feature = "gzip"))]
pub(super) fn gzip(_: &[u8], _: &mut Deflater, _: &mut Vec<u8>) -> Option<()> {
    None
}

impl HttpTransport {
    pub(super) fn agent(&mut self) -> &ureq::Agent {
        let connect = self.connect_timeout.min(MAX_PHASE_TIMEOUT);
        let phase = self.request_timeout.min(MAX_PHASE_TIMEOUT);
        let slot = &self.client.slot;
        self.client.agent.get_or_insert_with(|| {
            // Each phase has its own limit rather than one global deadline:
            // with a global deadline ureq resolves the host on a new thread
            // for every request (to bound the lookup), a thread spawned per
            // batch. Without one it resolves on the worker, which only ever
            // delays telemetry, never the program.
            let config = ureq::Agent::config_builder()
                .timeout_connect(Some(connect))
                .timeout_send_request(Some(phase))
                .timeout_send_body(Some(phase))
                .timeout_recv_response(Some(phase))
                .timeout_recv_body(Some(phase))
                .http_status_as_error(false)
                // Never re-send telemetry to a place the configuration did not name.
                .max_redirects(0)
                .max_redirects_will_error(false)
                .user_agent(concat!("telemetry-runtime/", env!("CARGO_PKG_VERSION")))
                .build();
            // ureq's own chain (a CONNECT proxy, TCP, rustls), with every
            // write under TLS checked against consent.
            use ureq::unversioned::resolver::DefaultResolver;
            use ureq::unversioned::transport::{
                ConnectProxyConnector, Connector, RustlsConnector, TcpConnector,
            };
            let connector =
                ().chain(ConnectProxyConnector::default())
                    .chain(TcpConnector::default())
                    .chain(GateConnector(Arc::clone(slot)))
                    .chain(RustlsConnector::default());
            ureq::Agent::with_parts(config, connector, DefaultResolver::default())
        })
    }

    /// Sends `request`, each write to the socket checked by `check`, so
    /// that no event leaves after consent was lowered below its level or
    /// its install id was reset.
    pub(super) fn attempt(&mut self, request: &Request, check: WriteCheck) -> Attempt {
        let mut compressed = std::mem::take(&mut self.buffers.compressed);
        let gzipped = self.gzip_above.is_some_and(|limit| request.body.len() > limit)
            && gzip(&request.body, &mut self.deflater, &mut compressed).is_some();
        gated::arm(&self.client.slot, check);
        let answer = self.send_request(request, gzipped.then_some(&compressed[..]));
        let withheld = gated::disarm(&self.client.slot);
        self.buffers.compressed = compressed;
        if withheld {
            return Attempt::Withheld;
        }
        answer
    }

    /// Sends `request`, with `compressed` as its body when it was gzipped.
    fn send_request(&mut self, request: &Request, compressed: Option<&[u8]>) -> Attempt {
        let Request { url, headers, body } = request;
        let fixed_headers = self.headers.clone();
        let agent = self.agent();
        let mut builder = agent.post(url);
        for (name, value) in fixed_headers.iter().chain(headers) {
            builder = builder.header(name, value);
        }
        if compressed.is_some() {
            builder = builder.header("Content-Encoding", "gzip");
        }
        // A byte slice has a length: ureq writes it straight to the socket
        // (and never logs it).
        let answer = builder.send(compressed.unwrap_or(body));
        match answer {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|value| parse_retry_after(value, SystemTime::now()));
                // Reading the (small) body lets the connection be reused.
                let body = response.body_mut().with_config().limit(64 * 1024).read_to_vec();
                match self.per_event {
                    Some(_) => classify_results(status, after, &body.unwrap_or_default()),
                    None => classify(status, after),
                }
            }
            Err(err) => transport_error(&err),
        }
    }
}
