// PENDING (not run): inner attributes stay in the body of a rewritten
// function (STYLE.md, "Rewriting a function").
//
// Expected: compiles; `#![allow(unused_variables)]` applies to the body.
// Today: "an inner attribute is not permitted in this context", because
// `rebuild` emits every attribute of the `ItemFn` (syn puts the body's inner
// attributes in `ItemFn::attrs`) before the signature.
#![deny(unused_variables)]

use telemetry_runtime::requires_telemetry;

#[requires_telemetry]
fn gated() -> Option<u8> {
    #![allow(unused_variables)]
    let unused = 1;
    Some(2)
}

#[requires_telemetry(instrument)]
fn instrumented() -> u8 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

fn main() {
    assert_eq!(gated(), None);
    assert_eq!(instrumented(), 2);
}
