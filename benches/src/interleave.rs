//! Interleaved timing: the rows of a comparison measured round-robin in one
//! process, and the statistics reported for them.
//!
//! On a shared VM the machine's speed can step (by up to 2x) between two
//! back-to-back measurements, so a row measured after another may look
//! faster or slower for reasons that have nothing to do with its code. Here
//! every round takes one sample of each row, in a shuffled order, and a
//! comparison is reported two ways: the ratio of the rows' medians, and the
//! median (and spread) of the ratios within each round, whose two samples
//! were taken a few milliseconds apart under the same conditions.
//!
//! ```text
//! let mut group = Group::new("gate");
//! group.row("unannotated fn", move |iters| time(iters, || f(black_box(7))));
//! let results = group.run(&Options::default());
//! results.print();
//! ```

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What a sample's time is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Elapsed time (`Instant`).
    Wall,
    /// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`): time the
    /// thread spent descheduled, while another process ran, is not counted.
    /// For rows whose work is all on the calling thread, on a loaded machine.
    ThreadCpu,
}

impl Clock {
    /// Times `iters` calls of `one`. Generic and inlined, so the call sits in
    /// a plain loop in the caller's crate.
    #[inline(always)]
    pub fn time(self, iters: u64, mut one: impl FnMut()) -> Duration {
        match self {
            Clock::Wall => {
                let start = Instant::now();
                for _ in 0..iters {
                    one();
                }
                start.elapsed()
            }
            Clock::ThreadCpu => {
                let start = thread_cpu_now();
                for _ in 0..iters {
                    one();
                }
                thread_cpu_now().saturating_sub(start)
            }
        }
    }
}

/// [`Clock::Wall`]`.time(iters, one)`.
#[inline(always)]
pub fn time(iters: u64, one: impl FnMut()) -> Duration {
    Clock::Wall.time(iters, one)
}

/// The calling thread's CPU time so far.
pub fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the struct it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How a group is run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Rounds measured (after one warm-up round that is thrown away).
    pub rounds: usize,
    /// The duration a sample of a calibrated row aims for.
    pub sample: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options { rounds: 60, sample: Duration::from_millis(2) }
    }
}

/// A row: a name, and a function that runs `iters` iterations and returns
/// the time they took (it may do untimed work too, such as a flush).
struct Row<'a> {
    name: String,
    /// Iterations per sample; `None` until calibrated.
    iters: Option<u64>,
    sample: Box<dyn FnMut(u64) -> Duration + 'a>,
}

/// Rows measured together, round-robin.
pub struct Group<'a> {
    title: String,
    rows: Vec<Row<'a>>,
}

impl<'a> Group<'a> {
    pub fn new(title: impl Into<String>) -> Group<'a> {
        Group { title: title.into(), rows: Vec::new() }
    }

    /// A row whose iterations per sample are calibrated to
    /// [`Options::sample`].
    pub fn row(&mut self, name: impl Into<String>, sample: impl FnMut(u64) -> Duration + 'a) {
        self.rows.push(Row { name: name.into(), iters: None, sample: Box::new(sample) });
    }

    /// A row with a fixed number of iterations per sample.
    pub fn row_fixed(
        &mut self,
        name: impl Into<String>,
        iters: u64,
        sample: impl FnMut(u64) -> Duration + 'a,
    ) {
        self.rows.push(Row { name: name.into(), iters: Some(iters), sample: Box::new(sample) });
    }

    /// Calibrates, runs one warm-up round, then `options.rounds` rounds,
    /// each row once per round in a shuffled order.
    pub fn run(mut self, options: &Options) -> Results {
        let load_before = load_average();
        let started = Instant::now();
        for row in &mut self.rows {
            if row.iters.is_none() {
                row.iters = Some(calibrate(&mut row.sample, options.sample));
            }
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        let mut samples = vec![Vec::with_capacity(options.rounds); self.rows.len()];
        let mut switches = vec![Switches::default(); self.rows.len()];
        for round in 0..=options.rounds {
            rng.shuffle(&mut order);
            for &r in &order {
                let row = &mut self.rows[r];
                let iters = row.iters.unwrap_or(1);
                let before = Switches::now();
                let elapsed = (row.sample)(iters);
                let after = Switches::now();
                if round > 0 {
                    samples[r].push(elapsed.as_nanos() as f64 / iters as f64);
                    switches[r].voluntary += after.voluntary - before.voluntary;
                    switches[r].involuntary += after.involuntary - before.involuntary;
                }
            }
        }
        Results {
            title: self.title,
            rows: self.rows.iter().map(|r| (r.name.clone(), r.iters.unwrap_or(1))).collect(),
            samples,
            switches,
            load_before,
            load_after: load_average(),
            wall: started.elapsed(),
        }
    }
}

/// Doubles the iterations until a sample takes at least a quarter of
/// `target`, then scales to `target` from the fastest of five samples of
/// that size (a slow one is the machine, not the row).
fn calibrate(sample: &mut dyn FnMut(u64) -> Duration, target: Duration) -> u64 {
    let mut iters = 1u64;
    while sample(iters) < target / 4 && iters < 1 << 40 {
        iters *= 2;
    }
    let fastest = (0..5).map(|_| sample(iters)).min().unwrap_or(target);
    let per = fastest.as_secs_f64() / iters as f64;
    ((target.as_secs_f64() / per.max(1e-12)) as u64).max(1)
}

/// The samples of a group: per row, nanoseconds per iteration, one value
/// per round (index = round).
#[derive(Clone, Debug)]
pub struct Results {
    pub title: String,
    /// (name, iterations per sample)
    pub rows: Vec<(String, u64)>,
    pub samples: Vec<Vec<f64>>,
    /// Per row, the calling thread's context switches during its samples.
    pub switches: Vec<Switches>,
    pub load_before: String,
    pub load_after: String,
    pub wall: Duration,
}

/// Context switches of the calling thread (`getrusage(RUSAGE_THREAD)`):
/// voluntary ones (it blocked, on a lock say) and involuntary ones (it was
/// preempted). Under a row's samples, they tell a wait from a preemption.
#[derive(Clone, Copy, Debug, Default)]
pub struct Switches {
    pub voluntary: u64,
    pub involuntary: u64,
}

impl Switches {
    fn now() -> Switches {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        if rc != 0 {
            return Switches::default();
        }
        Switches { voluntary: usage.ru_nvcsw as u64, involuntary: usage.ru_nivcsw as u64 }
    }
}

/// Median and spread of a set of values.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        Spread {
            median: quantile(&v, 0.5),
            p10: quantile(&v, 0.1),
            p90: quantile(&v, 0.9),
            min: v.first().copied().unwrap_or(f64::NAN),
            max: v.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// The `q` quantile of sorted values, interpolating between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A budget on the ratio `a / b` of two rows.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// `a / b` at most this.
    AtMost(f64),
    /// `a / b` at least this.
    AtLeast(f64),
    /// Reported, no budget.
    None,
    /// `a` adds nothing to `b` by construction (the same function after
    /// linking, or a bare `ret`), for the reason given: the spread of the
    /// samples around 1 is only the measurement's noise.
    ByConstruction(&'static str),
}

impl Budget {
    fn met(self, ratio: f64) -> Option<bool> {
        match self {
            Budget::AtMost(x) => Some(ratio <= x),
            Budget::AtLeast(x) => Some(ratio >= x),
            Budget::None => None,
            Budget::ByConstruction(_) => Some(true),
        }
    }

    fn describe(self) -> String {
        match self {
            Budget::AtMost(x) => format!("<= {x:.2}x"),
            Budget::AtLeast(x) => format!(">= {x:.2}x"),
            Budget::None => "-".into(),
            Budget::ByConstruction(why) => why.into(),
        }
    }
}

/// A comparison of two rows of the same group.
#[derive(Clone, Debug)]
pub struct Ratio {
    pub a: String,
    pub b: String,
    /// median(a) / median(b)
    pub of_medians: f64,
    /// a / b within each round
    pub per_round: Spread,
    pub budget: Budget,
}

impl Ratio {
    /// Whether the median of the per-round ratios is within the budget, as
    /// both are printed (two decimals); `None` without a budget. The
    /// per-round ratio is the paired statistic: its two samples ran a few
    /// milliseconds apart, so a change of the machine's speed between
    /// rounds cancels out of it, where it does not out of the ratio of the
    /// medians (printed next to it).
    pub fn met(&self) -> Option<bool> {
        self.budget.met((self.per_round.median * 100.0).round() / 100.0)
    }
}

impl Results {
    fn index(&self, name: &str) -> usize {
        self.rows.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("no row named {name:?}"))
    }

    /// The spread of a row's samples (ns per iteration).
    pub fn spread(&self, name: &str) -> Spread {
        Spread::of(&self.samples[self.index(name)])
    }

    /// Row `a` against row `b`: `a / b`.
    pub fn ratio(&self, a: &str, b: &str, budget: Budget) -> Ratio {
        let (sa, sb) = (&self.samples[self.index(a)], &self.samples[self.index(b)]);
        let per_round: Vec<f64> = sa.iter().zip(sb).map(|(x, y)| x / y).collect();
        Ratio {
            a: a.into(),
            b: b.into(),
            of_medians: Spread::of(sa).median / Spread::of(sb).median,
            per_round: Spread::of(&per_round),
            budget,
        }
    }

    /// The rows as a text table: ns per iteration.
    pub fn table(&self) -> String {
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "## {} ({} rounds, {:.1} s; load average {} -> {})",
            self.title,
            self.samples.first().map_or(0, Vec::len),
            self.wall.as_secs_f64(),
            self.load_before,
            self.load_after
        );
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>25}  {:>25}  {:>10}  {:>17}",
            "row (ns per iteration)", "median", "p10 - p90", "min - max", "iters", "switches vol/inv"
        );
        for (i, (name, iters)) in self.rows.iter().enumerate() {
            let s = Spread::of(&self.samples[i]);
            let sw = self.switches[i];
            let _ = writeln!(
                out,
                "{name:<width$}  {:>12}  {:>25}  {:>25}  {iters:>10}  {:>17}",
                ns(s.median),
                format!("{} - {}", ns(s.p10), ns(s.p90)),
                format!("{} - {}", ns(s.min), ns(s.max)),
                format!("{}/{}", sw.voluntary, sw.involuntary),
            );
        }
        out
    }

    /// The samples as CSV lines: `group,round,row,ns_per_iter`.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        for (i, (name, _)) in self.rows.iter().enumerate() {
            for (round, value) in self.samples[i].iter().enumerate() {
                let _ = writeln!(out, "\"{}\",{round},\"{name}\",{value:.4}", self.title);
            }
        }
        out
    }
}

/// Comparisons as a text table.
pub fn ratio_table(ratios: &[Ratio]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<72}  {:>9}  {:>9}  {:>17}  {:>17}  {:>9}  verdict (per-round median)",
        "ratio a / b", "medians", "per-round", "p10 - p90", "min - max", "budget"
    );
    for r in ratios {
        let verdict = match r.met() {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "",
        };
        let _ = writeln!(
            out,
            "{:<72}  {:>9.3}  {:>9.3}  {:>17}  {:>17}  {:>9}  {verdict}",
            format!("{} / {}", r.a, r.b),
            r.of_medians,
            r.per_round.median,
            format!("{:.3} - {:.3}", r.per_round.p10, r.per_round.p90),
            format!("{:.3} - {:.3}", r.per_round.min, r.per_round.max),
            r.budget.describe(),
        );
    }
    out
}

/// Nanoseconds, with precision that suits the magnitude.
pub fn ns(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.3} ns")
    } else if x < 1_000.0 {
        format!("{x:.1} ns")
    } else {
        format!("{:.3} us", x / 1_000.0)
    }
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A small deterministic generator for the shuffles (no need for a crate).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert!((quantile(&v, 0.1) - 1.4).abs() < 1e-12);
    }

    #[test]
    fn per_round_ratios() {
        let results = Results {
            title: "t".into(),
            rows: vec![("a".into(), 1), ("b".into(), 1)],
            samples: vec![vec![2.0, 4.0, 6.0], vec![1.0, 4.0, 2.0]],
            switches: vec![Switches::default(); 2],
            load_before: String::new(),
            load_after: String::new(),
            wall: Duration::ZERO,
        };
        let r = results.ratio("a", "b", Budget::AtMost(2.0));
        assert_eq!(r.of_medians, 2.0);
        assert_eq!(r.per_round.median, 2.0);
        assert_eq!((r.per_round.min, r.per_round.max), (1.0, 3.0));
        assert_eq!(r.met(), Some(true));
        // Compared as printed: 1.004 is 1.00.
        let r =
            Ratio { per_round: Spread { median: 1.004, ..r.per_round }, budget: Budget::AtMost(1.0), ..r };
        assert_eq!(r.met(), Some(true));
    }

    #[test]
    fn shuffles_keep_every_row() {
        let mut rng = XorShift(1);
        let mut v: Vec<usize> = (0..9).collect();
        rng.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..9).collect::<Vec<_>>());
    }
}
