//! Appends events to a local file, one JSON object per line.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::{Batch, SendContext, Sink, SinkError};
use crate::model::stats::DropReason;

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
/// ```
/// use telemetry_runtime::sink::JsonlSink;
/// let sink = JsonlSink::new(std::env::temp_dir().join("events.jsonl"));
/// assert!(sink.path().ends_with("events.jsonl"));
/// ```
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    name: String,
    file: Option<File>,
}

impl JsonlSink {
    /// A sink that appends to `path`.
    pub fn new(path: impl Into<PathBuf>) -> JsonlSink {
        let path = path.into();
        let name = format!("jsonl:{}", path.display());
        JsonlSink { path, name, file: None }
    }

    /// The file events are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> io::Result<File> {
        crate::local::files::open_append(&self.path)
    }
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
        let written = match self.file.take() {
            Some(file) => Ok(file),
            None => self.open(),
        }
        .and_then(|file| {
            // One write per batch keeps lines whole when several processes
            // append; under the file size limit, only the lines that fit.
            let appended = crate::local::files::append_records(&file, &lines, b'\n')?;
            Ok((file, appended))
        });
        match written {
            Ok((file, appended)) => {
                self.file = Some(file);
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
                Err(SinkError::new(DropReason::SinkError, message).with_source(err))
            }
        }
    }
}
