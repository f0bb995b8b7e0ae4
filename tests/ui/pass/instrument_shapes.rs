// #[requires_telemetry(instrument)] on every shape of function: `Result`,
// plain values, `()`, `impl Trait`, references, methods, generics, `async
// fn`, with `args(...)` naming integer, bool and enum arguments. The
// function always runs and its results, `return` and `?` are unchanged.
use std::fmt::Display;
use std::future::Future;
use std::num::ParseIntError;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use telemetry_runtime::{requires_telemetry, TelemetryProperty};
use uuid::Uuid;

#[derive(TelemetryProperty, Clone, Copy, Debug, PartialEq)]
enum Mode {
    Fast,
    Careful,
}

#[derive(Debug, PartialEq)]
struct FetchError(String);

#[requires_telemetry(instrument, args(retries, dry_run, mode))]
fn fetch(url: &str, retries: u32, dry_run: bool, mode: Mode) -> Result<usize, FetchError> {
    if dry_run {
        return Ok(0);
    }
    if url.is_empty() {
        return Err(FetchError(format!("no url after {retries} retries in {mode:?}")));
    }
    Ok(url.len())
}

#[requires_telemetry(instrument)]
fn sum(text: &str) -> Result<u32, ParseIntError> {
    let mut total = 0;
    for part in text.split(',') {
        total += part.trim().parse::<u32>()?;
    }
    Ok(total)
}

#[requires_telemetry(instrument, name = "double_it")]
fn double(x: u32) -> u32 {
    x * 2
}

#[requires_telemetry(instrument, full)]
fn nothing() {}

#[requires_telemetry(instrument)]
fn first_word(text: &str) -> Option<&str> {
    text.split(' ').next()
}

#[requires_telemetry(instrument)]
fn evens(n: u8) -> impl Iterator<Item = u8> {
    (0..n).filter(|x| x % 2 == 0)
}

#[requires_telemetry(instrument, args(n))]
fn generic<T: Display>(value: T, n: usize) -> String {
    value.to_string().repeat(n)
}

#[requires_telemetry(instrument, args(n))]
async fn fetch_async(n: u32) -> Result<u32, Box<dyn std::error::Error>> {
    let parsed: u32 = "5".parse()?;
    if n == 0 {
        return Err("zero".into());
    }
    Ok(parsed + n)
}

#[requires_telemetry(instrument, args(timeout, limit, build, mode, attempt))]
fn public_kinds(
    timeout: Duration,
    limit: Option<u32>,
    build: Uuid,
    mode: Option<Mode>,
    attempt: u8,
) -> Result<u8, std::io::Error> {
    let _ = (timeout, limit, build, mode);
    Ok(attempt + 1)
}

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[requires_telemetry(instrument, args(index))]
    fn get(&self, index: usize) -> Option<&u32> {
        self.items.get(index)
    }

    // A `&mut self` receiver. (A body that mutates through it does not
    // compile yet: ui/pending/pass_instrument_mutating_body.rs.)
    #[requires_telemetry(instrument, args(item))]
    fn position(&mut self, item: u32) -> Option<usize> {
        self.items.iter().position(|x| *x == item)
    }

    #[requires_telemetry(instrument)]
    fn into_items(self) -> Vec<u32> {
        self.items
    }

    #[requires_telemetry(instrument)]
    async fn count(&self) -> usize {
        let n: usize = self.items.len();
        n
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// An instrumented future is `Send` when the body's is.
fn assert_send<T: Send>(_: &T) {}

fn main() {
    assert_send(&fetch_async(1));
    assert_eq!(fetch("abc", 1, false, Mode::Fast), Ok(3));
    assert_eq!(fetch("", 1, true, Mode::Careful), Ok(0));
    assert!(fetch("", 2, false, Mode::Careful).is_err());
    assert_eq!(sum("1, 2,3"), Ok(6));
    assert!(sum("1,x").is_err());
    assert_eq!(double(4), 8);
    nothing();
    assert_eq!(first_word("a b"), Some("a"));
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(generic('x', 3), "xxx");
    assert_eq!(block_on(fetch_async(1)).unwrap(), 6);
    assert!(block_on(fetch_async(0)).is_err());
    assert_eq!(public_kinds(Duration::ZERO, None, Uuid::nil(), Some(Mode::Fast), 1).unwrap(), 2);
    let mut store = Store { items: vec![1] };
    store.items.push(2);
    assert_eq!(store.position(2), Some(1));
    assert_eq!(store.get(1), Some(&2));
    assert_eq!(block_on(store.count()), 2);
    assert_eq!(store.into_items(), [1, 2]);
}
