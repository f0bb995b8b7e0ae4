//! The error a refused configuration gives, shared by every layer that
//! checks one (sinks, routes, the configuration itself). Depends on
//! nothing else in the crate; and how an error with a cause is made and
//! logged.

use std::fmt;

/// A configuration the library refuses: what was refused
/// ([`kind`](ConfigError::kind), to match on) and why (the message).
///
/// ```
/// use telemetry_runtime::{Config, ConfigErrorKind, Telemetry};
///
/// let err = Telemetry::new(Config::new("my tool", "1.0.0")).unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::AppName);
/// assert!(err.to_string().starts_with("invalid telemetry configuration: app name \"my tool\""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    kind: ConfigErrorKind,
    message: String,
}

/// What a [`ConfigError`] refused; more kinds may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The application's name ([`Config::new`](crate::Config::new)).
    AppName,
    /// The application's version ([`Config::new`](crate::Config::new)).
    AppVersion,
    /// An environment variable's name, or the documented one
    /// ([`EnvVars`](crate::EnvVars)).
    EnvVar,
    /// The id events carry ([`DistinctId`](crate::DistinctId)).
    DistinctId,
    /// The sample rate ([`Delivery::sample_rate`](crate::Delivery::sample_rate)).
    SampleRate,
    /// A size, count or interval of [`Delivery`](crate::Delivery), or a
    /// route's period.
    Limits,
    /// A sink's URL or endpoint.
    Url,
    /// A header name or value.
    Header,
    /// PostHog's API key.
    ApiKey,
    /// An OTLP protocol or setting the sink does not speak.
    Protocol,
    /// A consent level that is not one ([`Level`](crate::Level)'s `from_str`).
    Level,
    /// A second [`init`](crate::init) in the process: the global client is
    /// already installed.
    AlreadyInitialized,
}

impl ConfigError {
    pub(crate) fn new(kind: ConfigErrorKind, message: impl Into<String>) -> ConfigError {
        ConfigError { kind, message: message.into() }
    }

    /// What was refused.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The same refusal, saying where the value came from (a variable).
    pub(crate) fn within(self, place: &str) -> ConfigError {
        ConfigError { kind: self.kind, message: format!("{place}: {}", self.message) }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid telemetry configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What could not be done (the message), and why (the source): the error
/// inside an `io::Error` whose cause is another error, so that a chain of
/// errors shows each message once.
#[derive(Debug)]
pub(crate) struct Because {
    message: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl Because {
    pub(crate) fn new(
        message: String,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Because {
        Because { message, source: source.into() }
    }

    /// `message` could not be done because of `err`, as an I/O error of
    /// `err`'s kind.
    pub(crate) fn io(message: String, err: std::io::Error) -> std::io::Error {
        std::io::Error::new(err.kind(), Because::new(message, err))
    }
}

impl fmt::Display for Because {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Because {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

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
        assert_eq!(
            Chain(&ConfigError::new(ConfigErrorKind::Url, "x")).to_string(),
            "invalid telemetry configuration: x"
        );
    }
}
