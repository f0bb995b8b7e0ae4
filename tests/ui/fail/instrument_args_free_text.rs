// Only arguments whose type is public by default may be
// recorded; free text must be reported at its type.
//
// Expected: one error at `&str` in the signature (line 6), saying the
// argument `q` is free text and cannot be recorded by `args(...)`.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(q))]
fn search(q: &str, limit: u32) -> usize {
    q.len().min(limit as usize)
}

fn main() {
    search("x", 1);
}
