//! A record, for the user, of the last events that actually left the
//! machine: `telemetry_recent.jsonl` in the data directory, oldest first.

use std::collections::VecDeque;
use std::path::PathBuf;

use crate::files;
use crate::sink::Batch;

/// A record file larger than this is not read back (it is not one this
/// library wrote with a sane limit): the record starts over.
const MAX_RECORD_BYTES: u64 = 64 << 20;

pub(crate) struct Recent {
    path: Option<PathBuf>,
    capacity: usize,
    /// `None` until the file from earlier runs has been read.
    /// Each event's JSON (UTF-8, kept as the bytes that were sent).
    events: Option<VecDeque<Vec<u8>>>,
    /// Deliveries not yet written to the file.
    dirty: bool,
}

impl Recent {
    pub(crate) fn new(path: Option<PathBuf>, capacity: usize) -> Recent {
        Recent { path, capacity, events: None, dirty: false }
    }

    /// Adds a delivered batch (worker thread only); the file is rewritten by
    /// [`Recent::save`], once per flush interval, flush or shutdown.
    pub(crate) fn record(&mut self, batch: Batch) {
        let Some(path) = &self.path else { return };
        if self.capacity == 0 {
            return;
        }
        let events = self.events.get_or_insert_with(|| {
            files::read_capped(path, MAX_RECORD_BYTES)
                .map(|text| text.lines().map(|line| line.as_bytes().to_vec()).collect())
                .unwrap_or_default()
        });
        // Only the newest `capacity` events of the batch can stay. Their JSON
        // is copied out of the batch's buffer, so that the record does not
        // keep whole batches alive.
        let newest = batch.events.len().saturating_sub(self.capacity);
        events.extend(batch.events.iter().skip(newest).map(|e| e.json_bytes().to_vec()));
        let excess = events.len().saturating_sub(self.capacity);
        events.drain(..excess);
        self.dirty = true;
    }

    /// Writes the record if deliveries were added since the last write.
    pub(crate) fn save(&mut self) {
        let (Some(path), Some(events), true) = (&self.path, &self.events, self.dirty) else { return };
        let mut text = Vec::with_capacity(events.iter().map(|event| event.len() + 1).sum());
        for event in events.iter() {
            text.extend_from_slice(event);
            text.push(b'\n');
        }
        // The record is for reading, not for recovery: no need to wait for the disk.
        if let Err(err) = files::write_private_unsynced(path, &text) {
            log::debug!("Cannot update the record of sent telemetry {} ({err}).", path.display());
        }
        self.dirty = false;
    }
}
