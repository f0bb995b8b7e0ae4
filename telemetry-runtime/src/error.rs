//! The error a refused configuration gives, shared by every layer that
//! checks one (sinks, routes, the configuration itself). Depends on
//! nothing else in the crate; and how an error with sources is logged.

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

    /// The same refusal, saying where the value came from (a variable).
    pub(crate) fn within(self, place: &str) -> ConfigError {
        ConfigError { message: format!("{place}: {}", self.message) }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid telemetry configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// An error and its sources as one line, `message: source: source…`: how
/// the library logs an error whose cause is its source (each error's own
/// message names only what it adds, so no message shows twice).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_shows_each_message_once_in_order() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot save")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let err = Outer(std::io::Error::other("disk full"));
        assert_eq!(Chain(&err).to_string(), "cannot save: disk full");
        assert_eq!(Chain(&ConfigError::new("x")).to_string(), "invalid telemetry configuration: x");
    }
}
