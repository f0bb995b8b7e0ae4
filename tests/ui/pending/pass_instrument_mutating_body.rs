// PENDING (not run): an instrumented function whose body mutates what it
// captured (a `mut` argument, `&mut self`) compiles.
//
// Expected: compiles and runs unchanged.
// Today (since a955ae7, "emit the body once"): "cannot borrow value as
// mutable, as it is not declared as mutable" at the attribute: the body is
// bound as `let __telemetry_body = move || ...;` and called as
// `__telemetry_body()`, which for an `FnMut` closure needs `let mut` (or a
// call through `FnOnce`).
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(attempt))]
fn next_attempt(mut attempt: u8) -> Result<u8, std::num::TryFromIntError> {
    attempt += 1;
    Ok(attempt)
}

struct Store {
    items: Vec<u32>,
}

impl Store {
    #[requires_telemetry(instrument, args(item))]
    fn push(&mut self, item: u32) -> usize {
        self.items.push(item);
        self.items.len()
    }
}

fn main() {
    assert_eq!(next_attempt(1), Ok(2));
    let mut store = Store { items: Vec::new() };
    assert_eq!(store.push(1), 1);
    assert_eq!(store.items, [1]);
}
