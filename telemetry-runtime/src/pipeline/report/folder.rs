//! The reports' folder: the names of its files, the JSON of a period's
//! counts, the lock every process of the program takes, and the deletions
//! that span folders.
//!
//! In `telemetry_reports` in the data directory, one folder per route (named
//! by the sink's identity in the spool, a fingerprint):
//! - `<start>-<end>.counts`: the counts of one period (seconds since 1970,
//!   UTC), JSON; the current period's while it runs, a pending report once
//!   it is over;
//! - `<start>-<end>.<pid>-<instance>-<claimed>.claim`: a report being sent
//!   by that process (taken back when the process is gone, or after an
//!   hour, as the spool's claims are);
//! - `<start>-<end>.sent`: a report that was sent, with the JSON exactly as
//!   it was sent; the newest 26 of each route are kept;
//! - `../lock`: the file whose lock every write in the folder holds.
//!
//! The folder of a route the program no longer has (its sink or its period
//! changed) is emptied as its periods pass [`MAX_AGE`], then removed.
//!
//! Every file is written whole under a temporary name and renamed into
//! place (mode 0600, never through a symbolic link, at most 1 MiB), so a
//! process killed while it writes leaves the previous version: it loses at
//! most what it had not written yet. The temporary file it may leave is
//! deleted by the next write. Writes, claims and deletions hold the lock:
//! the per-process mutex, then an advisory lock on `lock`
//! ([`std::fs::File::try_lock`]) that the system releases when a process
//! ends, however it ends.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value as Json};

use crate::local::files;
use crate::model::period::{Counted, PeriodCounts};
use crate::pipeline::spool;

const LOCK_FILE: &str = "lock";
pub(super) const COUNTS: &str = "counts";
pub(super) const CLAIMED: &str = "claim";
pub(super) const SENT: &str = "sent";
pub(super) const CORRUPT: &str = "corrupt";
/// The format of the files, written in each.
const FORMAT: u64 = 1;
/// No file here is larger: a larger one is not ours, and is not read.
pub(super) const MAX_FILE_BYTES: u64 = 1 << 20;
/// A report whose period ended longer ago than this is deleted unsent.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(28 * 86_400);
/// How many sent reports each route keeps for the user to read.
pub(super) const KEEP_SENT: usize = 26;

/// The program and library a report speaks for: the standard properties
/// of the last run that counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) os: String,
    pub(crate) arch: String,
    pub(crate) os_version: Option<String>,
    pub(crate) lib_version: String,
    pub(crate) catalog_digest: String,
}

/// One period's counts as a file holds them.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) counts: PeriodCounts,
    pub(super) stamp: Stamp,
}

/// The lock of the reports' folder, held until dropped (closing the file
/// releases its lock).
pub(super) struct Locked<'a> {
    _file: Option<fs::File>,
    _guard: MutexGuard<'a, ()>,
}

/// Holds the lock of the reports' folder: this client's mutex, then the
/// lock file's in `dir`, waiting up to `wait` for another process. `None`
/// when the lock stayed held; a lock file that cannot
/// be locked at all (a file system without locks) is logged, and only
/// the mutex is held.
pub(super) fn lock<'a>(dir: &Path, mutex: &'a Mutex<()>, wait: Duration) -> Option<Locked<'a>> {
    let guard = mutex.lock().unwrap_or_else(|e| e.into_inner());
    let file = match files::open_lock(&dir.join(LOCK_FILE)) {
        Ok(file) => file,
        Err(err) => {
            log::warn!("Cannot open the telemetry reports' lock in {} ({err}).", dir.display());
            return None;
        }
    };
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Some(Locked { _file: Some(file), _guard: guard }),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                log::warn!(
                    "The telemetry reports' lock in {} stayed held by another process.",
                    dir.display()
                );
                return None;
            }
            Err(fs::TryLockError::Error(err)) => {
                log::warn!(
                    "Cannot lock {} ({err}): processes of this program may overwrite each other's counts.",
                    dir.join(LOCK_FILE).display()
                );
                return Some(Locked { _file: None, _guard: guard });
            }
        }
    }
}

/// A period's counts as their file holds them.
pub(super) fn stored_json(stored: &Stored) -> Json {
    let counts: Vec<Json> = stored
        .counts
        .counts
        .iter()
        .map(|(counted, count)| match counted {
            Counted::Counter { name, labels } => json!({ "counter": name, "labels": labels, "count": count }),
            Counted::Event(name) => json!({ "event": name, "count": count }),
        })
        .collect();
    let stamp = &stored.stamp;
    json!({
        "format": FORMAT,
        "start": stored.counts.start,
        "end": stored.counts.end,
        "app": {
            "name": stamp.app_name,
            "version": stamp.app_version,
            "os": stamp.os,
            "arch": stamp.arch,
            "os_version": stamp.os_version,
            "lib_version": stamp.lib_version,
            "catalog_digest": stamp.catalog_digest,
        },
        "counts": counts,
    })
}

/// Reads back what [`stored_json`] wrote; `None` when it is not that.
pub(super) fn parse_stored(json: &Json) -> Option<Stored> {
    if json["format"].as_u64()? != FORMAT {
        return None;
    }
    let text = |value: &Json| value.as_str().map(str::to_owned);
    let app = &json["app"];
    let stamp = Stamp {
        app_name: text(&app["name"])?,
        app_version: text(&app["version"])?,
        os: text(&app["os"])?,
        arch: text(&app["arch"])?,
        os_version: text(&app["os_version"]),
        lib_version: text(&app["lib_version"])?,
        catalog_digest: text(&app["catalog_digest"])?,
    };
    let mut counts = PeriodCounts {
        start: json["start"].as_u64()?,
        end: json["end"].as_u64()?,
        ..PeriodCounts::default()
    };
    for entry in json["counts"].as_array()? {
        let counted = match (entry.get("counter"), entry.get("event")) {
            (Some(name), None) => {
                let labels = entry["labels"]
                    .as_array()?
                    .iter()
                    .map(|pair| match pair.as_array()?.as_slice() {
                        [label, value] => Some((text(label)?, text(value)?)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Counted::Counter { name: text(name)?, labels }
            }
            (None, Some(name)) => Counted::Event(text(name)?),
            _ => return None,
        };
        counts.add(counted, entry["count"].as_u64()?);
    }
    Some(Stored { counts, stamp })
}

/// The counts in the file at `path`: `Ok(None)` when there is no file, an
/// `InvalidInput` error for a symbolic link, `InvalidData` for a file that
/// is not one of ours.
pub(super) fn read_stored(path: &Path) -> io::Result<Option<Stored>> {
    let text = match files::read_capped(path, MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let json: Json =
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    parse_stored(&json)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a report's counts"))
}

/// Moves a file that cannot be read aside, as `.corrupt` (deleted once its
/// period is past [`MAX_AGE`]).
pub(super) fn set_aside(path: &Path, err: &io::Error) {
    let Some(base) = spool::claim::base_name(path) else { return };
    let aside = path.with_file_name(format!("{base}.{CORRUPT}"));
    log::warn!(
        "Telemetry counts {} cannot be read ({err}): moved aside to {}.",
        path.display(),
        aside.display()
    );
    if fs::rename(path, &aside).is_err() {
        delete(path);
    }
}

pub(super) fn delete(path: &Path) {
    if let Err(err) = files::remove_if_present(path) {
        log::warn!("Cannot delete the telemetry report file {} ({err}).", path.display());
    }
}

/// Files of `dir` with this extension, in name order (oldest period first).
pub(super) fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort_by_key(|path| period_in_name(path).unwrap_or_default());
    found
}

/// The folders of the routes under `root`.
fn subfolders(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Deletes the temporary files a write killed part-way left behind. Called
/// under the lock, so no write is under way.
pub(super) fn remove_temporary_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|name| name.contains(".tmp")) {
            delete(&path);
        }
    }
}

/// Gives back, as waiting counts, the claims of processes that are gone.
pub(super) fn take_back_abandoned_claims(dir: &Path) {
    for claim in files_with(dir, CLAIMED) {
        if !spool::claim::is_abandoned(&claim) {
            continue;
        }
        let Some(base) = spool::claim::base_name(&claim) else { continue };
        let waiting = claim.with_file_name(format!("{base}.{COUNTS}"));
        if fs::rename(&claim, &waiting).is_ok() {
            log::info!(
                "A telemetry report claimed by a process that is gone waits again: {}.",
                waiting.display()
            );
        }
    }
}

/// Keeps the newest [`KEEP_SENT`] sent reports.
pub(super) fn trim_sent(dir: &Path) {
    let sent = files_with(dir, SENT);
    for path in sent.iter().take(sent.len().saturating_sub(KEEP_SENT)) {
        delete(path);
    }
}

/// The period a file name starts with: `<start>-<end>.`.
pub(super) fn period_in_name(path: &Path) -> Option<(u64, u64)> {
    let base = spool::claim::base_name(path)?;
    let (start, end) = base.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?))
}

/// Whether a period that ended at `end` is past [`MAX_AGE`] at `now`.
pub(super) fn is_expired(end: u64, now: SystemTime) -> bool {
    seconds(now).saturating_sub(end) > MAX_AGE.as_secs()
}

pub(super) fn seconds(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// In the folders under `root` but those named in `ours` (a route whose
/// sink or period changed since, or another program's of the same name),
/// deletes the counts and reports whose period ended more than [`MAX_AGE`]
/// before `now`, and the folders left empty. Called under the lock.
pub(super) fn forget_expired_elsewhere(root: &Path, ours: &[&str], now: SystemTime) {
    for dir in subfolders(root) {
        if dir.file_name().and_then(|n| n.to_str()).is_some_and(|name| ours.contains(&name)) {
            continue;
        }
        for path in [COUNTS, CLAIMED, CORRUPT, SENT].iter().flat_map(|ext| files_with(&dir, ext)) {
            if period_in_name(&path).is_none_or(|(_, end)| is_expired(end, now)) {
                delete(&path);
            }
        }
        // Only an empty folder is removed.
        let _ = fs::remove_dir(&dir);
    }
}

/// Deletes every count and report not sent yet, in every folder under
/// `root` but those named in `kept`; sent reports stay. Called under the
/// lock.
pub(super) fn forget_pending(root: &Path, kept: &[&str]) {
    for dir in subfolders(root) {
        if dir.file_name().and_then(|n| n.to_str()).is_some_and(|name| kept.contains(&name)) {
            continue;
        }
        for path in [COUNTS, CLAIMED, CORRUPT].iter().flat_map(|ext| files_with(&dir, ext)) {
            delete(&path);
        }
        remove_temporary_files(&dir);
    }
}

/// Deletes every folder under `root`, with every count and report, sent or
/// not. Called under the lock.
pub(super) fn remove_all(root: &Path) -> io::Result<()> {
    let mut result = Ok(());
    for dir in subfolders(root) {
        if let Err(err) = fs::remove_dir_all(&dir) {
            if err.kind() != io::ErrorKind::NotFound {
                result = Err(err);
            }
        }
    }
    result
}
