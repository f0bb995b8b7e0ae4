//! The event model: what an event is and how it travels. Values and
//! properties (the builder, `properties`), the compile-time traits, the
//! packed form the caller writes (`packed`: its writer and its one reader)
//! and the typed view sinks read (`view`),
//! PostHog's JSON (`encode`), schemas and the catalog, a period's report
//! (`period`), the counts of what
//! happened to events (`stats`). Depends on nothing else in the crate.

pub(crate) mod catalog;
pub(crate) mod counter;
pub(crate) mod dynamic;
pub(crate) mod encode;
pub(crate) mod event;
pub(crate) mod json;
pub(crate) mod level;
pub(crate) mod packed;
pub(crate) mod period;
pub(crate) mod properties;
pub(crate) mod property;
pub(crate) mod random;
pub(crate) mod redact;
pub(crate) mod schema;
pub(crate) mod span;
pub(crate) mod stats;
pub(crate) mod text;
pub(crate) mod time;
pub(crate) mod value;
pub(crate) mod view;
