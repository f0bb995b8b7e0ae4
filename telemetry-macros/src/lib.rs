//! Procedural macros for `telemetry-runtime`.
//!
//! Use them through `telemetry-runtime`, which re-exports them; this crate is
//! an implementation detail and its paths are not stable on their own.
