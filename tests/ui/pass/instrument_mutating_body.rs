// An instrumented function whose body mutates what it
// captured (a `mut` argument, `&mut self`) compiles.
//
// Expected: compiles and runs unchanged.
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
