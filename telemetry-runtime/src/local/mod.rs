//! What the library keeps and decides on this machine: consent and its
//! sources, the anonymous identity, the version record, the first-run
//! notice, and the files and directories they live in (written privately,
//! never through a symbolic link). Depends on the event model only.

pub(crate) mod consent;
pub(crate) mod files;
pub(crate) mod identity;
pub(crate) mod notice;
pub(crate) mod platform;
pub(crate) mod version;
