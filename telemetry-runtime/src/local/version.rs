//! The application version the last run with telemetry on recorded, so that
//! a program can tell a first installation and an upgrade from an ordinary
//! run (download analytics count those) without keeping a file of its own.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::local::files::{self, Existing};

/// The record's name in the cache directory.
pub(crate) const VERSION_FILE: &str = "telemetry_version";

/// A version is short; anything larger is not a record this library wrote.
const MAX_VERSION_FILE_BYTES: u64 = 256;

/// How this run's application version compares with the one the last run
/// with telemetry on recorded on this machine; see
/// [`Telemetry::version_change`](crate::Telemetry::version_change).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersionChange {
    /// No version was recorded: the first run with telemetry on, or the
    /// first since the anonymous id was reset.
    FirstRun,
    /// The same version ran last.
    Unchanged,
    /// Another version ran last: an upgrade, or a downgrade.
    Changed {
        /// The version that ran last.
        previous: String,
    },
}

/// The record and this process's answer, worked out once.
pub(crate) struct VersionRecord {
    path: Option<PathBuf>,
    answer: Mutex<Option<VersionChange>>,
}

impl VersionRecord {
    pub(crate) fn new(path: Option<PathBuf>) -> VersionRecord {
        VersionRecord { path, answer: Mutex::new(None) }
    }

    /// Compares `current` with the record and records `current`, the first
    /// time; later calls give the same answer. `None` without a cache
    /// directory.
    pub(crate) fn change(&self, current: &str) -> Option<VersionChange> {
        let path = self.path.as_deref()?;
        let mut answer = self.answer.lock().unwrap_or_else(|e| e.into_inner());
        if answer.is_none() {
            *answer = Some(compare_and_record(path, current));
        }
        answer.clone()
    }

    /// Deletes the record: the next run is a first run again.
    pub(crate) fn forget(&self) -> io::Result<()> {
        match &self.path {
            Some(path) => files::remove_if_present(path),
            None => Ok(()),
        }
    }
}

fn compare_and_record(path: &Path, current: &str) -> VersionChange {
    let change = match files::read_capped(path, MAX_VERSION_FILE_BYTES) {
        Ok(text) if text.trim() == current => return VersionChange::Unchanged,
        Ok(text) if !text.trim().is_empty() => VersionChange::Changed { previous: text.trim().to_owned() },
        Ok(_) => VersionChange::FirstRun,
        Err(err) => {
            if err.kind() != io::ErrorKind::NotFound {
                log::debug!("Cannot read the recorded version in {} ({err}).", path.display());
            }
            VersionChange::FirstRun
        }
    };
    if let Err(err) = files::write_private(path, &format!("{current}\n"), Existing::Replace) {
        log::warn!("Cannot record the version in {} ({err}).", path.display());
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_then_unchanged_then_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VERSION_FILE);
        assert_eq!(compare_and_record(&path, "1.0.0"), VersionChange::FirstRun);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1.0.0\n");
        assert_eq!(compare_and_record(&path, "1.0.0"), VersionChange::Unchanged);
        assert_eq!(compare_and_record(&path, "1.1.0"), VersionChange::Changed { previous: "1.0.0".into() });
        assert_eq!(compare_and_record(&path, "1.0.0"), VersionChange::Changed { previous: "1.1.0".into() });
    }

    #[test]
    fn an_empty_or_oversized_record_counts_as_none_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VERSION_FILE);
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(compare_and_record(&path, "2.0.0"), VersionChange::FirstRun);
        std::fs::write(&path, "9".repeat(10_000)).unwrap();
        assert_eq!(compare_and_record(&path, "2.0.0"), VersionChange::FirstRun);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2.0.0\n");
    }

    #[test]
    fn the_answer_is_worked_out_once_per_process_and_forget_deletes_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let record = VersionRecord::new(Some(dir.path().join(VERSION_FILE)));
        assert_eq!(record.change("1.0.0"), Some(VersionChange::FirstRun));
        assert_eq!(record.change("1.0.0"), Some(VersionChange::FirstRun), "the same answer again");
        record.forget().unwrap();
        assert!(!dir.path().join(VERSION_FILE).exists());
        record.forget().unwrap();
        assert_eq!(VersionRecord::new(None).change("1.0.0"), None);
    }
}
