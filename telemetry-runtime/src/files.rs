//! Small private files: the install id and the persisted consent choice.
//! Both are created with mode 0600 and appear whole or not at all.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How [`write_private`] treats an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Keep it and report `AlreadyExists` (two processes racing to create an id).
    Keep,
    /// Replace it.
    Replace,
}

/// Writes `contents` to `path` with mode 0600, creating parent directories.
/// The file is written under a temporary name first, so a reader never sees
/// a half-written file.
pub(crate) fn write_private(path: &Path, contents: &str, existing: Existing) -> io::Result<()> {
    write_private_file(path, contents.as_bytes(), existing, true)
}

/// Like [`write_private`] without waiting for the disk: for a record that is
/// rewritten often and whose loss in a crash costs nothing.
pub(crate) fn write_private_unsynced(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_private_file(path, contents, Existing::Replace, false)
}

fn write_private_file(path: &Path, contents: &[u8], existing: Existing, sync: bool) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent directory"))?;
    fs::create_dir_all(dir)?;
    let tmp = temp_name(path);
    let result = write_new(&tmp, contents, sync).and_then(|()| match existing {
        // A hard link fails if the target exists: atomic create-if-absent.
        Existing::Keep => fs::hard_link(&tmp, path),
        Existing::Replace => fs::rename(&tmp, path),
    });
    let _ = fs::remove_file(&tmp);
    result
}

fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

fn write_new(path: &Path, contents: &[u8], sync: bool) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// Reads a small file the library wrote, refusing (with `InvalidData`) one
/// larger than `max` bytes: the file is on the user's disk, where anything
/// may have replaced it, and it is read whole into memory.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<String> {
    use std::io::Read;
    let file = fs::File::open(path)?;
    let mut text = String::new();
    file.take(max.saturating_add(1)).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
    }
    Ok(text)
}

/// Deletes a file; a file that is already gone is not an error.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_does_not_overwrite_and_replace_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/file");
        write_private(&path, "one", Existing::Keep).unwrap();
        let err = write_private(&path, "two", Existing::Keep).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&path).unwrap(), "one");
        write_private(&path, "three", Existing::Replace).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "three");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn capped_reads_refuse_what_is_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(&path, "12345").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), "12345");
        assert_eq!(read_capped(&path, 4).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read_capped(&path, u64::MAX).unwrap(), "12345");
        let missing = read_capped(&dir.path().join("missing"), 5).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        write_private(&path, "x", Existing::Replace).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
