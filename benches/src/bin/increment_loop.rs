//! N increments of a counter with two labels (a tool and an outcome, six
//! series that all exist), on the calling thread, for instruction counts:
//! the cost of `Telemetry::increment` where wall-clock timings are noisy.
//!
//! ```text
//! cargo build --release --bin increment_loop
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --toggle-collect='increment_loop::increments' \
//!     --callgrind-out-file=callgrind.increment.$n target/release/increment_loop $n
//! done
//! # instructions per increment: (total at 200000 - total at 100000) / 100000
//! ```

use std::hint::black_box;
use std::time::Instant;

use telemetry_runtime::testing::MemorySink;
use telemetry_runtime::{Config, Level, Telemetry, TelemetryProperty};

/// The tools of the benchmark's pretend server.
#[derive(TelemetryProperty, Clone, Copy)]
enum Tool {
    WebSearch,
    ReadPage,
    Calculator,
}

telemetry_runtime::counter! {
    /// Tool calls, by tool and outcome.
    static TOOL_CALLS = "tool_calls", labels: [tool: Tool, status: Status = ["ok", "error"]];
}

#[inline(never)]
fn increments(telemetry: &Telemetry, n: u64) {
    const TOOLS: [Tool; 3] = [Tool::WebSearch, Tool::ReadPage, Tool::Calculator];
    for i in 0..n {
        let tool = TOOLS[(i % 3) as usize];
        let status = if i % 2 == 0 { Status::Ok } else { Status::Error };
        telemetry.add(black_box(&TOOL_CALLS), (black_box(tool), black_box(status)), 1);
    }
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let config =
        Config::new("bench", "1.0.0").consent(Level::Usage).environment(|_| None).sink(MemorySink::new());
    let telemetry = Telemetry::new(config).expect("a valid configuration");
    // Every series exists before the measured loop: a new series is stored
    // (and allocates) once.
    increments(&telemetry, 6);
    let started = Instant::now();
    increments(&telemetry, n);
    eprintln!("{:.1} ns per increment", started.elapsed().as_nanos() as f64 / n as f64);
}
