//! Consent resolution: which source decides the level, first match wins.
//!
//! 1. an explicit choice made through the API (typically the user's own
//!    `--no-telemetry` flag),
//! 2. the application's environment variables,
//! 3. `DO_NOT_TRACK`,
//! 4. the choice persisted by [`crate::Telemetry::persist_consent`],
//! 5. a CI environment (Off),
//! 6. the application's configured default.
//!
//! The configured default is deliberately the weakest source: a program
//! cannot override its user's environment or persisted choice.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Level;

/// Reads one environment variable; swapped out in tests.
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub(crate) fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
}

/// What a value of an environment variable means, for
/// [`Config::legacy_env_var`](crate::EnvVars::legacy).
///
/// ```
/// use telemetry_runtime::{Config, Polarity};
///
/// let config = Config::new("mytool", "1.0.0")
///     .env(|mut e| { e.legacy.push(("ANONYMIZED_TELEMETRY".into(), Polarity::Enables)); e }) // =false turns it off
///     .env(|mut e| { e.legacy.push(("MYTOOL_NO_TELEMETRY".into(), Polarity::Disables)); e }) // =1 turns it off
///     .env(|mut e| { e.legacy.push(("MYTOOL_LOG_TRAJECTORY".into(), Polarity::OptInFull)); e }); // =1 asks for full
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Polarity {
    /// `VAR=off` turns telemetry off, `VAR=on` on, `VAR=full` to full
    /// (like `MYAPP_TELEMETRY` or `ANONYMIZED_TELEMETRY=false`).
    Enables,
    /// `VAR=1` (or any "yes") turns telemetry off; a "no" value decides
    /// nothing (like `MYAPP_NO_TELEMETRY=1` or `DISABLE_TELEMETRY=true`).
    Disables,
    /// A dedicated opt-in switch for what is sent only at full consent
    /// (like a `MYAPP_LOG_TRAJECTORY=1` that sends whole conversations):
    /// `VAR=1` (or any "yes", or `full`) means [`Level::Full`]. A "no"
    /// value decides nothing, and so does a value it does not understand
    /// (logged), so the switch never raises consent by mistake. It is read
    /// before the other variables, and yields to any of them that says off:
    /// `MYAPP_TELEMETRY=off` with the switch on is off.
    OptInFull,
}

impl Polarity {
    /// The value a log line or notice tells the user to set to turn
    /// telemetry off through a variable of this polarity: `off` for the
    /// application's main variable (the library's `off|on|full` words),
    /// `false` for another one that enables (`ANONYMIZED_TELEMETRY=false`,
    /// as such variables are documented), `1` for one that disables. `None`
    /// for [`Polarity::OptInFull`]: it cannot turn telemetry off.
    pub(crate) fn off_value(self, main: bool) -> Option<&'static str> {
        match self {
            Polarity::Enables if main => Some("off"),
            Polarity::Enables => Some("false"),
            Polarity::Disables => Some("1"),
            Polarity::OptInFull => None,
        }
    }
}

/// An environment variable the application reads consent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvVar {
    pub(crate) name: String,
    pub(crate) polarity: Polarity,
}

/// Which source decided the consent level.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentSource {
    /// An explicit choice made through the API at run time.
    Explicit,
    /// An environment variable of the application (its name).
    EnvVar(String),
    /// `DO_NOT_TRACK` was set.
    DoNotTrack,
    /// The choice persisted in this file.
    Persisted(PathBuf),
    /// Telemetry would be on by default, but the user has not yet been told
    /// (about this version of the catalog): the notice is shown and nothing
    /// is sent in this run.
    NoticePending,
    /// A CI environment, detected through this variable.
    Ci(&'static str),
    /// The application's configured default.
    Default,
}

impl fmt::Display for ConsentSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsentSource::Explicit => f.write_str("explicit choice"),
            ConsentSource::EnvVar(name) => write!(f, "environment variable {name}"),
            ConsentSource::DoNotTrack => f.write_str("DO_NOT_TRACK"),
            ConsentSource::Persisted(path) => write!(f, "saved choice in {}", path.display()),
            ConsentSource::NoticePending => f.write_str("first-run notice (nothing is sent in this run)"),
            ConsentSource::Ci(var) => write!(f, "CI environment ({var})"),
            ConsentSource::Default => f.write_str("application default"),
        }
    }
}

/// The outcome of resolution: a level and the source that decided it; see
/// [`Telemetry::consent`](crate::Telemetry::consent). Built by the library
/// only; its fields are public to read, and more may be added.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Consent {
    /// The level in force.
    pub level: Level,
    /// Where it came from.
    pub source: ConsentSource,
    /// The user chose `local`: events go only to a file on this machine.
    pub local_only: bool,
    /// The highest level the user's own settings give the user-owned sinks
    /// (see [`Route::owned_by_user`](crate::Route::owned_by_user)): `Off`
    /// when there are none, or the user set `OTEL_SDK_DISABLED=true`.
    pub user_owned: Level,
}

impl Consent {
    pub(crate) fn new(level: Level, source: ConsentSource) -> Consent {
        Consent { level, source, local_only: false, user_owned: Level::Off }
    }
}

/// A user's choice as written in a variable or the saved file: a level, or
/// `local` (usage, kept on this machine).
pub(crate) fn parse_choice(value: &str) -> Option<(Level, bool)> {
    if value.trim().eq_ignore_ascii_case("local") {
        return Some((Level::Usage, true));
    }
    Level::parse(value).map(|level| (level, false))
}

/// Variables whose presence marks a CI run (telemetry is then off unless a
/// stronger source decides). `CI` itself is checked for a true-ish value
/// because some shells export `CI=false`.
/// (This workspace's tests remove them from the programs they run, through
/// `__private`: it is not an API.)
pub const CI_VARIABLES: &[&str] = &[
    "CI",
    "CONTINUOUS_INTEGRATION",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "BUILDKITE",
    "JENKINS_URL",
    "TF_BUILD",
    "TEAMCITY_VERSION",
    "BITBUCKET_BUILD_NUMBER",
    "CODEBUILD_BUILD_ID",
    "DRONE",
    "APPVEYOR",
    "SEMAPHORE",
];

/// Everything resolution reads, gathered from the config.
pub(crate) struct Inputs<'a> {
    pub(crate) explicit: Option<Level>,
    pub(crate) env: &'a EnvLookup,
    pub(crate) env_vars: &'a [EnvVar],
    pub(crate) persisted: Option<&'a Path>,
    pub(crate) detect_ci: bool,
    pub(crate) default: Level,
}

/// Resolves the consent level. Values that cannot be understood fail closed
/// (Off) with a warning that names the variable or file.
pub(crate) fn resolve(inputs: &Inputs<'_>) -> Consent {
    if let Some(level) = inputs.explicit {
        return Consent::new(level, ConsentSource::Explicit);
    }
    let ordinary = inputs.env_vars.iter().filter(|var| var.polarity != Polarity::OptInFull).find_map(|var| {
        let (level, local_only) = read_env_var(inputs.env, var)?;
        Some(Consent { local_only, ..Consent::new(level, ConsentSource::EnvVar(var.name.clone())) })
    });
    if ordinary.as_ref().is_none_or(|consent| consent.level != Level::Off) {
        let opted_in = inputs.env_vars.iter().filter(|var| var.polarity == Polarity::OptInFull);
        if let Some(var) = opted_in.into_iter().find(|var| read_env_var(inputs.env, var).is_some()) {
            return Consent::new(Level::Full, ConsentSource::EnvVar(var.name.clone()));
        }
    }
    if let Some(consent) = ordinary {
        return consent;
    }
    if do_not_track(inputs.env) {
        return Consent::new(Level::Off, ConsentSource::DoNotTrack);
    }
    if let Some(path) = inputs.persisted {
        if let Some((level, local_only)) = read_persisted(path) {
            return Consent {
                local_only,
                ..Consent::new(level, ConsentSource::Persisted(path.to_path_buf()))
            };
        }
    }
    if inputs.detect_ci {
        if let Some(var) = ci_variable(inputs.env) {
            return Consent::new(Level::Off, ConsentSource::Ci(var));
        }
    }
    Consent::new(inputs.default, ConsentSource::Default)
}

fn non_empty(env: &EnvLookup, name: &str) -> Option<String> {
    env(name).filter(|value| !value.trim().is_empty())
}

fn read_env_var(env: &EnvLookup, var: &EnvVar) -> Option<(Level, bool)> {
    let value = non_empty(env, &var.name)?;
    match (parse_choice(&value), var.polarity) {
        (Some(choice), Polarity::Enables) => Some(choice),
        (Some((Level::Off, _)), Polarity::Disables) => None,
        (Some(_), Polarity::Disables) => Some((Level::Off, false)),
        (Some((Level::Off, _) | (_, true)), Polarity::OptInFull) => None,
        (Some(_), Polarity::OptInFull) => Some((Level::Full, false)),
        (None, Polarity::OptInFull) => {
            let shown = shown_value(&value);
            log::warn!("Unrecognised value {shown} in {}: ignored. Use 1 or 0.", var.name);
            None
        }
        (None, _) => {
            let shown = shown_value(&value);
            log::warn!(
                "Unrecognised value {shown} in {}: telemetry is off. \
                 Use one of off, on, full or local.",
                var.name
            );
            Some((Level::Off, false))
        }
    }
}

/// The value of `var`, as a message may show it (see [`shown_value`]),
/// when it is set to a value resolution does not understand and so reads
/// as off; `None` when it is unset, empty or understood, and for an opt-in
/// switch ([`Polarity::OptInFull`]), where such a value decides nothing.
pub(crate) fn unrecognised_value(env: &EnvLookup, var: &EnvVar) -> Option<String> {
    if var.polarity == Polarity::OptInFull {
        return None;
    }
    let value = non_empty(env, &var.name)?;
    parse_choice(&value).is_none().then(|| shown_value(&value))
}

/// A value no choice matches, as a log line may show it: a short one (a
/// typo of `off`, `false`, `full`) quoted whole, a longer one only by its
/// length, since it may be something pasted there by mistake (a token, a
/// key) that must not reach a log.
fn shown_value(value: &str) -> String {
    const SHOWN_UP_TO: usize = 12;
    match value.chars().count() {
        n if n <= SHOWN_UP_TO => format!("{value:?}"),
        n => format!("of {n} characters (not shown)"),
    }
}

/// The variable, and its value, that turns telemetry off for the user in
/// this run: the one that decided, when it can (a switch of
/// [`Polarity::OptInFull`] cannot), else the documented one (the
/// `documented`-th variable: the main one unless the application named
/// another with [`Config::documented_env_var`](crate::Config::documented_env_var)).
/// `None` when an explicit choice decided: no variable outranks it, and a
/// message must not say one would work.
pub(crate) fn off_switch<'a>(
    consent: &Consent,
    env_vars: &'a [EnvVar],
    documented: usize,
) -> Option<(&'a str, &'static str)> {
    let switch = |index: usize| {
        let var = env_vars.get(index)?;
        Some((var.name.as_str(), var.polarity.off_value(index == 0)?))
    };
    match &consent.source {
        ConsentSource::Explicit => None,
        ConsentSource::EnvVar(name) => {
            let index = env_vars.iter().position(|var| var.name == *name)?;
            switch(index).or_else(|| switch(documented))
        }
        _ => switch(documented).or_else(|| switch(0)),
    }
}

fn do_not_track(env: &EnvLookup) -> bool {
    non_empty(env, "DO_NOT_TRACK").is_some_and(|v| Level::parse(&v) != Some(Level::Off))
}

fn ci_variable(env: &EnvLookup) -> Option<&'static str> {
    CI_VARIABLES.iter().copied().find(|name| {
        non_empty(env, name).is_some_and(|v| *name != "CI" || Level::parse(&v) != Some(Level::Off))
    })
}

/// A larger saved choice is not one the library wrote (a word and a newline).
const MAX_CHOICE_FILE_BYTES: u64 = 4096;

fn read_persisted(path: &Path) -> Option<(Level, bool)> {
    match crate::local::files::read_capped(path, MAX_CHOICE_FILE_BYTES) {
        Ok(text) => Some(parse_choice(&text).unwrap_or_else(|| {
            log::warn!(
                "Unrecognised telemetry choice in {}: telemetry is off. \
                 Delete the file or choose again.",
                path.display()
            );
            (Level::Off, false)
        })),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => {
            log::warn!("Cannot read the telemetry choice in {} ({err}): telemetry is off.", path.display());
            Some((Level::Off, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Arc::new(move |name| map.get(name).cloned())
    }

    fn vars() -> Vec<EnvVar> {
        vec![
            EnvVar { name: "APP_TELEMETRY".into(), polarity: Polarity::Enables },
            EnvVar { name: "ANONYMIZED_TELEMETRY".into(), polarity: Polarity::Enables },
            EnvVar { name: "APP_NO_TELEMETRY".into(), polarity: Polarity::Disables },
        ]
    }

    fn resolve_with(pairs: &[(&str, &str)], explicit: Option<Level>, persisted: Option<&Path>) -> Consent {
        let env = env(pairs);
        let vars = vars();
        resolve(&Inputs {
            explicit,
            env: &env,
            env_vars: &vars,
            persisted,
            detect_ci: true,
            default: Level::Usage,
        })
    }

    #[test]
    fn precedence_is_explicit_env_dnt_persisted_ci_default() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("choice");
        std::fs::write(&saved, "full\n").unwrap();
        let all = [("APP_TELEMETRY", "on"), ("DO_NOT_TRACK", "1"), ("CI", "true")];

        let c = resolve_with(&all, Some(Level::Full), Some(&saved));
        assert_eq!((c.level, c.source), (Level::Full, ConsentSource::Explicit));
        let c = resolve_with(&all, None, Some(&saved));
        assert_eq!((c.level, c.source), (Level::Usage, ConsentSource::EnvVar("APP_TELEMETRY".into())));
        let c = resolve_with(&all[1..], None, Some(&saved));
        assert_eq!((c.level, c.source), (Level::Off, ConsentSource::DoNotTrack));
        let c = resolve_with(&all[2..], None, Some(&saved));
        assert_eq!((c.level, c.source), (Level::Full, ConsentSource::Persisted(saved.clone())));
        let c = resolve_with(&all[2..], None, None);
        assert_eq!((c.level, c.source), (Level::Off, ConsentSource::Ci("CI")));
        let c = resolve_with(&[], None, None);
        assert_eq!((c.level, c.source), (Level::Usage, ConsentSource::Default));
    }

    #[test]
    fn unknown_env_value_fails_closed() {
        let c = resolve_with(&[("APP_TELEMETRY", "sure-why-not")], None, None);
        assert_eq!(c.level, Level::Off);
        assert_eq!(c.source, ConsentSource::EnvVar("APP_TELEMETRY".into()));
    }

    #[test]
    fn empty_env_value_decides_nothing() {
        let c = resolve_with(&[("APP_TELEMETRY", "  "), ("DO_NOT_TRACK", "")], None, None);
        assert_eq!(c.source, ConsentSource::Default);
    }

    #[test]
    fn legacy_variables_keep_their_polarity() {
        let c = resolve_with(&[("ANONYMIZED_TELEMETRY", "False")], None, None);
        assert_eq!(c.level, Level::Off);
        let c = resolve_with(&[("ANONYMIZED_TELEMETRY", "true"), ("CI", "1")], None, None);
        assert_eq!(c.level, Level::Usage);
        let c = resolve_with(&[("APP_NO_TELEMETRY", "1")], None, None);
        assert_eq!((c.level, c.source), (Level::Off, ConsentSource::EnvVar("APP_NO_TELEMETRY".into())));
        // "don't disable" is not "enable": the next source decides.
        let c = resolve_with(&[("APP_NO_TELEMETRY", "0"), ("DO_NOT_TRACK", "1")], None, None);
        assert_eq!(c.source, ConsentSource::DoNotTrack);
        let c = resolve_with(&[("APP_NO_TELEMETRY", "bogus")], None, None);
        assert_eq!(c.level, Level::Off);
    }

    #[test]
    fn an_opt_in_switch_means_full_unless_a_variable_says_off() {
        let env_vars = |extra: &[(&str, &str)]| {
            let env = env(extra);
            let mut vars = vars();
            vars.push(EnvVar { name: "APP_LOG_TRAJECTORY".into(), polarity: Polarity::OptInFull });
            resolve(&Inputs {
                explicit: None,
                env: &env,
                env_vars: &vars,
                persisted: None,
                detect_ci: true,
                default: Level::Off,
            })
        };
        let full = (Level::Full, ConsentSource::EnvVar("APP_LOG_TRAJECTORY".into()));
        for yes in ["1", "true", "YES", "on", "full"] {
            let c = env_vars(&[("APP_LOG_TRAJECTORY", yes)]);
            assert_eq!((c.level, c.source), full.clone(), "{yes}");
            let c = env_vars(&[("APP_LOG_TRAJECTORY", yes), ("APP_TELEMETRY", "on")]);
            assert_eq!((c.level, c.source), full.clone(), "{yes} raises a variable's usage");
        }
        for no in ["0", "false", "off", "", "bogus"] {
            let c = env_vars(&[("APP_LOG_TRAJECTORY", no)]);
            assert_eq!((c.level, c.source), (Level::Off, ConsentSource::Default), "{no:?}");
            let c = env_vars(&[("APP_LOG_TRAJECTORY", no), ("APP_TELEMETRY", "on")]);
            assert_eq!(c.level, Level::Usage, "{no:?}");
        }
        // Off said by any other variable wins.
        let c = env_vars(&[("APP_LOG_TRAJECTORY", "1"), ("APP_TELEMETRY", "off")]);
        assert_eq!((c.level, c.source), (Level::Off, ConsentSource::EnvVar("APP_TELEMETRY".into())));
        let c = env_vars(&[("APP_LOG_TRAJECTORY", "1"), ("APP_NO_TELEMETRY", "1")]);
        assert_eq!(c.level, Level::Off);
        assert_eq!(Polarity::OptInFull.off_value(false), None);
    }

    #[test]
    fn the_off_switch_is_the_variable_in_use_and_never_claimed_over_an_explicit_choice() {
        let mut vars = vars();
        vars.push(EnvVar { name: "APP_LOG_TRAJECTORY".into(), polarity: Polarity::OptInFull });
        let by = |source: ConsentSource| off_switch(&Consent::new(Level::Usage, source), &vars, 0);
        assert_eq!(by(ConsentSource::Default), Some(("APP_TELEMETRY", "off")));
        assert_eq!(by(ConsentSource::EnvVar("APP_TELEMETRY".into())), Some(("APP_TELEMETRY", "off")));
        assert_eq!(
            by(ConsentSource::EnvVar("ANONYMIZED_TELEMETRY".into())),
            Some(("ANONYMIZED_TELEMETRY", "false"))
        );
        assert_eq!(by(ConsentSource::EnvVar("APP_LOG_TRAJECTORY".into())), Some(("APP_TELEMETRY", "off")));
        assert_eq!(by(ConsentSource::Persisted(PathBuf::from("x"))), Some(("APP_TELEMETRY", "off")));
        assert_eq!(by(ConsentSource::Explicit), None);
        // A documented legacy variable is the switch when none decided.
        let documented = |source: ConsentSource| off_switch(&Consent::new(Level::Usage, source), &vars, 1);
        assert_eq!(documented(ConsentSource::Default), Some(("ANONYMIZED_TELEMETRY", "false")));
        assert_eq!(
            documented(ConsentSource::EnvVar("APP_LOG_TRAJECTORY".into())),
            Some(("ANONYMIZED_TELEMETRY", "false"))
        );
        assert_eq!(documented(ConsentSource::EnvVar("APP_TELEMETRY".into())), Some(("APP_TELEMETRY", "off")));
    }

    #[test]
    fn off_values_follow_the_polarity() {
        assert_eq!(Polarity::Enables.off_value(true), Some("off"));
        assert_eq!(Polarity::Enables.off_value(false), Some("false"));
        assert_eq!(Polarity::Disables.off_value(false), Some("1"));
    }

    #[test]
    fn local_is_usage_kept_on_this_machine() {
        let c = resolve_with(&[("APP_TELEMETRY", " Local ")], None, None);
        assert_eq!((c.level, c.local_only), (Level::Usage, true));
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("choice");
        std::fs::write(&saved, "local\n").unwrap();
        let c = resolve_with(&[], None, Some(&saved));
        assert_eq!((c.level, c.local_only), (Level::Usage, true));
    }

    #[test]
    fn do_not_track_values() {
        for on in ["1", "true", "yes", "anything"] {
            assert_eq!(resolve_with(&[("DO_NOT_TRACK", on)], None, None).source, ConsentSource::DoNotTrack);
        }
        for off in ["0", "false", "", " "] {
            assert_eq!(resolve_with(&[("DO_NOT_TRACK", off)], None, None).source, ConsentSource::Default);
        }
    }

    #[test]
    fn ci_detection() {
        assert_eq!(
            resolve_with(&[("GITHUB_ACTIONS", "true")], None, None).source,
            ConsentSource::Ci("GITHUB_ACTIONS")
        );
        assert_eq!(resolve_with(&[("CI", "false")], None, None).source, ConsentSource::Default);
        let env = env(&[("CI", "1")]);
        let c = resolve(&Inputs {
            explicit: None,
            env: &env,
            env_vars: &[],
            persisted: None,
            detect_ci: false,
            default: Level::Usage,
        });
        assert_eq!(c.source, ConsentSource::Default);
    }

    #[test]
    fn persisted_choice_corrupt_or_unreadable_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join("choice");
        std::fs::write(&saved, "\u{fffd}garbage").unwrap();
        assert_eq!(resolve_with(&[], None, Some(&saved)).level, Level::Off);
        // A directory where the file should be cannot be read as a file.
        let as_dir = dir.path().join("dir");
        std::fs::create_dir(&as_dir).unwrap();
        let c = resolve_with(&[], None, Some(&as_dir));
        assert_eq!((c.level, c.source), (Level::Off, ConsentSource::Persisted(as_dir)));
        let missing = dir.path().join("missing");
        assert_eq!(resolve_with(&[], None, Some(&missing)).source, ConsentSource::Default);
    }
}
