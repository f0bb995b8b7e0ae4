//! The platform's per-user cache, config and data directories, from the
//! environment as each platform defines them: the XDG base directories on
//! Linux and other Unix systems, `~/Library` on macOS, and `%LOCALAPPDATA%`
//! and `%APPDATA%` on Windows. Written here rather than taken from a crate to
//! keep the dependency tree of the programs that embed us small.

use std::path::PathBuf;

/// Where disposable per-user data goes (the install id, the spool).
pub(crate) fn cache_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        absolute("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        Some(home()?.join("Library/Caches"))
    } else {
        absolute("XDG_CACHE_HOME").or_else(|| Some(home()?.join(".cache")))
    }
}

/// Where per-user settings go (the saved consent choice).
pub(crate) fn config_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        absolute("APPDATA")
    } else if cfg!(target_os = "macos") {
        Some(home()?.join("Library/Application Support"))
    } else {
        absolute("XDG_CONFIG_HOME").or_else(|| Some(home()?.join(".config")))
    }
}

/// Where per-user data the user may read goes (local-only events, the record
/// of recent deliveries).
pub(crate) fn data_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        absolute("APPDATA")
    } else if cfg!(target_os = "macos") {
        Some(home()?.join("Library/Application Support"))
    } else {
        absolute("XDG_DATA_HOME").or_else(|| Some(home()?.join(".local/share")))
    }
}

fn home() -> Option<PathBuf> {
    absolute(if cfg!(windows) { "USERPROFILE" } else { "HOME" })
}

/// The variable's value when it is an absolute path: the XDG specification
/// says relative paths are invalid and must be ignored.
fn absolute(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute())
}

#[cfg(all(test, unix, not(target_os = "macos")))]
mod tests {
    use super::*;

    #[test]
    fn xdg_directories_follow_the_environment() {
        // The process environment is shared by the tests of this binary:
        // only read it, and compare with what it says.
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let expect = |var: &str, fallback: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .or_else(|| home.as_ref().filter(|h| h.is_absolute()).map(|h| h.join(fallback)))
        };
        assert_eq!(cache_dir(), expect("XDG_CACHE_HOME", ".cache"));
        assert_eq!(config_dir(), expect("XDG_CONFIG_HOME", ".config"));
        assert_eq!(data_dir(), expect("XDG_DATA_HOME", ".local/share"));
    }
}
