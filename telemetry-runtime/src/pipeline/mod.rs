//! The path after capture: the state a client shares with its worker
//! (`shared`), the bounded queue, the worker thread that prepares events
//! and hands each sink its batch, routes, counters, the spool, the record
//! of recent deliveries and reports by period. Depends on the model, the
//! local state and the sinks; nothing below it names it.

pub(crate) mod aggregate;
pub(crate) mod queue;
pub(crate) mod recent;
pub(crate) mod report;
pub(crate) mod route;
pub(crate) mod shared;
pub(crate) mod spool;
pub(crate) mod worker;
