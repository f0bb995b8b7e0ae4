//! The platform's per-user cache, config and data directories, from the
//! environment as each platform defines them: the XDG base directories on
//! Linux and other Unix systems, `~/Library` on macOS, and `%LOCALAPPDATA%`
//! and `%APPDATA%` on Windows. Written here rather than taken from a crate to
//! keep the dependency tree of the programs that embed us small.

use std::path::PathBuf;

/// Where disposable per-user data goes (the install id, the spool).
pub(crate) fn cache_dir() -> Option<PathBuf> {
    per_user("LOCALAPPDATA", "Library/Caches", "XDG_CACHE_HOME", ".cache")
}

/// Where per-user settings go (the saved consent choice).
pub(crate) fn config_dir() -> Option<PathBuf> {
    per_user("APPDATA", "Library/Application Support", "XDG_CONFIG_HOME", ".config")
}

/// Where per-user data the user may read goes (local-only events, the record
/// of recent deliveries).
pub(crate) fn data_dir() -> Option<PathBuf> {
    per_user("APPDATA", "Library/Application Support", "XDG_DATA_HOME", ".local/share")
}

/// A per-user directory: the Windows variable `windows`, `macos` under the
/// home directory on macOS, and elsewhere the XDG variable `xdg` or, when
/// it is unset, `unix_default` under the home directory.
fn per_user(windows: &str, macos: &str, xdg: &str, unix_default: &str) -> Option<PathBuf> {
    if cfg!(windows) {
        absolute(windows)
    } else if cfg!(target_os = "macos") {
        Some(home()?.join(macos))
    } else {
        absolute(xdg).or_else(|| Some(home()?.join(unix_default)))
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

/// The operating system's version as `major.minor`, where it is cheap to
/// read and says nothing about the machine: on Linux, the `VERSION_ID` of
/// `/etc/os-release` (or `/usr/lib/os-release`), the distribution's release
/// (`22.04`, `12`, `3.19`); on macOS, the `ProductVersion` of
/// `/System/Library/CoreServices/SystemVersion.plist` (`14.4`). A small file
/// read, never a subprocess, never the kernel's build string or the host
/// name. `None` where there is no such file or it has no plain numeric
/// version (a rolling release), and on other platforms (Windows keeps it in
/// the registry).
pub(crate) fn os_version() -> Option<String> {
    if cfg!(target_os = "linux") {
        ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|path| read_small(path))
            .and_then(|text| parse_os_release(&text))
    } else if cfg!(target_os = "macos") {
        parse_system_version_plist(&read_small("/System/Library/CoreServices/SystemVersion.plist")?)
    } else {
        None
    }
}

/// The start of a small text file: os-release files are a few hundred
/// bytes, and a larger one is not read further.
fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(16 * 1024).read_to_string(&mut text).ok()?;
    Some(text)
}

/// `VERSION_ID` of an os-release file, as `major.minor`.
pub(crate) fn parse_os_release(text: &str) -> Option<String> {
    let value = text.lines().find_map(|line| line.trim().strip_prefix("VERSION_ID="))?;
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    major_minor(value)
}

/// `ProductVersion` of macOS's `SystemVersion.plist` (XML), as
/// `major.minor`.
pub(crate) fn parse_system_version_plist(text: &str) -> Option<String> {
    let after_key = &text[text.find("<key>ProductVersion</key>")? + "<key>ProductVersion</key>".len()..];
    let value = after_key.trim_start().strip_prefix("<string>")?;
    major_minor(value[..value.find("</string>")?].trim())
}

/// The first two parts of a dotted numeric version; `None` unless it is
/// one (each part 1 to 8 digits).
fn major_minor(version: &str) -> Option<String> {
    let parts: Vec<&str> = version.split('.').take(2).collect();
    let numeric = |p: &&str| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit());
    parts.iter().all(numeric).then(|| parts.join("."))
}

#[cfg(test)]
mod os_release_tests {
    use super::*;

    #[test]
    fn version_ids_become_major_minor() {
        let cases = [
            ("NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n", Some("22.04")),
            ("VERSION_ID=12\n", Some("12")),
            ("ID=alpine\nVERSION_ID=3.19.1\n", Some("3.19")),
            ("VERSION_ID='40'", Some("40")),
            ("NAME=\"Arch Linux\"\nBUILD_ID=rolling\n", None),
            ("VERSION_ID=\"10-beta\"", None),
            ("VERSION_ID=\"\"", None),
            ("VERSION_ID=\"1..2\"", None),
            ("VERSION_ID=\"123456789\"", None),
            ("VERSION=\"12 (bookworm)\"", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_os_release(text).as_deref(), expected, "{text:?}");
        }
    }

    #[test]
    fn macos_product_versions_become_major_minor() {
        let plist = |version: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
                 \t<key>ProductBuildVersion</key>\n\t<string>23E224</string>\n\
                 \t<key>ProductName</key>\n\t<string>macOS</string>\n\
                 \t<key>ProductVersion</key>\n\t<string>{version}</string>\n</dict>\n</plist>\n"
            )
        };
        assert_eq!(parse_system_version_plist(&plist("14.4.1")).as_deref(), Some("14.4"));
        assert_eq!(parse_system_version_plist(&plist("15.0")).as_deref(), Some("15.0"));
        assert_eq!(parse_system_version_plist(&plist("26")).as_deref(), Some("26"));
        // The build version is never taken for it.
        assert_eq!(parse_system_version_plist(&plist("beta")), None);
        assert_eq!(parse_system_version_plist("<dict><key>ProductName</key></dict>"), None);
        assert_eq!(parse_system_version_plist("<key>ProductVersion</key><string>14.4"), None);
    }
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
