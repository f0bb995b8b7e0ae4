//! The examples of `telemetry-runtime`.
//!
//! - The agent runner: a small command-line program in the style of an MCP
//!   or computer-use agent, instrumented with every feature of the library
//!   ([`events`], [`runner`]; `src/agent.rs` is its `main`).
//! - Ports of other tools' telemetry, each reproducing one published
//!   design with this library, its differences listed in its module docs:
//!   [`mcp_use`] (`src/bin/mcp_use.rs`), [`toolhive`] (`src/bin/thv.rs`).
//!
//! All of them share this library, so each binary links every example's
//! events: each program keeps its own catalog with
//! [`Catalog::collect_under`].

use telemetry_runtime::Catalog;

pub mod events;
pub mod mcp_use;
pub mod runner;
pub mod toolhive;

/// What the agent sends: the events of [`events`] and [`runner`].
pub fn agent_catalog() -> Catalog {
    Catalog::collect_under([concat!(module_path!(), "::events"), concat!(module_path!(), "::runner")])
}
