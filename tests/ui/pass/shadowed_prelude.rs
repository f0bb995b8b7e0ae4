// A hostile caller: its own items named like the prelude's (after
// proc-macro-workshop's builder/tests/09-redefined-prelude-types.rs), and
// its own `core` and `std` modules. Generated code must name everything by
// absolute paths.
#![allow(dead_code, non_camel_case_types)]

use telemetry_runtime::{requires_telemetry, TelemetryEvent, TelemetryProperty};

pub struct Option;
pub struct Result;
pub struct Some;
pub struct None;
pub struct Ok;
pub struct Err;
pub struct Box;
pub struct Vec;
pub struct String;
pub trait Default {}
pub trait Clone {}
pub trait Copy {}
pub trait Into {}
pub trait From {}
pub trait Iterator {}
pub trait IntoIterator {}
pub trait FnOnce {}
pub trait Fn {}
pub trait Drop {}
pub trait PartialEq {}
pub trait AsRef {}
pub mod core {}
pub mod std {}

#[derive(TelemetryProperty)]
enum Mode {
    Fast,
    Careful,
}

#[derive(TelemetryProperty)]
struct HostileObject<'a> {
    count: u32,
    mode: Mode,
    per_mode: ::std::collections::BTreeMap<Mode, u32>,
    #[telemetry(public, reason = "a name from the program's own list")]
    name: &'a str,
    #[telemetry(opt_in)]
    detail: ::std::string::String,
    #[telemetry(redact = "hash")]
    secret: ::std::string::String,
    #[telemetry(redact = "marker")]
    marker: ::core::option::Option<::std::string::String>,
    #[telemetry(redact = "length")]
    length: &'a str,
    #[telemetry(redact)]
    dropped: &'a str,
}

/// Objects in hostile territory.
#[derive(TelemetryEvent)]
struct HostileObjects<'a> {
    #[telemetry(public)]
    objects: ::std::vec::Vec<HostileObject<'a>>,
}

/// An event in hostile territory.
#[derive(TelemetryEvent)]
#[telemetry(sample = 0.5)]
struct Hostile<'a, T> {
    count: T,
    maybe: ::core::option::Option<u32>,
    list: ::std::vec::Vec<u32>,
    mode: Mode,
    #[telemetry(public, reason = "a name from the program's own list")]
    name: &'a str,
    #[telemetry(opt_in)]
    detail: ::std::string::String,
    #[telemetry(redact = "hash")]
    secret: ::std::string::String,
    #[telemetry(redact = "marker")]
    marker: ::core::option::Option<::std::string::String>,
    #[telemetry(redact = "length")]
    length: &'a str,
    #[telemetry(redact)]
    dropped: &'a str,
}

#[requires_telemetry]
fn gated_unit() {}

#[requires_telemetry(full)]
fn gated_option(n: u8) -> ::core::option::Option<u8> {
    if n == 0 {
        return ::core::option::Option::None;
    }
    ::core::option::Option::Some(n)
}

#[requires_telemetry]
async fn gated_async() -> ::core::option::Option<u8> {
    ::core::option::Option::Some(1)
}

#[derive(Debug)]
struct Failure;

#[requires_telemetry(instrument, args(n, mode))]
fn instrumented(n: u32, mode: Mode) -> ::core::result::Result<u32, Failure> {
    let _ = mode;
    if n == 0 {
        return ::core::result::Result::Err(Failure);
    }
    ::core::result::Result::Ok(n)
}

#[requires_telemetry(instrument)]
fn instrumented_plain() -> ::core::option::Option<u8> {
    ::core::option::Option::None
}

#[requires_telemetry(instrument)]
async fn instrumented_async(n: u32) -> u32 {
    n
}

fn main() {
    let event = Hostile {
        count: 1u8,
        maybe: ::core::option::Option::None,
        list: ::std::vec::Vec::new(),
        mode: Mode::Careful,
        name: "n",
        detail: ::std::string::String::new(),
        secret: ::std::string::String::new(),
        marker: ::core::option::Option::None,
        length: "",
        dropped: "",
    };
    let mut out = telemetry_runtime::Properties::new();
    event.write_properties(telemetry_runtime::Level::Full, &mut out);
    ::std::assert_eq!(out.iter().count(), 9);
    gated_unit();
    ::std::assert!(gated_option(1).is_none());
    ::std::assert!(instrumented(0, Mode::Fast).is_err());
    ::std::assert!(instrumented_plain().is_none());
    let _ = (gated_async(), instrumented_async(1), Mode::Fast);
}
