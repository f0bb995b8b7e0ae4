// An instrumented `async fn` whose body's type is inferred from the
// declared return type (`sum`, `into`, `collect`, `Default::default`)
// compiles as it does without the attribute.
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument)]
async fn total(items: Vec<u32>) -> u32 {
    items.iter().sum()
}

#[requires_telemetry(instrument)]
async fn widen(n: u8) -> u32 {
    n.into()
}

#[requires_telemetry(instrument)]
async fn collect(items: Vec<u32>) -> Vec<u32> {
    items.into_iter().collect()
}

#[requires_telemetry(instrument)]
async fn zero() -> u32 {
    Default::default()
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

fn main() {
    assert_eq!(block_on(total(vec![1, 2])), 3);
    assert_eq!(block_on(widen(2)), 2);
    assert_eq!(block_on(collect(vec![1])), [1]);
    assert_eq!(block_on(zero()), 0);
}
