//! The example programs end to end, run as their users run them, and their
//! telemetry catalog: one test binary, a module per program.

mod agent_cli;
mod browser_use_wire;
mod cua_sdk_wire;
mod cua_wire;
mod port_mcp_use;
mod port_toolhive;
mod telemetry_catalog;
