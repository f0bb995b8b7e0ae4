//! Small private files: the install id, the hashing key, the persisted
//! consent choice, the notice record, the record of recent deliveries,
//! spooled batches and the counts and reports of reports by period. All are created with mode 0600 and appear whole or not
//! at all; the JSONL sinks append through [`open_append`].
//!
//! No file is written or read through a symbolic link at its final name (on
//! Unix, `O_NOFOLLOW`): a link found there is left as it is, its target
//! untouched, and the write fails with an error that says so. Directories
//! above the file may be links (a home directory often is one).
//!
//! No write passes the process's file size limit (`RLIMIT_FSIZE`, read
//! before each write): past it the kernel refuses the write or cuts it
//! short, and sends `SIGXFSZ`, whose default action ends the host process.
//! A write that would not fit fails with [`io::ErrorKind::FileTooLarge`]
//! before a byte is written, and an append that fails part-way is cut back,
//! so no file ends in a partial record.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
    if is_symlink(path) {
        return Err(refused(path));
    }
    let tmp = temp_name(path);
    let result = write_new(&tmp, contents, sync).and_then(|()| match existing {
        // A hard link fails if anything is at the target, a link included:
        // atomic create-if-absent, never through a link.
        Existing::Keep => fs::hard_link(&tmp, path),
        // A rename replaces the name itself and never follows a link there;
        // one placed since the check above is replaced, its target untouched.
        Existing::Replace => fs::rename(&tmp, path),
    });
    // Only ever a file this call created (`create_new`), never someone's link.
    let _ = fs::remove_file(&tmp);
    result
}

/// A temporary name beside `path`, unique to this write: the process id, a
/// counter and a random part. A name known in advance could be taken by a
/// link before the write, and two writes in one process sharing a name
/// truncated each other's file.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp{}-{}-{:016x}",
        std::process::id(),
        COUNTER.fetch_add(1, Relaxed),
        crate::model::event::random_u64()
    ));
    path.with_file_name(name)
}

/// Creates `path`, which must not exist (not even as a link), and writes it.
fn write_new(path: &Path, contents: &[u8], sync: bool) -> io::Result<()> {
    check_room(0, contents.len())?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = open(&mut options, path)?;
    file.write_all(contents)?;
    if sync {
        file.sync_all()?;
    }
    Ok(())
}

/// Opens `path` for appending (a JSONL file of events), creating it with mode
/// 0600 and its directory if needed; a link at `path` is refused.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    open(&mut options, path)
}

/// Appends to `file` (opened by [`open_append`]) the longest start of
/// `records` that ends with `end` (each record's last byte) and fits under
/// the file size limit, and returns its length. An error leaves the file as
/// it was: what a failed write left of the records is cut back (unless
/// another process appended after them).
pub(crate) fn append_records(file: &File, records: &[u8], end: u8) -> io::Result<usize> {
    let start = file.metadata()?.len();
    let fits = match file_size_limit() {
        Some(limit) => usize::try_from(limit.saturating_sub(start)).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let whole = if records.len() <= fits {
        records.len()
    } else {
        records[..fits].iter().rposition(|b| *b == end).map_or(0, |last| last + 1)
    };
    if whole == 0 {
        check_room(start, records.len())?;
        return Ok(0);
    }
    let mut written = 0;
    while written < whole {
        let err = match (&*file).write(&records[written..whole]) {
            Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
            Ok(n) => {
                written += n;
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => err,
        };
        // Cut back only when the file ends with what this call wrote: another
        // appender's records are never cut.
        if written > 0 && file.metadata().is_ok_and(|meta| meta.len() == start + written as u64) {
            let _ = file.set_len(start);
        }
        return Err(err);
    }
    Ok(whole)
}

/// The largest a file this process writes may grow (`RLIMIT_FSIZE`, its
/// soft limit), when it is limited. On Linux it is read from the kernel's
/// own account of the process's limits, which costs no dependency; on
/// other Unix systems through rustix's safe `getrlimit`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn file_size_limit() -> Option<u64> {
    soft_file_size_limit(&fs::read_to_string("/proc/self/limits").ok()?)
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn file_size_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Fsize).current
}

#[cfg(not(unix))]
fn file_size_limit() -> Option<u64> {
    None
}

/// The soft file size limit in the text of `/proc/<pid>/limits`
/// (`Max file size  <soft>  <hard>  bytes`); `None` when it is
/// `unlimited`.
#[cfg(any(target_os = "linux", target_os = "android", test))]
fn soft_file_size_limit(limits: &str) -> Option<u64> {
    let values = limits.lines().find_map(|line| line.strip_prefix("Max file size"))?;
    values.split_whitespace().next()?.parse().ok()
}

/// Refuses, before anything is written, `len` bytes at `offset` of a file
/// when they would pass the file size limit.
fn check_room(offset: u64, len: usize) -> io::Result<()> {
    match file_size_limit() {
        Some(limit) if offset.saturating_add(len as u64) > limit => Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "{len} bytes from byte {offset} would pass this process's file size limit \
                 (RLIMIT_FSIZE) of {limit} bytes"
            ),
        )),
        _ => Ok(()),
    }
}

/// Opens the file at `path`, creating it (mode 0600) and its directory
/// when needed, for a lock on it: several processes take turns through it
/// ([`File::try_lock`]). Never written; a link at `path` is refused.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    open(&mut options, path)
}

/// Opens with `options`, private (0600) when it creates the file, never
/// following a link at the final name.
fn open(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    // Without O_NOFOLLOW, a look first (a link made right after it is
    // followed: the best the platform's std offers).
    #[cfg(not(unix))]
    if is_symlink(path) {
        return Err(refused(path));
    }
    options.open(path).map_err(|err| if is_symlink(path) { refused(path) } else { err })
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

/// The error for a link found at `path`, logged here (once per path and
/// process: the record and a JSONL file are tried again on every batch) so
/// that a refusal says what happened, whatever the caller does with it.
fn refused(path: &Path) -> io::Error {
    static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let err = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is a symbolic link, which telemetry does not follow", path.display()),
    );
    let mut warned = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if !warned.iter().any(|p| p == path) {
        warned.push(path.to_path_buf());
        log::warn!("Telemetry file not used: {err}; it is left as it is.");
    }
    err
}

/// Reads a small file the library wrote, refusing (with `InvalidData`) one
/// larger than `max` bytes: the file is on the user's disk, where anything
/// may have replaced it, and it is read whole into memory.
pub(crate) fn read_capped(path: &Path, max: u64) -> io::Result<String> {
    use std::io::Read;
    let file = open(OpenOptions::new().read(true), path)?;
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

    #[test]
    fn the_soft_file_size_limit_is_read_from_the_kernels_table() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max file size             16384                unlimited            bytes     \n\
                      Max data size             unlimited            unlimited            bytes     \n";
        assert_eq!(soft_file_size_limit(limits), Some(16384));
        let unlimited = limits.replace("16384               ", "unlimited           ");
        assert_eq!(soft_file_size_limit(&unlimited), None);
        assert_eq!(soft_file_size_limit(""), None);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn this_process_has_a_readable_file_size_limit() {
        let text = fs::read_to_string("/proc/self/limits").expect("the kernel's table of limits");
        assert!(text.lines().any(|line| line.starts_with("Max file size")), "{text}");
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
