//! N captures of the typical event on the calling thread, for instruction
//! counts (`valgrind --tool=callgrind`) and `perf stat`: noise-free where
//! criterion's timings are not.
//!
//! ```text
//! cargo build --release --bin capture_loop
//! valgrind --tool=callgrind --separate-threads=yes target/release/capture_loop typed 100000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>-01
//! ```
//!
//! Variants: `typed`, `dynamic` (ours, to a counting sink: the worker's work
//! is on its own thread, counted apart), `typed-http` (ours, HttpSink to an
//! in-process loopback server, recent_deliveries(0)), `typed-http-recent`
//! (the same with the library's default record of recent deliveries),
//! `typed-http-gzip` (that, with the default gzip), `typed-http-b100`
//! (the throughput row's: plain bodies, requests of 100), the wire protocols
//! (`posthog-batch`, `posthog-v1`, `otlp-json`, `otlp-proto`: the
//! PostHog sink on `/batch/` and on capture V1, the OTLP sink in JSON and
//! in protobuf, each with plain bodies and without the record of recent
//! deliveries) and `posthog` (posthog-rs to the loopback server). Each chunk of 10,000 is flushed, as in the
//! criterion benchmark.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use telemetry_benches::{EventData, TaskFinished, LARGE_QUEUE, TASK_FINISHED};
use telemetry_runtime::Telemetry;

#[inline(never)]
fn capture_typed(client: &Telemetry, event: &TaskFinished) {
    client.capture(event);
}

#[inline(never)]
fn capture_dynamic(client: &Telemetry, data: &EventData) {
    client.capture_with(&TASK_FINISHED, data.properties());
}

#[inline(never)]
fn capture_posthog(client: &posthog_rs::Client, data: &EventData, distinct_id: &str) {
    client.capture(data.posthog(distinct_id));
}

/// A sink that only counts: for measurements of the runtime alone. Kept
/// here, not in the library, so that only this binary depends on the
/// `Sink` trait's batch type.
struct CountingSink(pub Arc<AtomicU64>);

impl telemetry_runtime::sink::Sink for CountingSink {
    fn name(&self) -> &str {
        "counting"
    }
    fn send(
        &mut self,
        batch: &telemetry_runtime::sink::Batch,
        _cx: &telemetry_runtime::sink::SendContext<'_>,
    ) -> Result<(), telemetry_runtime::sink::SinkError> {
        // A view per event, as any sink makes to read one.
        self.0.fetch_add(batch.events().count() as u64, Relaxed);
        Ok(())
    }
    fn is_local(&self) -> bool {
        true
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("typed").to_owned();
    let n: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let data = EventData::sample();
    let event = data.typed();
    let dir = tempfile::tempdir().expect("temp dir");
    let count = Arc::new(AtomicU64::new(0));
    let start = std::time::Instant::now();
    if which == "posthog" {
        let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
        let client = telemetry_benches::posthog_client(server.addr, LARGE_QUEUE);
        let distinct_id = uuid::Uuid::new_v4().to_string();
        for i in 0..n {
            capture_posthog(&client, black_box(&data), &distinct_id);
            if i % 10_000 == 9_999 {
                client.flush();
            }
        }
        client.flush();
        eprintln!("posthog: {n} captures; server got {} events", server.stats.snapshot().2);
        std::mem::forget(client);
    } else {
        let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
        let client = match which.as_str() {
            "typed-http" => {
                telemetry_benches::ours(dir.path(), telemetry_benches::http_sink(server.addr), LARGE_QUEUE, 0)
            }
            "typed-http-recent" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::http_sink(server.addr),
                LARGE_QUEUE,
                100,
            ),
            // The sustained run's configuration: gzip and the record of
            // recent deliveries as the library's defaults have them.
            "typed-http-gzip" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::http_sink_default_gzip(server.addr),
                LARGE_QUEUE,
                100,
            ),
            // The throughput row's configuration: requests of 100.
            "typed-http-b100" => Telemetry::new(
                telemetry_benches::ours_config(
                    dir.path(),
                    telemetry_benches::http_sink(server.addr),
                    LARGE_QUEUE,
                    100,
                )
                .delivery(|d| telemetry_runtime::Delivery {
                    batch_size: 100,
                    max_batch_size: 100,
                    ..d
                }),
            )
            .expect("bench config is valid"),
            "posthog-batch" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::posthog_sink(server.addr),
                LARGE_QUEUE,
                0,
            ),
            "posthog-v1" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::posthog_v1_sink(server.addr),
                LARGE_QUEUE,
                0,
            ),
            "otlp-json" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::otlp_sink(server.addr, telemetry_runtime::sink::Protocol::HttpJson),
                LARGE_QUEUE,
                0,
            ),
            "otlp-proto" => telemetry_benches::ours(
                dir.path(),
                telemetry_benches::otlp_sink(server.addr, telemetry_runtime::sink::Protocol::HttpProtobuf),
                LARGE_QUEUE,
                0,
            ),
            _ => telemetry_benches::ours(dir.path(), CountingSink(Arc::clone(&count)), LARGE_QUEUE, 0),
        };
        for i in 0..n {
            if which == "dynamic" {
                capture_dynamic(&client, black_box(&data));
            } else {
                capture_typed(&client, black_box(&event));
            }
            if i % 10_000 == 9_999 {
                assert!(client.flush(Duration::from_secs(600)), "flush timed out");
            }
        }
        assert!(client.flush(Duration::from_secs(600)), "flush timed out");
        let stats = client.stats();
        let (requests, body_bytes, events) = server.stats.snapshot();
        eprintln!(
            "{which}: {n} captures; sent {} dropped {}; server got {requests} requests, {body_bytes} body bytes \
             ({:.1} per event), {events} events counted as JSON",
            stats.sent,
            stats.dropped_total(),
            body_bytes as f64 / n.max(1) as f64,
        );
    }
    eprintln!("elapsed {:.3} s", start.elapsed().as_secs_f64());
    std::process::exit(0);
}
