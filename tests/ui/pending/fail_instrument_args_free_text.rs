// PENDING (not run): only arguments whose type is public by default may be
// recorded; free text must be reported at its type.
//
// Expected: one error at `&str` in the signature (line 6), saying the
// argument `q` is free text and cannot be recorded by `args(...)`.
// Today: the error points at `q` inside `args(q)`, the call label covers the
// whole attribute, and the note says "classify the field:
// #[telemetry(public)] ..." which cannot be done to a function argument.
use telemetry_runtime::requires_telemetry;

#[requires_telemetry(instrument, args(q))]
fn search(q: &str, limit: u32) -> usize {
    q.len().min(limit as usize)
}

fn main() {
    search("x", 1);
}
