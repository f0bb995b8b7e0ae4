// #[requires_telemetry] on every shape of function: free functions, methods
// with each kind of `self`, trait methods, generics, lifetimes, `impl
// Trait`, `return` and `?`. Before `init` no body runs; after, each runs
// unchanged.
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use telemetry_runtime::{requires_telemetry, Config, Level};

static RUNS: AtomicUsize = AtomicUsize::new(0);

fn ran() {
    RUNS.fetch_add(1, SeqCst);
}

#[requires_telemetry]
fn unit() {
    ran();
}

#[requires_telemetry]
pub fn explicit_unit(stop_early: bool) -> () {
    ran();
    if stop_early {
        return;
    }
    ran();
}

#[requires_telemetry]
pub(crate) fn option(x: u8) -> Option<u8> {
    ran();
    if x == 0 {
        return None;
    }
    Some(x * 2)
}

#[requires_telemetry]
fn question_mark(text: &str) -> Option<u8> {
    ran();
    let n: u8 = text.parse().ok()?;
    Some(n + 1)
}

#[requires_telemetry]
fn generic<T: Clone + Debug>(value: &T) -> Option<T>
where
    T: PartialEq,
{
    ran();
    Some(value.clone())
}

#[requires_telemetry]
fn impl_iter(n: u8) -> Option<impl Iterator<Item = u8>> {
    ran();
    if n == 0 {
        return None;
    }
    Some(0..n)
}

#[requires_telemetry]
fn impl_arg(items: impl IntoIterator<Item = u8>) -> Option<u32> {
    ran();
    Some(items.into_iter().map(u32::from).sum())
}

#[requires_telemetry]
fn lifetimes<'a>(a: &'a str, _b: &str) -> Option<&'a str> {
    ran();
    a.split(',').next()
}

#[requires_telemetry]
fn patterns((a, b): (u8, u8), mut c: u8) -> Option<u8> {
    ran();
    c += a + b;
    Some(c)
}

/// Outer attributes stay on the function.
#[requires_telemetry]
#[inline]
#[must_use]
fn with_attributes() -> Option<u8> {
    ran();
    Some(1)
}

struct Counter {
    n: u32,
    label: String,
}

impl Counter {
    #[requires_telemetry]
    fn by_ref(&self) -> Option<u32> {
        ran();
        Some(self.n)
    }

    #[requires_telemetry]
    fn label(&self) -> Option<&str> {
        ran();
        Some(&self.label)
    }

    #[requires_telemetry]
    fn by_mut(&mut self) {
        ran();
        self.n += 1;
    }

    #[requires_telemetry]
    fn by_value(self) -> Option<u32> {
        ran();
        Some(self.n)
    }

    #[requires_telemetry]
    fn by_mut_value(mut self) -> Option<u32> {
        ran();
        self.n += 1;
        Some(self.n)
    }

    #[requires_telemetry]
    fn boxed(self: Box<Self>) -> Option<u32> {
        ran();
        Some(self.n)
    }

    #[requires_telemetry]
    fn make(n: u32) -> Option<Self> {
        ran();
        Some(Counter { n, label: String::new() })
    }

    #[requires_telemetry]
    fn add<T: Into<u32>>(&mut self, by: T) {
        ran();
        self.n += by.into();
    }
}

trait Report {
    fn report(&self) -> Option<String>;
}

impl Report for Counter {
    #[requires_telemetry]
    fn report(&self) -> Option<String> {
        ran();
        Some(format!("n={}", self.n))
    }
}

fn counter(n: u32) -> Counter {
    Counter { n, label: format!("c{n}") }
}

fn main() {
    // Before init: no body runs; `()` functions return, the others `None`.
    unit();
    explicit_unit(false);
    assert_eq!(option(1), None);
    assert_eq!(question_mark("1"), None);
    assert_eq!(generic(&5), None);
    assert!(impl_iter(3).is_none());
    assert_eq!(impl_arg([1, 2]), None);
    assert_eq!(lifetimes("a,b", "c"), None);
    assert_eq!(patterns((1, 2), 3), None);
    assert_eq!(with_attributes(), None);
    let mut c = counter(1);
    assert_eq!(c.by_ref(), None);
    assert_eq!(c.label(), None);
    c.by_mut();
    c.add(2u8);
    assert_eq!(c.n, 1);
    assert_eq!(c.report(), None);
    assert_eq!(counter(1).by_value(), None);
    assert_eq!(counter(1).by_mut_value(), None);
    assert_eq!(Box::new(counter(1)).boxed(), None);
    assert!(Counter::make(1).is_none());
    assert_eq!(RUNS.load(SeqCst), 0);

    let dir = tempfile::tempdir().unwrap();
    let _guard = telemetry_runtime::init(
        Config::new("ui_pass", "1")
            .consent(Level::Usage)
            .environment(|_| None)
            .dirs(|d| telemetry_runtime::Dirs { cache: Some(dir.path().into()), config: Some(dir.path().into()), ..d }),
    )
    .unwrap();

    // After init: every body runs, and `return` and `?` mean what they say.
    unit();
    explicit_unit(true);
    explicit_unit(false);
    assert_eq!(RUNS.load(SeqCst), 4);
    assert_eq!(option(0), None);
    assert_eq!(option(2), Some(4));
    assert_eq!(question_mark("x"), None);
    assert_eq!(question_mark("1"), Some(2));
    assert_eq!(generic(&5), Some(5));
    assert_eq!(impl_iter(3).unwrap().collect::<Vec<_>>(), [0, 1, 2]);
    assert!(impl_iter(0).is_none());
    assert_eq!(impl_arg([1, 2]), Some(3));
    assert_eq!(lifetimes("a,b", "c"), Some("a"));
    assert_eq!(patterns((1, 2), 3), Some(6));
    assert_eq!(with_attributes(), Some(1));
    let mut c = counter(1);
    assert_eq!(c.by_ref(), Some(1));
    assert_eq!(c.label(), Some("c1"));
    c.by_mut();
    c.add(2u8);
    assert_eq!(c.n, 4);
    assert_eq!(c.report().as_deref(), Some("n=4"));
    assert_eq!(counter(1).by_value(), Some(1));
    assert_eq!(counter(1).by_mut_value(), Some(2));
    assert_eq!(Box::new(counter(7)).boxed(), Some(7));
    assert_eq!(Counter::make(9).map(|c| c.n), Some(9));
    assert_eq!(RUNS.load(SeqCst), 4 + 20);
}
