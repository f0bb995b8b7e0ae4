//! Procedural macros for `telemetry-runtime`: `#[derive(TelemetryEvent)]`,
//! `#[derive(TelemetryProperty)]` and `#[requires_telemetry]`.
//!
//! Use them through `telemetry-runtime`, which re-exports them and documents
//! them with examples; generated code names the runtime by absolute paths.
//!
//! Each derive runs in three steps, one module each: parse (`ast`, `attr`),
//! audit (`audit`: the compile-time privacy rules), expand (`expand`).

mod ast;
mod attr;
mod audit;
mod ctxt;
mod declare;
mod expand;
mod function;
mod names;
mod property;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput, ItemFn};

/// Derives `TelemetryEvent` for a struct with named fields, auditing every
/// field at compile time. See the `telemetry-runtime` documentation.
#[proc_macro_derive(TelemetryEvent, attributes(telemetry))]
pub fn derive_telemetry_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive_event(&input).into()
}

/// Derives `PropertyValue` for a fieldless enum: each variant is sent as its
/// snake_case name (or `#[telemetry(rename = "...")]`), public by default.
#[proc_macro_derive(TelemetryProperty, attributes(telemetry))]
pub fn derive_telemetry_property(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    property::derive(&input).into()
}

/// Gates a function on telemetry consent, or instruments it. See the
/// `telemetry-runtime` documentation.
#[proc_macro_attribute]
pub fn requires_telemetry(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = parse_macro_input!(item as ItemFn);
    function::expand(args.into(), function).into()
}

/// Declares an event for the dynamic API, audited like a derived event.
/// See the `telemetry-runtime` documentation.
#[proc_macro]
pub fn event(input: TokenStream) -> TokenStream {
    declare::event(input.into()).into()
}

/// Declares a counter, its labels audited like property names. See the
/// `telemetry-runtime` documentation.
#[proc_macro]
pub fn counter(input: TokenStream) -> TokenStream {
    declare::counter(input.into()).into()
}
