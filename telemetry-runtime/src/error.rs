//! The error a refused configuration gives, shared by every layer that
//! checks one (sinks, routes, the configuration itself). Depends on
//! nothing else in the crate.

use std::fmt;

/// A configuration the library refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError { message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid telemetry configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}
