//! The tests of the global client (`telemetry_runtime::init` and the free
//! functions, and the macros' gates that read it), which can be set once
//! per process: each test runs in a process of its own
//! (`telemetry_tests::child::isolated`), started from this binary, which
//! no other test shares.

mod facade;
mod faults;
mod guard;
mod init_race;
mod macros_gate;
mod macros_instrument;
mod privacy_instrument;
mod spans;
