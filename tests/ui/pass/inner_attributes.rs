// Inner attributes stay in the body of a rewritten
// function (STYLE.md, "Rewriting a function").
//
// Expected: compiles; `#![allow(unused_variables)]` applies to the body.
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
