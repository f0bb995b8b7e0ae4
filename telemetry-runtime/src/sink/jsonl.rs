//! Appends events to a local file, one JSON object per line.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Batch, SendContext, Sink, SinkError};
use crate::local::files;
use crate::model::stats::DropReason;

/// The default size of the file before it is rotated: one older file of
/// this size is kept beside it, so the two hold at most twice this.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// Appends each event as one line of JSON (PostHog's shape, as the PostHog
/// sink sends it) to a file that the user can read.
/// The file (mode 0600) and its directory are created on the first delivery,
/// so nothing is written while telemetry is off. A symbolic link at `path`
/// is not followed: the events are then dropped and counted, with a warning.
/// The file always ends with a whole line: under the process's file size
/// limit (`RLIMIT_FSIZE`) the lines that would pass it are dropped and
/// counted (`sink_error`) instead of being cut, and a failed write is cut
/// back.
///
/// The file is bounded: when a batch would take it over
/// [`max_bytes`](JsonlSink::max_bytes) (8 MiB by default), it is renamed
/// with `.1` added to its name (replacing the one before) and a new file is
/// started, so the two hold the newest events and never more than twice the
/// limit.
///
/// ```
/// use telemetry_runtime::sink::JsonlSink;
/// let sink = JsonlSink::new(std::env::temp_dir().join("events.jsonl"));
/// let small = JsonlSink::new(std::env::temp_dir().join("small.jsonl")).max_bytes(1 << 20);
/// ```
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    name: String,
    max_bytes: u64,
}

impl JsonlSink {
    /// A sink that appends to `path`.
    pub fn new(path: impl Into<PathBuf>) -> JsonlSink {
        let path = path.into();
        let name = format!("jsonl:{}", path.display());
        JsonlSink { path, name, max_bytes: DEFAULT_MAX_BYTES }
    }

    /// The size at which the file is rotated (default 8 MiB).
    ///
    /// ```
    /// use telemetry_runtime::sink::JsonlSink;
    /// let sink = JsonlSink::new(std::env::temp_dir().join("events.jsonl")).max_bytes(1 << 20);
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> JsonlSink {
        self.max_bytes = bytes.max(1);
        self
    }

    /// Appends `lines`, rotating the file first when they would take it
    /// over the limit; returns how many bytes were appended (whole lines:
    /// under the file size limit, only those that fit). The file is opened
    /// for each batch, so that one deleted meanwhile (by a reset) is
    /// created again rather than written unseen.
    fn append(&self, lines: &[u8]) -> io::Result<usize> {
        let size = match fs::symlink_metadata(&self.path) {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            _ => 0,
        };
        if size > 0 && size.saturating_add(lines.len() as u64) > self.max_bytes {
            fs::rename(&self.path, rotated(&self.path))?;
        }
        // One write per batch keeps lines whole when several processes
        // append; under the file size limit, only the lines that fit.
        files::append_records(&files::open_append(&self.path)?, lines, b'\n')
    }
}

/// The name of the older file beside `path`.
fn rotated(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".1");
    PathBuf::from(name)
}

/// Deletes the file at `path` and its rotated older file (a reset: they
/// carry the old install id).
pub(crate) fn remove_with_rotated(path: &Path) -> io::Result<()> {
    files::remove_if_present(path).and(files::remove_if_present(&rotated(path)))
}

impl Sink for JsonlSink {
    fn is_local(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let mut lines = Vec::new();
        super::each_json(batch, cx, |json| {
            lines.extend_from_slice(json);
            lines.push(b'\n');
        });
        if lines.is_empty() {
            return Ok(());
        }
        match self.append(&lines) {
            Ok(appended) => {
                let left = lines[appended..].iter().filter(|b| **b == b'\n').count();
                if left > 0 {
                    cx.failed_attempt();
                    log::warn!(
                        "Telemetry: {left} events not appended to {}: the file reached this \
                         process's file size limit (RLIMIT_FSIZE).",
                        self.path.display()
                    );
                    cx.dropped(DropReason::SinkError, left);
                }
                Ok(())
            }
            Err(err) => {
                cx.failed_attempt();
                // The I/O error is the source, not repeated here.
                let message = format!("cannot append to {}", self.path.display());
                Err(SinkError::with_source(DropReason::SinkError, message, err))
            }
        }
    }
}
