//! Sustained load: 1,000,000 captures in a tight loop while the worker ships
//! them to a loopback server (in a child process, so its CPU is not counted).
//! Reports, per event delivered: total process CPU (caller + worker + HTTP
//! client threads, from getrusage(RUSAGE_SELF)), the caller's CPU, the
//! worker thread's CPU, wall time to delivery, bytes on the wire, the
//! caller's and the worker's minor page faults (memory new to the process)
//! and the peak resident memory.
//!
//! ```text
//! cargo run --release --bin sustained -- [--events 1000000] [--reps 5]
//! cargo run --release --bin sustained -- --one ours 1000000   # one measurement
//! cargo run --release --bin sustained -- --alternate --reps 10 # the budget of issue 14
//! cargo run --release --bin sustained -- --alternate --ours ours-posthog --reps 10
//! ```
//!
//! Each measurement runs in a fresh process; the parent prints the median
//! and range of `--reps` runs of each variant, interleaved.
//!
//! `--alternate`: ours with the library's default gzip and posthog-rs in
//! pairs, the pair's order flipped each time (AB BA AB ...), and the ratio
//! of their CPU per delivered event both as the ratio of the medians and
//! as the median of the ratios within each pair. `--ours VARIANT` pairs
//! another of ours with posthog-rs: `ours-posthog`, the PostHog sink with
//! the library's defaults (gzip above 4 KiB), is what a PostHog user runs.

use std::process::Command;
use std::time::{Duration, Instant};

use telemetry_benches::interleave::Spread;
use telemetry_benches::{
    named_threads_cpu, named_threads_cpu_split, named_threads_minor_faults, process_cpu, summary, thread_cpu,
    thread_minor_faults, ChildServer, EventData, Mode, LARGE_QUEUE,
};

const VARIANTS: [(&str, &str); 10] = [
    (
        "ours",
        "ours: HttpSink, plain bodies, library defaults otherwise (recent-deliveries record on, up to 1,000 events per request), queue 4M",
    ),
    ("ours-b100", "ours: HttpSink, plain bodies, requests of at most 100 events like posthog-rs, queue 4M"),
    ("ours-gzip", "ours: HttpSink, library defaults including gzip above 4 KiB, queue 4M"),
    ("ours-posthog", "ours: PostHogSink (/batch/), library defaults including gzip above 4 KiB, queue 4M"),
    ("ours-posthog-plain", "ours: PostHogSink (/batch/), plain bodies, queue 4M"),
    ("ours-posthog-spool", "ours: PostHogSink (/batch/), library defaults and the spool on, queue 4M"),
    ("ours-norecent", "ours: HttpSink, recent_deliveries(0), queue 4M"),
    ("ours-q10k", "ours: HttpSink, library defaults, default queue 10k"),
    ("posthog", "posthog-rs: blocking Client, queue 4M"),
    ("posthog-q10k", "posthog-rs: blocking Client, default queue 10k"),
];

const FIELDS: [&str; 13] = [
    "cpu_ns_per_delivered",
    "caller_cpu_ns_per_capture",
    "caller_wall_ns_per_capture",
    "worker_cpu_ns_per_delivered",
    "wall_s_to_delivery",
    "delivered",
    "dropped",
    "bytes_per_event",
    "events_per_request",
    "worker_system_cpu_ns_per_delivered",
    "caller_page_faults_per_1000_captures",
    "worker_page_faults_per_1000_delivered",
    "peak_rss_mib",
];

fn main() {
    telemetry_benches::child_main();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--one") {
        let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
        one(&args[1], n);
        return;
    }
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let events = flag("--events", 1_000_000);
    let reps = flag("--reps", 5);
    let only: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.starts_with("--") && a.parse::<u64>().is_err() && (*i == 0 || args[i - 1] != "--ours")
        })
        .map(|(_, a)| a)
        .map(String::as_str)
        .collect();
    let exe = std::env::current_exe().expect("current exe");
    if args.iter().any(|a| a == "--alternate") {
        let ours = args
            .iter()
            .position(|a| a == "--ours")
            .and_then(|i| args.get(i + 1))
            .map_or("ours-gzip", String::as_str);
        assert!(
            ours.starts_with("ours") && VARIANTS.iter().any(|(key, _)| *key == ours),
            "--ours takes one of our variants, not {ours:?}"
        );
        alternate(&exe, ours, events, reps);
        return;
    }
    let mut results: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); FIELDS.len()]; VARIANTS.len()];
    for rep in 0..reps {
        for (v, (key, _)) in VARIANTS.iter().enumerate() {
            if !only.is_empty() && !only.contains(key) {
                continue;
            }
            eprint!("rep {rep} ");
            for (f, value) in run(&exe, key, events).into_iter().enumerate() {
                results[v][f].push(value);
            }
        }
    }
    println!("\n{events} captures per run, {reps} runs per variant: median [min .. max]\n");
    for (v, (key, label)) in VARIANTS.iter().enumerate() {
        if results[v][0].is_empty() {
            continue;
        }
        println!("{label} ({key})");
        for (f, field) in FIELDS.iter().enumerate() {
            let (median, lo, hi) = summary(&mut results[v][f]);
            println!("  {field:<28} {median:>12.1}  [{lo:.1} .. {hi:.1}]");
        }
    }
}

/// Runs `--one key events` in a fresh process; returns its [`FIELDS`].
fn run(exe: &std::path::Path, key: &str, events: u64) -> Vec<f64> {
    let out = Command::new(exe).args(["--one", key, &events.to_string()]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let line =
        text.lines().find(|l| l.starts_with("RESULT")).unwrap_or_else(|| panic!("{key}: no result: {text}"));
    eprintln!("{key}: {line}");
    line.split_whitespace().skip(2).map(|value| value.parse().expect("number")).collect()
}

/// Ours (`ours`: a variant with the default gzip) against posthog-rs, in
/// pairs whose order flips each time; prints medians, ranges and ratios of
/// the CPU per delivered event. Budget: ours at most 1 µs and at least 10x
/// less than posthog-rs.
fn alternate(exe: &std::path::Path, ours_variant: &str, events: u64, reps: u64) {
    let label =
        VARIANTS.iter().find(|(key, _)| *key == ours_variant).map_or(ours_variant, |(_, label)| label);
    const POSTHOG: &str = "posthog";
    let (mut ours, mut posthog) = (Vec::new(), Vec::new());
    let load_before = telemetry_benches::interleave::load_average();
    for rep in 0..reps {
        let order = if rep % 2 == 0 { [ours_variant, POSTHOG] } else { [POSTHOG, ours_variant] };
        for key in order {
            eprint!("pair {rep} ");
            let fields = run(exe, key, events);
            if fields[5] as u64 != events {
                eprintln!("{key}: {} of {events} events delivered", fields[5]);
            }
            if key == ours_variant {
                ours.push(fields)
            } else {
                posthog.push(fields)
            }
        }
    }
    let load_after = telemetry_benches::interleave::load_average();
    let field = |runs: &[Vec<f64>], f: usize| runs.iter().map(|r| r[f]).collect::<Vec<f64>>();
    println!(
        "\n{events} captures per run, {reps} pairs (order flipped each pair); load average {load_before} -> {load_after}"
    );
    println!("CPU per delivered event, median [min .. max] (p10 .. p90):");
    println!("{label} ({ours_variant})");
    for (label, runs) in [(ours_variant, &ours), ("posthog-rs, queue 4M", &posthog)] {
        let s = Spread::of(&field(runs, 0));
        let caller = Spread::of(&field(runs, 1));
        let worker = Spread::of(&field(runs, 3));
        println!(
            "  {label:<45} {:>8.1} ns [{:.1} .. {:.1}] ({:.1} .. {:.1}); caller {:.1} ns, worker {:.1} ns per event",
            s.median, s.min, s.max, s.p10, s.p90, caller.median, worker.median
        );
    }
    let (o, p) = (field(&ours, 0), field(&posthog, 0));
    let of_medians = Spread::of(&p).median / Spread::of(&o).median;
    let pairs: Vec<f64> = p.iter().zip(&o).map(|(p, o)| p / o).collect();
    let per_pair = Spread::of(&pairs);
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    println!(
        "posthog-rs / ours: {of_medians:.2}x (ratio of medians); per pair {:.2}x [{:.2} .. {:.2}]; budget >= 10x \
         (per-pair median): {}",
        per_pair.median,
        per_pair.min,
        per_pair.max,
        verdict(per_pair.median >= 10.0)
    );
    let ours_median = Spread::of(&o).median;
    println!(
        "ours: {:.3} us per event; budget <= 1 us: {}",
        ours_median / 1000.0,
        verdict(ours_median <= 1000.0)
    );
}

/// One measurement; prints `RESULT <variant> <FIELDS...>`.
fn one(variant: &str, n: u64) {
    let mut server = ChildServer::start(Mode::Ok);
    let dir = tempfile::tempdir().expect("temp dir");
    let data = EventData::sample();
    let event = data.typed();
    let distinct_id = uuid::Uuid::new_v4().to_string();
    let queue = if variant.ends_with("q10k") { 10_000 } else { LARGE_QUEUE };
    let (req0, bytes0, events0) = server.stats();

    let cpu0 = process_cpu();
    let faults0 = thread_minor_faults();
    let start = Instant::now();
    let (caller_cpu, caller_wall, caller_faults, (worker_cpu, worker_system), worker_faults, dropped) =
        if variant.starts_with("ours") {
            let recent = if variant == "ours-norecent" { 0 } else { 100 };
            let config = match variant {
                "ours-gzip" => telemetry_benches::ours_config(
                    dir.path(),
                    telemetry_benches::http_sink_default_gzip(server.addr),
                    queue,
                    recent,
                ),
                "ours-posthog" | "ours-posthog-spool" => telemetry_benches::ours_config(
                    dir.path(),
                    telemetry_benches::posthog_sink_default_gzip(server.addr),
                    queue,
                    recent,
                ),
                "ours-posthog-plain" => telemetry_benches::ours_config(
                    dir.path(),
                    telemetry_benches::posthog_sink(server.addr),
                    queue,
                    recent,
                ),
                _ => telemetry_benches::ours_config(
                    dir.path(),
                    telemetry_benches::http_sink(server.addr),
                    queue,
                    recent,
                ),
            };
            let config = match variant {
                "ours-b100" => config.delivery(|d| telemetry_runtime::Delivery { max_batch_size: 100, ..d }),
                "ours-posthog-spool" => config.delivery(|d| telemetry_runtime::Delivery { spool: true, ..d }),
                _ => config,
            };
            let client = telemetry_runtime::Telemetry::new(config).expect("bench config is valid");
            let t0 = thread_cpu();
            for _ in 0..n {
                client.capture(std::hint::black_box(&event));
            }
            let caller = (thread_cpu() - t0, start.elapsed(), thread_minor_faults() - faults0);
            assert!(client.flush(Duration::from_secs(300)), "flush timed out or dropped events");
            let (_, system) = named_threads_cpu_split("telemetry-work");
            let worker = (named_threads_cpu("telemetry-work"), system);
            let stats = client.stats();
            (
                caller.0,
                caller.1,
                caller.2,
                worker,
                named_threads_minor_faults("telemetry-work"),
                stats.dropped_total(),
            )
        } else {
            let client = telemetry_benches::posthog_client(server.addr, queue);
            let t0 = thread_cpu();
            for _ in 0..n {
                client.capture(std::hint::black_box(&data).posthog(&distinct_id));
            }
            let caller = (thread_cpu() - t0, start.elapsed(), thread_minor_faults() - faults0);
            client.flush();
            // Its worker plus reqwest's internal runtime thread.
            let (user, system) = named_threads_cpu_split("posthog-transpo");
            let (tokio_user, tokio_system) = named_threads_cpu_split("reqwest-interna");
            let worker = (user + system + tokio_user + tokio_system, system + tokio_system);
            let faults =
                named_threads_minor_faults("posthog-transpo") + named_threads_minor_faults("reqwest-interna");
            std::mem::forget(client); // no shutdown work inside the measurement
            (caller.0, caller.1, caller.2, worker, faults, 0)
        };
    let wall = start.elapsed();
    let cpu = process_cpu() - cpu0;
    let (req1, bytes1, events1) = server.stats();
    let delivered = events1 - events0;
    let dropped = if variant.starts_with("posthog") { n.saturating_sub(delivered) } else { dropped };
    let per = |d: Duration, k: u64| d.as_nanos() as f64 / k.max(1) as f64;
    println!(
        "RESULT {variant} {:.1} {:.1} {:.1} {:.1} {:.3} {} {} {:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
        per(cpu, delivered),
        per(caller_cpu, n),
        per(caller_wall, n),
        per(worker_cpu, delivered),
        wall.as_secs_f64(),
        delivered,
        dropped,
        (bytes1 - bytes0) as f64 / delivered.max(1) as f64,
        delivered as f64 / (req1 - req0).max(1) as f64,
        per(worker_system, delivered),
        caller_faults as f64 * 1000.0 / n.max(1) as f64,
        worker_faults as f64 * 1000.0 / delivered.max(1) as f64,
        telemetry_benches::peak_rss_kib() as f64 / 1024.0,
    );
    std::process::exit(0);
}
