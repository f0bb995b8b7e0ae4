#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md and keeps the raw output in
# benches/results/. Usage, from anywhere:
#
#   bash benches/run.sh            # all steps below, in order
#   bash benches/run.sh STEP...    # some of: machine interleaved unaligned compare off sustained memory deps profile
#
# Timings on a shared machine are noisy: the load average is recorded before
# and after each step (results/load.txt). The criterion groups compare the
# libraries inside one run, so their ratios hold better than their absolutes;
# the interleaved step (the budget of issue 14) takes its samples round-robin
# so that they hold even when the machine's speed changes within a run.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p results
out="$PWD/results"
# Where cargo builds (honours CARGO_TARGET_DIR).
target="${CARGO_TARGET_DIR:-$PWD/target}"

load() { echo "$(date -u +%FT%TZ) $1: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a $out/load.txt; }

machine() {
  {
    echo "date: $(date -u +%FT%TZ)"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "memory: $(free -h | awk '/Mem:/ {print $2}')"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version)"
    echo "cargo: $(cargo --version)"
    echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  } | tee $out/machine.txt
}

interleaved() {
  cargo build --release --bins
  load "interleaved start"
  "$target/release/interleaved" gate capture throughput placement --csv $out/interleaved.csv 2>&1 \
    | tee $out/interleaved.txt
  # The caller's cost again, in its thread's CPU time.
  "$target/release/interleaved" capture --clock cpu 2>&1 | tee $out/interleaved-capture-cpu.txt
  load "interleaved end"
  # The runtime compiled out; this rebuilds the binary with the feature.
  cargo build --release --bin interleaved --features off
  load "interleaved --features off start"
  "$target/release/interleaved" gate --csv $out/interleaved-off.csv 2>&1 | tee $out/interleaved-off.txt
  load "interleaved --features off end"
  cargo build --release --bins
  # Sustained CPU per event: ours (gzip) and posthog-rs in pairs of fresh
  # processes, the order flipped each pair.
  load "sustained --alternate start"
  "$target/release/sustained" --alternate --events 1000000 --reps "${PAIRS:-10}" 2>&1 \
    | tee $out/sustained-alternate.txt
  load "sustained --alternate end"
  # The same with the PostHog sink (what a PostHog user runs), at a burst of
  # 200,000 and of 1,000,000 captures (issue 25).
  for events in 200000 1000000; do
    load "sustained --alternate --ours ours-posthog --events $events start"
    "$target/release/sustained" --alternate --ours ours-posthog --events $events --reps "${PAIRS:-10}" 2>&1 \
      | tee $out/sustained-alternate-posthog-$events.txt
    load "sustained --alternate --ours ours-posthog --events $events end"
  done
}

# The gate rows and placement without the 64-byte function alignment of
# .cargo/config.toml, in a target directory of their own (a full build).
unaligned() {
  CARGO_TARGET_DIR="$target/unaligned" CARGO_ENCODED_RUSTFLAGS= cargo build --release --bin interleaved
  load "interleaved, functions not aligned, start"
  "$target/unaligned/release/interleaved" gate placement 2>&1 | tee $out/interleaved-unaligned.txt
  load "interleaved, functions not aligned, end"
}

compare() {
  load "compare start"
  cargo bench --bench compare 2>&1 | tee $out/compare.txt
  load "compare end"
}

off() {
  load "compare --features off start"
  cargo bench --bench compare --features off -- gate 2>&1 | tee $out/compare-off.txt
  load "compare --features off end"
}

sustained() {
  cargo build --release --bin sustained
  load "sustained start"
  "$target/release/sustained" --events 1000000 --reps "${REPS:-3}" 2>&1 | tee $out/sustained.txt
  load "sustained end"
}

memory() {
  cargo build --release --bin memory
  load "memory start"
  : > $out/memory.txt
  for which in baseline ours posthog; do
    /usr/bin/time -v "$target/release/memory" "$which" 1000000 2>&1 | tee -a $out/memory.txt
  done
  load "memory end"
}

deps() {
  : > $out/deps.txt
  for app in ours-minimal posthog-minimal posthog-blocking-minimal; do
    (
      cd apps/$app
      cargo generate-lockfile -q
      strip() { sed -e 's/ (\*)$//' -e 's/ (proc-macro)$//' | sort -u; }
      normal=$(cargo tree -e normal --prefix none | strip | wc -l)
      all=$(cargo tree -e normal,build --prefix none | strip | wc -l)
      asyncrt=$(cargo tree -e normal --prefix none | strip | grep -E '^(tokio|async-std|smol|futures-executor|hyper) ' | tr '\n' ' ' || true)
      cargo fetch -q
      cargo clean -q
      load "build $app start"
      /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB max RSS" -o $out/build-$app.time \
        CARGO_ENCODED_RUSTFLAGS= cargo build --release 2> $out/build-$app.log
      load "build $app end"
      compiled=$(grep -c '^ *Compiling ' $out/build-$app.log)
      echo "$app: cargo tree -e normal: $normal crates (app included); -e normal,build: $all; compiled by a clean build: $compiled; clean release build: $(cat $out/build-$app.time); async runtime crates: ${asyncrt:-none}"
    ) | tee -a $out/deps.txt
  done
}

profile() {
  cargo build --release --bin capture_loop
  (
    cd $out
    rm -f callgrind.out.*
    for v in typed dynamic typed-http typed-http-recent posthog; do
      n=100000; [ $v = posthog ] && n=20000
      valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=callgrind.out.$v \
        "$target/release/capture_loop" $v $n 2> callgrind-$v.log
      for f in callgrind.out.$v-*; do
        callgrind_annotate --inclusive=yes "$f" > "$f.txt" 2>/dev/null || true
      done
    done
  )
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(machine interleaved compare off sustained memory deps)
for step in "${steps[@]}"; do
  "$step"
done
