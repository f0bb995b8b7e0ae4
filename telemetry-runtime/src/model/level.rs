//! Consent levels and how they are read from text.

use std::fmt;

/// How much telemetry the user has agreed to.
///
/// Levels are ordered: `Off < Usage < Full`. An event or field marked
/// `opt_in` is sent only at [`Level::Full`]. More levels may come (an
/// `Errors` level between `Off` and `Usage`, say): compare levels with `<`
/// and `>=` rather than listing them, and give a `match` a wildcard arm.
///
/// ```
/// use telemetry_runtime::Level;
/// assert!(Level::Off < Level::Usage && Level::Usage < Level::Full);
/// assert_eq!(" FULL ".parse(), Ok(Level::Full));
/// assert!("maybe".parse::<Level>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
#[non_exhaustive]
pub enum Level {
    /// Nothing is collected, queued, written or sent.
    Off = 0,
    /// Anonymous usage: events and their `public` fields.
    Usage = 1,
    /// Usage plus everything marked `opt_in`.
    Full = 2,
}

impl Level {
    /// Reads a consent value the way an environment variable or a persisted
    /// choice is written: `0|false|no|off|disabled` -> Off,
    /// `1|true|yes|on|enabled|usage` -> Usage, `full|all` -> Full; trimmed,
    /// case-insensitive. Anything else, including the empty string, is `None`.
    pub(crate) fn parse(value: &str) -> Option<Level> {
        let value = value.trim();
        const OFF: [&str; 5] = ["0", "false", "no", "off", "disabled"];
        const USAGE: [&str; 6] = ["1", "true", "yes", "on", "enabled", "usage"];
        const FULL: [&str; 2] = ["full", "all"];
        let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(value));
        if is(&OFF) {
            Some(Level::Off)
        } else if is(&USAGE) {
            Some(Level::Usage)
        } else if is(&FULL) {
            Some(Level::Full)
        } else {
            None
        }
    }

    /// The canonical lowercase name: `off`, `usage` or `full`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Usage => "usage",
            Level::Full => "full",
        }
    }

    pub(crate) fn from_u8(raw: u8) -> Level {
        match raw {
            1 => Level::Usage,
            2 => Level::Full,
            _ => Level::Off,
        }
    }
}

impl fmt::Display for Level {
    /// The canonical lowercase name: `off`, `usage` or `full`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Level {
    /// Of kind [`ConfigErrorKind::Level`](crate::ConfigErrorKind::Level);
    /// its message does not repeat the value.
    type Err = crate::ConfigError;

    /// Reads a consent value the way an environment variable or a saved
    /// choice is written: `0|false|no|off|disabled` is `Off`,
    /// `1|true|yes|on|enabled|usage` is `Usage`, `full|all` is `Full`;
    /// trimmed, case-insensitive.
    ///
    /// ```
    /// use telemetry_runtime::Level;
    /// assert_eq!("Full".parse(), Ok(Level::Full));
    /// assert_eq!(Level::Usage.to_string(), "usage");
    /// let err = "maybe".parse::<Level>().unwrap_err();
    /// assert_eq!(err.kind(), telemetry_runtime::ConfigErrorKind::Level);
    /// ```
    fn from_str(value: &str) -> Result<Level, crate::ConfigError> {
        Level::parse(value).ok_or_else(|| {
            crate::ConfigError::new(
                crate::ConfigErrorKind::Level,
                "not a telemetry level (off, usage or full, or a yes/no word)",
            )
        })
    }
}

/// False when the crate is built with the `off` feature: every gate then
/// folds to a constant and the code behind it is removed.
pub(crate) const COMPILED_IN: bool = !cfg!(feature = "off");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_spelling_parses() {
        for off in ["0", "false", "No", " OFF ", "disabled"] {
            assert_eq!(Level::parse(off), Some(Level::Off), "{off:?}");
        }
        for on in ["1", "TRUE", "yes", "On", "enabled", "usage"] {
            assert_eq!(Level::parse(on), Some(Level::Usage), "{on:?}");
        }
        for full in ["full", "ALL", " Full\n"] {
            assert_eq!(Level::parse(full), Some(Level::Full), "{full:?}");
        }
        for unknown in ["", "  ", "2", "nope", "offf", "tru"] {
            assert_eq!(Level::parse(unknown), None, "{unknown:?}");
        }
    }

    #[test]
    fn u8_round_trip_fails_closed() {
        for level in [Level::Off, Level::Usage, Level::Full] {
            assert_eq!(Level::from_u8(level as u8), level);
        }
        assert_eq!(Level::from_u8(200), Level::Off);
    }
}
