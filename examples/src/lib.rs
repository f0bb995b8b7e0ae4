//! The agent runner example: a small command-line program in the style of
//! an MCP or computer-use agent, instrumented with every feature of
//! `telemetry-runtime`. `src/agent.rs` is its `main`.

pub mod events;
pub mod runner;
