//! A record, for the user, of the last events that actually left the
//! machine: `telemetry_recent.jsonl` in the data directory, oldest first.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::files::{self, Existing};
use crate::sink::Batch;

pub(crate) struct Recent {
    path: Option<PathBuf>,
    capacity: usize,
    /// `None` until the file from earlier runs has been read.
    events: Option<VecDeque<String>>,
}

impl Recent {
    pub(crate) fn new(path: Option<PathBuf>, capacity: usize) -> Recent {
        Recent { path, capacity, events: None }
    }

    /// Adds a delivered batch and rewrites the file (worker thread only).
    pub(crate) fn record(&mut self, batch: &Batch) {
        let Some(path) = &self.path else { return };
        if self.capacity == 0 {
            return;
        }
        let events = self.events.get_or_insert_with(|| {
            std::fs::read_to_string(path)
                .map(|text| text.lines().map(str::to_owned).collect())
                .unwrap_or_default()
        });
        events.extend(batch.events().iter().map(|e| e.json().to_owned()));
        let excess = events.len().saturating_sub(self.capacity);
        events.drain(..excess);
        let mut text = String::new();
        for event in events.iter() {
            text.push_str(event);
            text.push('\n');
        }
        if let Err(err) = files::write_private(path, &text, Existing::Replace) {
            log::debug!("Cannot update the record of sent telemetry {} ({err}).", path.display());
        }
    }
}
