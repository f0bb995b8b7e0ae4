//! A record, for the user, of the last events that actually left the
//! machine: `telemetry_recent.jsonl` in the data directory, oldest first.

use crate::sync::{lock, Mutex};
use std::collections::VecDeque;
use std::path::PathBuf;

use crate::local::files;
use crate::local::identity::Identity;
use crate::model::encode::PostHogJson;
use crate::model::view::{Kept, Queued};
use crate::sink::Batch;

/// A record file larger than this is not read back (it is not one this
/// library wrote with a sane limit): the record starts over.
const MAX_RECORD_BYTES: u64 = 64 << 20;

/// A delivery in the record.
enum Entry {
    /// A line of the file, as read back.
    Line(Vec<u8>),
    /// An event delivered in the worker's current round, still in the
    /// round's records: most are pushed out by newer ones before the round
    /// ends, so only those left are copied out ([`Recent::settle`]).
    Delivered(Queued),
    /// An event delivered since, copied out of its round, encoded only
    /// when the file is written.
    Sent(Kept),
}

pub(crate) struct Recent {
    path: Option<PathBuf>,
    capacity: usize,
    /// `None` until the file from earlier runs has been read: the events,
    /// oldest first.
    events: Option<VecDeque<Entry>>,
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
                .map(|text| text.lines().map(|line| Entry::Line(line.as_bytes().to_vec())).collect())
                .unwrap_or_default()
        });
        // Only the newest `capacity` events of the batch can stay.
        let newest = batch.events.len().saturating_sub(self.capacity);
        let current = batch.events.into_iter().skip(newest).filter(|e| e.generation() == generation);
        events.extend(current.map(Entry::Delivered));
        let excess = events.len().saturating_sub(self.capacity);
        events.drain(..excess);
        self.dirty = true;
    }

    /// Copies the deliveries still held in their round's records out of
    /// them (worker thread, before the round's records are reused): only
    /// those that stayed among the newest are copied, once per round
    /// rather than once per batch.
    pub(crate) fn settle(&mut self) {
        let Some(events) = &mut self.events else { return };
        events.retain_mut(|entry| match entry {
            Entry::Delivered(queued) => match queued.kept() {
                Some(kept) => {
                    *entry = Entry::Sent(kept);
                    true
                }
                // Only with an index the worker never makes.
                None => false,
            },
            Entry::Line(_) | Entry::Sent(_) => true,
        });
    }

    /// Writes the record if deliveries were added since the last write,
    /// holding `files_lock` (a reset deletes the file holding it); what was
    /// recorded before a reset is forgotten, not written.
    pub(crate) fn save(&mut self, files_lock: &Mutex<()>, identity: &Identity) {
        let _writing = lock(files_lock);
        self.follow(identity.generation());
        let (Some(path), Some(events), true) = (&self.path, &mut self.events, self.dirty) else { return };
        // Encoded now, as PostHog's JSON with what the sink was given; kept
        // as lines from then on, so the batches they came from are let go.
        let mut json = PostHogJson::default();
        for entry in events.iter_mut() {
            let mut line = Vec::new();
            match entry {
                Entry::Line(_) => continue,
                Entry::Delivered(queued) => match queued.view() {
                    Some(view) => json.event(&mut line, &view),
                    None => continue,
                },
                Entry::Sent(event) => json.event(&mut line, &event.view()),
            }
            *entry = Entry::Line(line);
        }
        let mut text = Vec::new();
        for entry in events.iter() {
            if let Entry::Line(line) = entry {
                text.extend_from_slice(line);
                text.push(b'\n');
            }
        }
        // The record is for reading, not for recovery: no need to wait for the disk.
        if let Err(err) = files::write_private_unsynced(path, &text) {
            log::debug!("Cannot update the record of sent telemetry {} ({err}).", path.display());
        }
        self.dirty = false;
    }
}
