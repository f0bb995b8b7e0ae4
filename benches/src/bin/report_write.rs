//! What reports by period (issue 24) cost: the increment on the caller's
//! thread with a route that reports by period beside one that sends
//! counters as they are counted (the increment is the same code: it must
//! cost the same), and the worker's write of a run's counts to the
//! period's file.
//!
//! ```text
//! cargo build --release --bin report_write
//! # instructions per increment, on the caller's thread (run with N and 2N:
//! # the difference over N is the increment alone)
//! valgrind --tool=callgrind --separate-threads=yes target/release/report_write increment per-period 1000000
//! valgrind --tool=callgrind --separate-threads=yes target/release/report_write increment per-run 1000000
//! # elapsed per increment, interleaved rounds of both routes
//! target/release/report_write increments 20 1000000
//! # the worker's write per run: a flush with a run's counts to write
//! # against a flush with nothing to write, interleaved, in a directory
//! # of this disk (or DIR)
//! target/release/report_write write 400 [DIR]
//! ```

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use telemetry_runtime::sink::{Batch, SendContext, Sink, SinkError};
use telemetry_runtime::{Config, Level, Route, Telemetry};

telemetry_runtime::counter! {
    /// Tool calls, by tool and outcome.
    static TOOL_CALLS = "tool_calls", labels: [tool: Tool = ["search", "fetch"], status: Status = ["ok", "error"]];
}

const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

/// A sink that takes everything and keeps nothing.
struct Discard;

impl Sink for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn send(&mut self, _batch: &Batch, _cx: &SendContext<'_>) -> Result<(), SinkError> {
        Ok(())
    }
    fn is_local(&self) -> bool {
        true
    }
}

fn client(dir: &Path, per_period: bool) -> Telemetry {
    let route = if per_period { Route::counters_only().per_period(WEEK) } else { Route::counters_only() };
    let config = Config::new("bench", "1.0.0")
        .environment(|_| None)
        .dirs(|_| telemetry_runtime::Dirs {
            cache: Some(dir.join("cache")),
            config: Some(dir.join("config")),
            data: Some(dir.join("data")),
        })
        .consent(Level::Usage)
        .delivery(|d| telemetry_runtime::Delivery {
            recent_deliveries: 0,
            flush_interval: Duration::from_secs(3600),
            ..d
        })
        .route(Discard, route);
    Telemetry::new(config).expect("a client")
}

const SERIES: [(Tool, Status); 3] =
    [(Tool::Search, Status::Ok), (Tool::Search, Status::Error), (Tool::Fetch, Status::Ok)];

#[inline(never)]
fn increment(client: &Telemetry, values: (Tool, Status)) {
    client.add(&TOOL_CALLS, values, 1);
}

fn increments(client: &Telemetry, n: u64) {
    for i in 0..n {
        increment(client, black_box(SERIES[(i % 3) as usize]));
    }
}

fn median(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.1), at(0.9))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["increment", route, n] => {
            let client = client(dir.path(), *route == "per-period");
            let n: u64 = n.parse().expect("a count");
            // Every series exists before the loop, as in a long run.
            increments(&client, 3);
            assert!(client.flush(Duration::from_secs(10)));
            increments(&client, n);
            assert!(client.flush(Duration::from_secs(10)));
        }
        ["increments", rounds, n] => {
            let (rounds, n): (usize, u64) = (rounds.parse().expect("rounds"), n.parse().expect("a count"));
            let clients = [client(&dir.path().join("a"), false), client(&dir.path().join("b"), true)];
            let mut per_op = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                for k in [round % 2, 1 - round % 2] {
                    increments(&clients[k], 3);
                    let started = Instant::now();
                    increments(&clients[k], n);
                    per_op[k].push(started.elapsed().as_nanos() as f64 / n as f64);
                    assert!(clients[k].flush(Duration::from_secs(10)));
                }
            }
            for (name, values) in ["per-run", "per-period"].iter().zip(per_op) {
                let (median, p10, p90) = median(values);
                println!("increment, {name} route: {median:.2} ns [p10 {p10:.2}, p90 {p90:.2}] over {rounds} rounds of {n}");
            }
        }
        ["write", runs, rest @ ..] => {
            let runs: usize = runs.parse().expect("runs");
            let base = rest.first().map(Path::new).unwrap_or(dir.path());
            let work = tempfile::tempdir_in(base).expect("a directory there");
            let client = client(work.path(), true);
            increments(&client, 3);
            assert!(client.flush(Duration::from_secs(10)));
            let (mut writing, mut idle) = (Vec::new(), Vec::new());
            for run in 0..runs {
                // A run's counts: a few increments of each series, written
                // by one flush (as at exit); and a flush with nothing to
                // write, in alternating order.
                let with = |client: &Telemetry| {
                    increments(client, 15);
                    let started = Instant::now();
                    assert!(client.flush(Duration::from_secs(10)));
                    started.elapsed().as_secs_f64() * 1e6
                };
                let without = |client: &Telemetry| {
                    let started = Instant::now();
                    assert!(client.flush(Duration::from_secs(10)));
                    started.elapsed().as_secs_f64() * 1e6
                };
                if run % 2 == 0 {
                    writing.push(with(&client));
                    idle.push(without(&client));
                } else {
                    idle.push(without(&client));
                    writing.push(with(&client));
                }
            }
            let differences: Vec<f64> = writing.iter().zip(&idle).map(|(w, i)| w - i).collect();
            let (w, w10, w90) = median(writing);
            let (i, i10, i90) = median(idle);
            let (d, d10, d90) = median(differences);
            println!("flush with a run's counts to write: {w:.1} us [p10 {w10:.1}, p90 {w90:.1}]");
            println!("flush with nothing to write:        {i:.1} us [p10 {i10:.1}, p90 {i90:.1}]");
            println!("the write, per run (difference):    {d:.1} us [p10 {d10:.1}, p90 {d90:.1}] over {runs} runs in {}", work.path().display());
        }
        _ => {
            eprintln!(
                "usage: report_write increment per-run|per-period N | increments ROUNDS N | write RUNS [DIR]"
            );
            std::process::exit(2);
        }
    }
}
