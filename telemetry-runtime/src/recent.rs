//! A record, for the user, of the last events that actually left the
//! machine: `telemetry_recent.jsonl` in the data directory, oldest first.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::files;
use crate::identity::Identity;
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
    /// The identity generation the record holds events of: after a reset
    /// (which deletes the file) what is in memory is forgotten too.
    generation: u64,
}

impl Recent {
    pub(crate) fn new(path: Option<PathBuf>, capacity: usize, generation: u64) -> Recent {
        Recent { path, capacity, events: None, dirty: false, generation }
    }

    /// Forgets what is in memory if the identity was reset since it was
    /// recorded (the reset deleted the file).
    fn follow(&mut self, generation: u64) {
        if generation != self.generation {
            self.generation = generation;
            self.events = Some(VecDeque::new());
            self.dirty = false;
        }
    }

    /// Adds a delivered batch (worker thread only); the file is rewritten by
    /// [`Recent::save`], once per flush interval, flush or shutdown. Events
    /// of an identity generation other than `generation` are left out.
    pub(crate) fn record(&mut self, batch: Batch, generation: u64) {
        self.follow(generation);
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
        let current = batch.events.iter().skip(newest).filter(|e| e.generation == generation);
        events.extend(current.map(|e| e.json_bytes().to_vec()));
        let excess = events.len().saturating_sub(self.capacity);
        events.drain(..excess);
        self.dirty = true;
    }

    /// Writes the record if deliveries were added since the last write,
    /// holding `files_lock` (a reset deletes the file holding it); what was
    /// recorded before a reset is forgotten, not written.
    pub(crate) fn save(&mut self, files_lock: &Mutex<()>, identity: &Identity) {
        let _writing = files_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.follow(identity.generation());
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
