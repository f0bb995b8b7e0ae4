//! A burst with the library's defaults: N captures of the typical event in a
//! tight loop, to the PostHog sink (with its default gzip) of a loopback
//! server in another process that answers every request, then a shutdown.
//! What the queue (10,000 events by default) and the worker absorbed is
//! delivered; the rest is counted as `queue_full`. The README and
//! `Delivery::queue_capacity` quote its result.
//!
//! ```text
//! cargo build --release --bin burst
//! for i in 1 2 3 4 5; do target/release/burst 200000; done
//! ```

use std::time::{Duration, Instant};

use telemetry_benches::{ChildServer, EventData, Mode};
use telemetry_runtime::{Config, DropReason, Level, Telemetry};

fn main() {
    telemetry_benches::child_main();
    let n: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let mut server = ChildServer::start(Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = telemetry_runtime::sink::PostHogSink::new("phc_bench")
        .and_then(|sink| sink.host(&format!("http://{}", server.addr)))
        .expect("loopback host is valid");
    // Every setting but consent and the directories is the library's default.
    let client = Telemetry::new(
        Config::new("bench", "1.0.0")
            .consent(Level::Usage)
            .environment(|_| None)
            .env(|e| telemetry_runtime::EnvVars { detect_ci: false, ..e })
            .dirs(|_| telemetry_runtime::Dirs::from(dir.path()))
            .sink(sink),
    )
    .expect("config");
    let event = EventData::sample().typed();
    let start = Instant::now();
    for _ in 0..n {
        client.capture(std::hint::black_box(&event));
    }
    let elapsed = start.elapsed();
    let delivered_all = client.shutdown(Duration::from_secs(30));
    let s = client.stats();
    let (requests, _, received) = server.stats();
    println!(
        "burst: {n} captures in {:.3} s; captured {}, queue_full {}, sent {} (the server counted {received} \
         events in {requests} requests); shutdown delivered the rest: {delivered_all}",
        elapsed.as_secs_f64(),
        s.captured,
        s.dropped(DropReason::QueueFull),
        s.sent,
    );
}
