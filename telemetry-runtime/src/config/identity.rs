//! What identifies the program and its users on the wire: the id events
//! carry, and the checks of the application's name and version.

use crate::error::{ConfigError, ConfigErrorKind};
use crate::local::identity::IdSource;
use crate::model::redact::Digest;

/// The id events carry as `distinct_id` (see [`Config::distinct_id`](crate::Config::distinct_id)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DistinctId {
    /// A random id generated on first use and kept in the cache directory
    /// (the default): it says nothing about the user, and a reset replaces it.
    Install,
    /// An opaque id the application already has: a UUID (for example the
    /// id an earlier version stored). Anything else is refused when the
    /// client is made; a value that is not opaque (an account name, an
    /// e-mail address) goes as [`Hashed`](DistinctId::Hashed).
    Uuid(String),
    /// A hash of this value keyed with this installation's secret key (the
    /// one of `redact = "hash"` fields): the same on this machine for the
    /// same value, never the value, unlinkable to it without the key file,
    /// and new after a reset. For a program with accounts of its own that
    /// wants one id per account and machine.
    Hashed(String),
    /// `id` sent as it is with every event: a written decision, like a
    /// public field's. `reason` (words, shown in the catalog beside
    /// `distinct_id`) says why the receiver needs this id rather than an
    /// opaque one.
    Raw {
        /// The id.
        id: String,
        /// Why it is sent as it is.
        reason: &'static str,
    },
}

impl DistinctId {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self {
            DistinctId::Install => Ok(()),
            DistinctId::Uuid(text) => match uuid::Uuid::parse_str(text.trim()) {
                Ok(id) if !id.is_nil() && !id.is_max() => Ok(()),
                // The value itself is not repeated: it may be what must not leak.
                _ => Err(ConfigError::new(
                    ConfigErrorKind::DistinctId,
                    "the distinct id must be a UUID (an opaque id); send another value as its keyed hash \
                     with DistinctId::Hashed",
                )),
            },
            DistinctId::Hashed(value) if value.is_empty() => Err(ConfigError::new(
                ConfigErrorKind::DistinctId,
                "the value of a hashed distinct id must not be empty",
            )),
            DistinctId::Hashed(_) => Ok(()),
            DistinctId::Raw { id, reason } => {
                if id.trim().is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
                    return Err(ConfigError::new(
                        ConfigErrorKind::DistinctId,
                        "a raw distinct id must be 1-200 bytes without control characters",
                    ));
                }
                if !has_words(reason) {
                    return Err(ConfigError::new(
                        ConfigErrorKind::DistinctId,
                        "the reason for a raw distinct id must say why, in words (it is shown in the catalog)",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The id source the identity is built on.
    pub(crate) fn source(&self) -> IdSource {
        match self {
            DistinctId::Install => IdSource::Install,
            DistinctId::Uuid(text) => IdSource::Given(
                uuid::Uuid::parse_str(text.trim()).map_or_else(|_| text.clone(), |id| id.to_string()),
            ),
            DistinctId::Hashed(value) => IdSource::Hashed(Digest::of(value)),
            DistinctId::Raw { id, .. } => IdSource::Given(id.clone()),
        }
    }

    /// What the catalog says `distinct_id` holds, when the application
    /// supplies it.
    pub(crate) fn described(&self) -> Option<String> {
        match self {
            DistinctId::Install => None,
            DistinctId::Uuid(_) => Some("an opaque id (a UUID) the application supplies".into()),
            DistinctId::Hashed(_) => Some(
                "an id of the application's, sent as its hash keyed with a secret of this installation \
                 (never the id itself)"
                    .into(),
            ),
            DistinctId::Raw { reason, .. } => {
                Some(format!("an id the application supplies, sent as it is. *Sent because:* {reason}"))
            }
        }
    }
}

/// Whether `text` holds at least two words of two letters or more: a
/// written reason, not a placeholder, punctuation or an invisible character.
pub(super) fn has_words(text: &str) -> bool {
    text.split(|c: char| !c.is_alphabetic()).filter(|word| word.chars().count() >= 2).count() >= 2
}

/// 1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter
/// or digit.
pub(super) fn is_app_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `1`, `1.4`, `1.4.0` or `1.4.0.2`, then optionally `-pre.release` and
/// `+build` of ASCII letters, digits, `-` and `.` (no empty part), 64
/// characters at most: the shape of a SemVer version, and of most others.
pub(super) fn is_version(version: &str) -> bool {
    let identifiers = |part: &str| {
        part.split('.').all(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let (rest, build) = version.split_once('+').map_or((version, None), |(v, b)| (v, Some(b)));
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(v, p)| (v, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    version.len() <= 64
        && (1..=4).contains(&numbers.len())
        && numbers.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

/// `my-tool` -> `MY_TOOL_TELEMETRY`.
pub(crate) fn env_var_for(app_name: &str) -> String {
    let stem: String = app_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("{stem}_TELEMETRY")
}
