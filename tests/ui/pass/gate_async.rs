// #[requires_telemetry] on `async fn`s: free, methods, generic, with
// `return`, `?` and awaits inside. Polled with a minimal executor.
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

use telemetry_runtime::{requires_telemetry, Config, Level};

static RUNS: AtomicUsize = AtomicUsize::new(0);

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// Pending once, then ready: makes the gated future really suspend.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

#[requires_telemetry]
async fn notify() {
    YieldOnce(false).await;
    RUNS.fetch_add(1, SeqCst);
}

#[requires_telemetry]
async fn parse(text: &str) -> Option<u8> {
    YieldOnce(false).await;
    RUNS.fetch_add(1, SeqCst);
    if text.is_empty() {
        return None;
    }
    let n: u8 = text.parse().ok()?;
    Some(n)
}

#[requires_telemetry(full)]
async fn generic<T: Send + Clone>(value: T) -> Option<T> {
    RUNS.fetch_add(1, SeqCst);
    Some(value.clone())
}

/// The body's type comes from the declared return type.
#[requires_telemetry]
async fn total(items: Vec<u32>) -> Option<u32> {
    RUNS.fetch_add(1, SeqCst);
    Some(items.iter().sum())
}

struct Service(u8);

impl Service {
    #[requires_telemetry]
    async fn get(&self) -> Option<u8> {
        YieldOnce(false).await;
        RUNS.fetch_add(1, SeqCst);
        Some(self.0)
    }

    #[requires_telemetry]
    async fn bump(&mut self) {
        RUNS.fetch_add(1, SeqCst);
        self.0 += 1;
    }
}

/// A gated future is `Send` when the body's is, so it can be spawned on a
/// multi-threaded executor.
fn assert_send<T: Send>(_: &T) {}

fn main() {
    assert_send(&notify());
    assert_send(&parse("1"));
    assert_send(&generic(1u8));
    assert_send(&Service(1).get());
    block_on(notify());
    assert_eq!(block_on(parse("1")), None);
    assert_eq!(block_on(Service(1).get()), None);
    assert_eq!(RUNS.load(SeqCst), 0);

    let dir = tempfile::tempdir().unwrap();
    let _guard = telemetry_runtime::init(
        Config::new("ui_pass", "1")
            .consent(Level::Usage)
            .environment(|_| None)
            .dirs(|d| telemetry_runtime::Dirs { cache: Some(dir.path().into()), config: Some(dir.path().into()), ..d }),
    )
    .unwrap();

    block_on(notify());
    assert_eq!(block_on(parse("7")), Some(7));
    assert_eq!(block_on(parse("")), None);
    assert_eq!(block_on(parse("x")), None);
    assert_eq!(block_on(generic(1u8)), None, "`full` is not granted");
    let mut service = Service(1);
    block_on(service.bump());
    assert_eq!(block_on(service.get()), Some(2));
    assert_eq!(block_on(total(vec![1, 2])), Some(3));
    assert_eq!(RUNS.load(SeqCst), 7);
}
