//! The budget of issue 14, measured interleaved: within each group, every
//! round takes one sample of each row, in a shuffled order, so that a
//! change of the machine's speed between samples hits all rows alike (see
//! `telemetry_benches::interleave`).
//!
//! ```text
//! cd benches
//! cargo build --release --bin interleaved
//! target/release/interleaved                       # gate, capture, throughput
//! target/release/interleaved gate --rounds 200     # one group (also: placement)
//! target/release/interleaved --csv results/raw.csv # also every sample, as CSV
//! cargo build --release --bin interleaved --features off   # the runtime compiled out
//! target/release/interleaved gate
//! ```
//!
//! Groups:
//! - `gate`: a disabled call site. No client initialised (the global level
//!   is Off) and `log`'s maximum level Off; the functions of `src/gate.rs`.
//!   Timed in the thread's CPU time (`--clock wall` for elapsed time): the
//!   work is all on this thread, and time spent descheduled while another
//!   process runs is left out.
//! - `placement` (x86-64 Linux): the gate's machine code, before and after
//!   the change of issue 14, at each 16-byte offset of a 64-byte line (see
//!   `placement.rs`). Not run by default.
//! - `capture` (elapsed time; `--clock cpu` for the caller thread's CPU
//!   time): the caller's cost of capturing the typical 8-property event
//!   while the worker ships to a loopback server; posthog-rs building and
//!   capturing the same event; and a floor: the eight values pushed into a
//!   preallocated `Vec` under a `Mutex`. Each sample is a run of captures,
//!   then an untimed flush, so queues stay bounded.
//! - `throughput` (elapsed time): 10,000 events per sample from the first capture to the
//!   flush that delivered them to the loopback server, in requests of 100,
//!   ours (`HttpSink`) and posthog-rs's blocking client.
//! - `protocols` (elapsed time): the same, for each wire protocol of the
//!   library's own sinks: PostHog on `/batch/` and on capture Analytics V1,
//!   OTLP in `http/json` and `http/protobuf`. Not run by default.
//!
//! Only the runtime's stable surface is used: `Config`, `Telemetry::new`,
//! `capture`, `flush`, `stats`, `sink::HttpSink`, the derive and
//! `#[requires_telemetry]`.

use std::hint::black_box;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use telemetry_benches::interleave::{ratio_table, time, Budget, Clock, Group, Options, Ratio, Results};
use telemetry_benches::{EventData, LARGE_QUEUE};

// The gate functions, compiled into this crate (see the file's comment).
#[path = "../../gate.rs"]
mod gate_fns;
use gate_fns::*;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[macro_use]
mod placement;

const FLUSH: Duration = Duration::from_secs(120);

/// What a group reports: its samples, its ratios, and lines of notes.
struct Report {
    results: Results,
    ratios: Vec<Ratio>,
    notes: Vec<String>,
}

/// Row names, shared by the rows and the ratios.
const UNANNOTATED: &str = "unannotated fn";
const GATED: &str = "#[requires_telemetry] fn";
const TRACED: &str = "#[tracing::instrument] fn, no subscriber";
const LOGGED: &str = "log::debug! + body, max level off";
const FLAG: &str = "static AtomicBool gate (reference)";
const UNANNOTATED_VALUE: &str = "unannotated fn -> u64";
const INSTRUMENTED_VALUE: &str = "#[requires_telemetry(instrument)] fn -> u64";
const TRACED_VALUE: &str = "#[tracing::instrument] fn -> u64, no subscriber";

const OURS_TYPED: &str = "ours: typed derive event, worker shipping to loopback";
const POSTHOG_CAPTURE: &str = "posthog-rs: Event + capture";
const FLOOR: &str = "floor: 8 values pushed into a Vec under a Mutex";

const OURS_DELIVER: &str = "ours: HttpSink, requests of 100";
const POSTHOG_DELIVER: &str = "posthog-rs: blocking Client, requests of 100";

fn main() {
    let mut rounds: Option<usize> = None;
    let mut csv: Option<String> = None;
    // Chosen per group unless given: the thread's CPU time for the gate and
    // placement rows, elapsed time for capture.
    let mut clock: Option<Clock> = None;
    let mut groups: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()),
            "--csv" => csv = args.next(),
            "--clock" => {
                clock = match args.next().as_deref() {
                    Some("wall") => Some(Clock::Wall),
                    Some("cpu") => Some(Clock::ThreadCpu),
                    other => panic!("--clock wall|cpu, not {other:?}"),
                }
            }
            _ => groups.push(arg),
        }
    }
    if groups.is_empty() {
        let all: &[&str] = if cfg!(feature = "off") { &["gate"] } else { &["gate", "capture", "throughput"] };
        groups = all.iter().map(|g| g.to_string()).collect();
    }

    println!(
        "interleaved: runtime {}; load average at start {}",
        if cfg!(feature = "off") { "compiled out (--features off)" } else { "compiled in" },
        telemetry_benches::interleave::load_average()
    );
    let mut all = Vec::new();
    for group in groups {
        if cfg!(feature = "off") && group != "gate" && group != "placement" {
            eprintln!("{group}: skipped, the runtime is compiled out");
            continue;
        }
        let report = match group.as_str() {
            "gate" => gate(rounds.unwrap_or(200), clock.unwrap_or(Clock::ThreadCpu)),
            "capture" => capture(rounds.unwrap_or(60), clock.unwrap_or(Clock::Wall)),
            "throughput" => throughput(rounds.unwrap_or(60)),
            "protocols" => protocols(rounds.unwrap_or(40)),
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            "placement" => placement(rounds.unwrap_or(100), clock.unwrap_or(Clock::ThreadCpu)),
            other => {
                panic!("unknown group {other:?}: expected gate, capture, throughput, protocols or placement")
            }
        };
        println!("\n{}", report.results.table());
        println!("{}", ratio_table(&report.ratios));
        for line in &report.notes {
            println!("{line}");
        }
        all.push(report.results);
    }
    if let Some(path) = csv {
        let mut file = std::fs::File::create(&path).expect("create the CSV file");
        writeln!(file, "group,round,row,ns_per_iter").expect("write CSV");
        for results in &all {
            file.write_all(results.csv().as_bytes()).expect("write CSV");
        }
        println!("samples written to {path}");
    }
    // posthog-rs's client may still hold threads; nothing more to wait for.
    std::process::exit(0);
}

// ---------------------------------------------------------------------------
// gate
// ---------------------------------------------------------------------------

fn gate(rounds: usize, clock: Clock) -> Report {
    gate_fns::prepare();
    let mut group = Group::new(format!("{}, {clock:?} clock", gate_fns::group_name()));
    // Each row owns its counter; `black_box` keeps the argument opaque.
    let mut c = [0u64; 5];
    let [c0, c1, c2, c3, c4] = &mut c;
    group.row(UNANNOTATED, |n| clock.time(n, || unannotated(black_box(&mut *c0))));
    group.row(GATED, |n| clock.time(n, || gated(black_box(&mut *c1))));
    group.row(TRACED, |n| clock.time(n, || traced(black_box(&mut *c2))));
    group.row(LOGGED, |n| clock.time(n, || logged(black_box(&mut *c3))));
    group.row(FLAG, |n| clock.time(n, || static_flag_gate(black_box(&mut *c4))));
    group.row(UNANNOTATED_VALUE, |n| {
        clock.time(n, || {
            black_box(unannotated_value(black_box(7)));
        })
    });
    group.row(INSTRUMENTED_VALUE, |n| {
        clock.time(n, || {
            black_box(instrumented_value(black_box(7)));
        })
    });
    group.row(TRACED_VALUE, |n| {
        clock.time(n, || {
            black_box(traced_value(black_box(7)));
        })
    });
    let results = group.run(&Options { rounds, sample: Duration::from_millis(2) });
    // Where each function starts within its 64-byte line: the rows can step
    // by a cycle when a function's few instructions cross a line (see
    // BENCHMARKS.md; `benches/.cargo/config.toml` aligns every function).
    let mut notes = vec!["offset of each function in its 64-byte line:".to_owned()];
    notes.extend(
        [
            (UNANNOTATED, unannotated as fn(&mut u64) as usize),
            (GATED, gated as fn(&mut u64) as usize),
            (TRACED, traced as fn(&mut u64) as usize),
            (LOGGED, logged as fn(&mut u64) as usize),
            (FLAG, static_flag_gate as fn(&mut u64) as usize),
            (UNANNOTATED_VALUE, unannotated_value as fn(u64) -> u64 as usize),
            (INSTRUMENTED_VALUE, instrumented_value as fn(u64) -> u64 as usize),
            (TRACED_VALUE, traced_value as fn(u64) -> u64 as usize),
        ]
        .iter()
        .map(|(name, address)| format!("  {name}: {}", address % 64)),
    );
    // Compiled out, an attributed function costs nothing by construction
    // when it is the very same machine code as the unannotated one (the
    // linker then keeps one copy) or does nothing at all (a bare `ret`):
    // its ratio is then only the noise of the samples around 1, which at
    // these few cycles steps by a cycle from sample to sample.
    let mut nothing_added = Vec::new();
    for (a, b, x, y) in [
        (GATED, UNANNOTATED, gated as fn(&mut u64) as usize, unannotated as fn(&mut u64) as usize),
        (
            INSTRUMENTED_VALUE,
            UNANNOTATED_VALUE,
            instrumented_value as fn(u64) -> u64 as usize,
            unannotated_value as fn(u64) -> u64 as usize,
        ),
    ] {
        if x == y {
            notes.push(format!("{a} is the same function as {b} (one copy after linking)"));
            nothing_added.push((a, "same code"));
        } else if is_bare_ret(x) {
            notes.push(format!("{a} is a bare `ret`: it does nothing"));
            nothing_added.push((a, "bare ret"));
        }
    }
    // Off at run time the attribute may cost at most 5%; compiled out,
    // nothing.
    let budget = |row: &str| match nothing_added.iter().find(|(name, _)| *name == row) {
        Some((_, why)) if cfg!(feature = "off") => Budget::ByConstruction(why),
        _ if cfg!(feature = "off") => Budget::AtMost(1.00),
        _ => Budget::AtMost(1.05),
    };
    let ratios = vec![
        results.ratio(GATED, UNANNOTATED, budget(GATED)),
        results.ratio(INSTRUMENTED_VALUE, UNANNOTATED_VALUE, budget(INSTRUMENTED_VALUE)),
        results.ratio(INSTRUMENTED_VALUE, TRACED_VALUE, Budget::AtMost(1.00)),
        results.ratio(GATED, TRACED, Budget::None),
        results.ratio(TRACED, UNANNOTATED, Budget::None),
        results.ratio(TRACED_VALUE, UNANNOTATED_VALUE, Budget::None),
        results.ratio(LOGGED, UNANNOTATED, Budget::None),
        results.ratio(FLAG, UNANNOTATED, Budget::None),
    ];
    Report { results, ratios, notes }
}

/// Whether the function at `address` is a single `ret` instruction.
fn is_bare_ret(address: usize) -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    // SAFETY: `address` is a function's entry point in this binary's text
    // section, which is mapped readable; its first byte is read, nothing is
    // written or called.
    let first = unsafe { std::ptr::read_volatile(address as *const u8) };
    first == 0xc3
}

// ---------------------------------------------------------------------------
// placement
// ---------------------------------------------------------------------------

/// The shapes of `placement.rs`, with what each is a copy of.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const SHAPES: [(&str, &str); 7] = [
    ("unannotated_value", UNANNOTATED_VALUE),
    ("instrument_before", "instrument form, code before the change"),
    ("instrument_after", "instrument form, code after the change"),
    ("instrument_u32", "instrument form, after, if the level were an AtomicU32"),
    ("unannotated", UNANNOTATED),
    ("gated_before", "#[requires_telemetry] fn, code before the change"),
    ("gated_after", "#[requires_telemetry] fn, code after the change"),
];

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const OFFSETS: [u32; 4] = [0, 16, 32, 48];

/// The gate's code at each offset of a 64-byte line (see `placement.rs`).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn placement(rounds: usize, clock: Clock) -> Report {
    let mut group = Group::new(format!("placement, {clock:?} clock"));
    let mut counters = [0u64; 12];
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11] = &mut counters;
    // One row per shape and offset; the symbol names are literals.
    macro_rules! value_rows {
        ($shape:literal) => {
            group.row(concat!($shape, " @0"), |n| {
                clock.time(n, || {
                    black_box(call_value!(concat!("telemetry_bench_", $shape, "_0"), black_box(7u64)));
                })
            });
            group.row(concat!($shape, " @16"), |n| {
                clock.time(n, || {
                    black_box(call_value!(concat!("telemetry_bench_", $shape, "_16"), black_box(7u64)));
                })
            });
            group.row(concat!($shape, " @32"), |n| {
                clock.time(n, || {
                    black_box(call_value!(concat!("telemetry_bench_", $shape, "_32"), black_box(7u64)));
                })
            });
            group.row(concat!($shape, " @48"), |n| {
                clock.time(n, || {
                    black_box(call_value!(concat!("telemetry_bench_", $shape, "_48"), black_box(7u64)));
                })
            });
        };
    }
    macro_rules! counter_rows {
        ($shape:literal, $a:ident, $b:ident, $c:ident, $d:ident) => {
            group.row(concat!($shape, " @0"), |n| {
                clock
                    .time(n, || call_counter!(concat!("telemetry_bench_", $shape, "_0"), black_box(&mut *$a)))
            });
            group.row(concat!($shape, " @16"), |n| {
                clock.time(n, || {
                    call_counter!(concat!("telemetry_bench_", $shape, "_16"), black_box(&mut *$b))
                })
            });
            group.row(concat!($shape, " @32"), |n| {
                clock.time(n, || {
                    call_counter!(concat!("telemetry_bench_", $shape, "_32"), black_box(&mut *$c))
                })
            });
            group.row(concat!($shape, " @48"), |n| {
                clock.time(n, || {
                    call_counter!(concat!("telemetry_bench_", $shape, "_48"), black_box(&mut *$d))
                })
            });
        };
    }
    value_rows!("unannotated_value");
    value_rows!("instrument_before");
    value_rows!("instrument_after");
    value_rows!("instrument_u32");
    counter_rows!("unannotated", c0, c1, c2, c3);
    counter_rows!("gated_before", c4, c5, c6, c7);
    counter_rows!("gated_after", c8, c9, c10, c11);
    let results = group.run(&Options { rounds, sample: Duration::from_millis(2) });
    let mut ratios = Vec::new();
    for offset in OFFSETS {
        let at = |shape: &str| format!("{shape} @{offset}");
        for (shape, base) in [
            ("instrument_before", "unannotated_value"),
            ("instrument_after", "unannotated_value"),
            ("instrument_u32", "unannotated_value"),
            ("gated_before", "unannotated"),
            ("gated_after", "unannotated"),
        ] {
            ratios.push(results.ratio(&at(shape), &at(base), Budget::AtMost(1.05)));
        }
    }
    let notes = placement_matrix(&results);
    Report { results, ratios, notes }
}

/// The medians as a matrix: a shape per line, an offset per column.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn placement_matrix(results: &Results) -> Vec<String> {
    let mut lines = vec![
        "median ns per call by offset in the 64-byte line:".to_owned(),
        format!("{:<20} {:>9} {:>9} {:>9} {:>9}   copy of", "shape", "@0", "@16", "@32", "@48"),
    ];
    for (shape, what) in SHAPES {
        let cells: Vec<String> = OFFSETS
            .iter()
            .map(|o| format!("{:>9.3}", results.spread(&format!("{shape} @{o}")).median))
            .collect();
        lines.push(format!("{shape:<20} {}   {what}", cells.join(" ")));
    }
    lines
}

// ---------------------------------------------------------------------------
// capture
// ---------------------------------------------------------------------------

/// What the floor row keeps of an event: the eight values, text borrowed.
#[allow(dead_code)] // written, never read: the point is the write
struct FloorEntry<'a> {
    project_id: u128,
    run_id: u128,
    duration_ms: f64,
    items: u64,
    command: &'a str,
    cached: bool,
    features: &'a [String],
    version: &'a str,
}

const FLOOR_CAPACITY: usize = 4096;

fn capture(rounds: usize, clock: Clock) -> Report {
    let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    // The library's defaults (recent-deliveries record included), an HTTP
    // sink to loopback (plain bodies, like posthog-rs) and a queue large
    // enough that nothing drops: as in `benches/compare.rs`.
    let ours =
        telemetry_benches::ours(dir.path(), telemetry_benches::http_sink(server.addr), LARGE_QUEUE, 100);
    let posthog = telemetry_benches::posthog_client(server.addr, LARGE_QUEUE);
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();
    let floor: Mutex<Vec<FloorEntry<'_>>> = Mutex::new(Vec::with_capacity(FLOOR_CAPACITY));

    let mut group = Group::new(format!("capture (8 properties, enabled), {clock:?} clock"));
    group.row(OURS_TYPED, |n| {
        let elapsed = clock.time(n, || ours.capture(black_box(&event)));
        assert!(ours.flush(FLUSH), "flush timed out or dropped events");
        elapsed
    });
    group.row(POSTHOG_CAPTURE, |n| {
        let elapsed = clock.time(n, || posthog.capture(black_box(&data).posthog(&distinct_id)));
        posthog.flush();
        elapsed
    });
    group.row(FLOOR, |n| {
        clock.time(n, || {
            let data = black_box(&data);
            let mut entries = floor.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() == entries.capacity() {
                entries.clear();
            }
            entries.push(FloorEntry {
                project_id: data.project_id.as_u128(),
                run_id: data.run_id.as_u128(),
                duration_ms: data.duration_ms,
                items: data.items,
                command: &data.command,
                cached: data.cached,
                features: &data.features,
                version: &data.version,
            });
        })
    });
    let results = group.run(&Options { rounds, sample: Duration::from_millis(4) });

    let stats = ours.stats();
    let notes = vec![format!(
        "ours captured {} sent {} dropped {}; the server got {} events in all (posthog-rs's included)",
        stats.captured,
        stats.sent,
        stats.dropped_total(),
        server.stats.snapshot().2
    )];
    assert_eq!(stats.dropped_total(), 0, "the capture rows must not drop events");
    assert!(ours.shutdown(Duration::from_secs(5)), "shutdown timed out");
    posthog.shutdown();
    let ratios = vec![
        results.ratio(POSTHOG_CAPTURE, OURS_TYPED, Budget::AtLeast(15.0)),
        results.ratio(OURS_TYPED, FLOOR, Budget::None),
    ];
    Report { results, ratios, notes }
}

// ---------------------------------------------------------------------------
// protocols
// ---------------------------------------------------------------------------

const PROTOCOL_BATCH: &str = "PostHogSink /batch/, requests of 100";
const PROTOCOL_V1: &str = "PostHogSink capture V1, requests of 100";
const PROTOCOL_OTLP_JSON: &str = "OtlpSink http/json, requests of 100";
const PROTOCOL_OTLP_PROTO: &str = "OtlpSink http/protobuf, requests of 100";

/// Each protocol's time per event, capture to delivery, interleaved: four
/// clients, one per sink, each sample 10,000 captures and the flush that
/// delivered them, plain bodies, requests of 100.
fn protocols(rounds: usize) -> Report {
    use telemetry_runtime::sink::Protocol;
    let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    let event = EventData::sample().typed();
    let client = |name: &str, sink: Box<dyn FnOnce(&std::path::Path) -> telemetry_runtime::Config>| {
        let sub = dir.path().join(name.replace(['/', ' ', ','], "_"));
        std::fs::create_dir_all(&sub).expect("client dir");
        telemetry_runtime::Telemetry::new(sink(&sub).delivery(|d| telemetry_runtime::Delivery {
            batch_size: 100,
            max_batch_size: 100,
            ..d
        }))
        .expect("bench config is valid")
    };
    let addr = server.addr;
    let clients = [
        (
            PROTOCOL_BATCH,
            client(
                PROTOCOL_BATCH,
                Box::new(move |d| {
                    telemetry_benches::ours_config(d, telemetry_benches::posthog_sink(addr), LARGE_QUEUE, 0)
                }),
            ),
        ),
        (
            PROTOCOL_V1,
            client(
                PROTOCOL_V1,
                Box::new(move |d| {
                    telemetry_benches::ours_config(
                        d,
                        telemetry_benches::posthog_v1_sink(addr),
                        LARGE_QUEUE,
                        0,
                    )
                }),
            ),
        ),
        (
            PROTOCOL_OTLP_JSON,
            client(
                PROTOCOL_OTLP_JSON,
                Box::new(move |d| {
                    telemetry_benches::ours_config(
                        d,
                        telemetry_benches::otlp_sink(addr, Protocol::HttpJson),
                        LARGE_QUEUE,
                        0,
                    )
                }),
            ),
        ),
        (
            PROTOCOL_OTLP_PROTO,
            client(
                PROTOCOL_OTLP_PROTO,
                Box::new(move |d| {
                    telemetry_benches::ours_config(
                        d,
                        telemetry_benches::otlp_sink(addr, Protocol::HttpProtobuf),
                        LARGE_QUEUE,
                        0,
                    )
                }),
            ),
        ),
    ];
    let mut group = Group::new("protocols");
    for (name, client) in &clients {
        let event = &event;
        group.row_fixed(*name, DELIVER_CHUNK, move |n| {
            time(1, || {
                for _ in 0..n {
                    client.capture(black_box(event));
                }
                assert!(client.flush(FLUSH), "flush timed out or dropped events");
            })
        });
    }
    let results = group.run(&Options { rounds, sample: Duration::ZERO });
    let mut notes = Vec::new();
    for (name, client) in &clients {
        let stats = client.stats();
        assert_eq!(stats.dropped_total(), 0, "{name}: the protocol rows must not drop events");
        notes.push(format!("{name}: sent {}", stats.sent));
        assert!(client.shutdown(Duration::from_secs(5)), "shutdown timed out");
    }
    let (requests, body_bytes, _) = server.stats.snapshot();
    notes.push(format!("the server got {requests} requests, {body_bytes} body bytes in all"));
    let ratios = vec![
        results.ratio(PROTOCOL_V1, PROTOCOL_BATCH, Budget::None),
        results.ratio(PROTOCOL_OTLP_JSON, PROTOCOL_OTLP_PROTO, Budget::None),
        results.ratio(PROTOCOL_OTLP_PROTO, PROTOCOL_BATCH, Budget::None),
    ];
    Report { results, ratios, notes }
}

// ---------------------------------------------------------------------------
// throughput
// ---------------------------------------------------------------------------

/// Events per sample: 100 requests of 100.
const DELIVER_CHUNK: u64 = 10_000;

fn throughput(rounds: usize) -> Report {
    let server = telemetry_benches::serve(telemetry_benches::Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();
    // Section 4 of BENCHMARKS.md: plain bodies, record of recent deliveries
    // on, a batch is ready at 100 events and a request carries at most 100.
    let config = telemetry_benches::ours_config(
        dir.path(),
        telemetry_benches::http_sink(server.addr),
        LARGE_QUEUE,
        100,
    )
    .delivery(|d| telemetry_runtime::Delivery { batch_size: 100, max_batch_size: 100, ..d });
    let ours = telemetry_runtime::Telemetry::new(config).expect("bench config is valid");
    let posthog = telemetry_benches::posthog_client(server.addr, LARGE_QUEUE);

    let mut group = Group::new("throughput");
    // Timed from the first capture to the end of the flush that delivered
    // the last event.
    group.row_fixed(OURS_DELIVER, DELIVER_CHUNK, |n| {
        time(1, || {
            for _ in 0..n {
                ours.capture(black_box(&event));
            }
            assert!(ours.flush(FLUSH), "flush timed out or dropped events");
        })
    });
    group.row_fixed(POSTHOG_DELIVER, DELIVER_CHUNK, |n| {
        time(1, || {
            for _ in 0..n {
                posthog.capture(black_box(&data).posthog(&distinct_id));
            }
            posthog.flush();
        })
    });
    let results = group.run(&Options { rounds, sample: Duration::ZERO });

    let stats = ours.stats();
    let mut notes = vec![format!(
        "ours captured {} sent {} dropped {}; the server got {} events in all (posthog-rs's included)",
        stats.captured,
        stats.sent,
        stats.dropped_total(),
        server.stats.snapshot().2,
    )];
    assert_eq!(stats.dropped_total(), 0, "the throughput rows must not drop events");
    assert!(ours.shutdown(Duration::from_secs(5)), "shutdown timed out");
    posthog.shutdown();
    // Time per event: posthog-rs / ours is how many times ours's rate is.
    let ratios = vec![results.ratio(POSTHOG_DELIVER, OURS_DELIVER, Budget::None)];
    notes.extend(events_per_second(&results));
    Report { results, ratios, notes }
}

/// Events per second from the samples' time per event; budget: ours at
/// least 400,000 events/s.
fn events_per_second(results: &Results) -> Vec<String> {
    let mut lines = Vec::new();
    for name in [OURS_DELIVER, POSTHOG_DELIVER] {
        let s = results.spread(name);
        let rate = |ns: f64| 1e9 / ns;
        let verdict = if name == OURS_DELIVER {
            if rate(s.median) >= 400_000.0 {
                "  budget >= 400,000/s: met"
            } else {
                "  budget >= 400,000/s: NOT MET"
            }
        } else {
            ""
        };
        lines.push(format!(
            "{name}: {:.0} events/s median (p10 - p90 {:.0} - {:.0}, min - max {:.0} - {:.0}){verdict}",
            rate(s.median),
            rate(s.p90),
            rate(s.p10),
            rate(s.max),
            rate(s.min),
        ));
    }
    lines
}
