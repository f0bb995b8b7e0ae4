//! The one background thread: takes batches from the queue, serializes them
//! and hands them to every sink.

use std::borrow::Cow;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use crate::client::{deadline_after, Inner};
use crate::encode::{encode_into, Envelope};
use crate::event::{event_uuid, Record, Records};
use crate::recent::Recent;
use crate::sink::{Batch, EncodedEvent, SendContext, Sink};
use crate::spool::Spool;
use crate::stats::DropReason;
use crate::{Level, Properties, Value};

/// What the worker sends with, and the records it keeps of what it sent.
struct Outlet {
    sinks: Vec<Box<dyn Sink>>,
    /// Whether each sink keeps data on this machine, asked once.
    local: Vec<bool>,
    recent: Recent,
    spool: Option<Spool>,
}

pub(crate) fn run(inner: Arc<Inner>, sinks: Vec<Box<dyn Sink>>) {
    // However this thread ends, waiters are released.
    let _exit = ExitGuard(&inner);
    let local = sinks
        .iter()
        .zip(&inner.sink_names)
        .map(|(sink, name)| {
            catch_unwind(AssertUnwindSafe(|| sink.is_local())).unwrap_or_else(|_| {
                log::error!(
                    "Telemetry sink {name} panicked when asked where it keeps data; taken as remote."
                );
                false
            })
        })
        .collect();
    let mut outlet = Outlet {
        sinks,
        local,
        recent: Recent::new(
            inner.recent_path(),
            inner.settings.recent_deliveries,
            inner.identity.generation(),
        ),
        spool: inner.spool(),
    };
    let mut records = Records::default();
    if catch_unwind(AssertUnwindSafe(|| replay(&inner, &mut outlet))).is_err() {
        log::error!("Replaying the telemetry spool failed; it is left for a later run.");
    }
    let mut interval_end = deadline_after(inner.settings.flush_interval);
    loop {
        let taken = inner.queue.take(interval_end, &mut records);
        let interval_over = Instant::now() >= interval_end;
        if interval_over {
            interval_end = deadline_after(inner.settings.flush_interval);
        }
        let taken_count = records.len();
        let delivered = catch_unwind(AssertUnwindSafe(|| {
            if interval_over && !taken.stopping {
                // Batches an outage left behind get another chance.
                replay(&inner, &mut outlet);
            }
            if interval_over || taken.flushing || taken.stopping {
                add_counter_records(&inner, &mut records);
            }
            if !records.is_empty() {
                deliver(&inner, &mut outlet, &mut records);
            }
        }));
        if delivered.is_err() {
            // Sink panics are caught closer to the sink; this is the
            // worker's own failure. Telemetry turns off rather than limp on.
            log::error!("The telemetry worker failed: telemetry is off for the rest of this run.");
            // What this round took is counted lost, with what is still queued.
            inner.counters.dropped(DropReason::SinkError, taken_count + inner.queue.clear());
            inner.disable();
            break;
        }
        if interval_over || taken.flushing || taken.stopping {
            outlet.recent.save(&inner.files_lock, &inner.identity);
        }
        inner.queue.flush_done(taken.flush_generation);
        if taken.stopping {
            break;
        }
    }
}

struct ExitGuard<'a>(&'a Inner);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.queue.worker_exited();
    }
}

/// Sends what the spool holds, oldest first, until a batch has to stay
/// (the endpoint is still out of reach: the rest waits for the next try).
fn replay(inner: &Inner, outlet: &mut Outlet) {
    let Some(spool) = outlet.spool.clone() else { return };
    // Read with the identity generation they belong to, under the lock a
    // reset takes: a reset from here on makes them stale.
    let ((batches, expired), generation) = {
        let _files = inner.files_lock.lock().unwrap_or_else(|e| e.into_inner());
        (spool.pending(), inner.identity.generation())
    };
    inner.counters.dropped(DropReason::Undeliverable, expired);
    for spooled in batches {
        let Some(index) = inner.sink_names.iter().position(|name| *name == spooled.sink) else {
            log::warn!("Spooled telemetry for {} has no such sink any more: deleted.", spooled.sink);
            inner.counters.dropped(DropReason::Undeliverable, spooled.events.len());
            spool.remove(&spooled.path);
            continue;
        };
        let mut events = spooled.events;
        for event in &mut events {
            inner.counters.captured();
            event.generation = generation;
        }
        let batch = Batch { events };
        if !send_batch(inner, outlet, index, batch, Some(spooled.path)) {
            break;
        }
    }
}

/// Serializes `records` (leaving them empty) once per level the sinks
/// need, and sends each sink the events its route admits, in batches.
fn deliver(inner: &Inner, outlet: &mut Outlet, records: &mut Records) {
    let consent = inner.consent_level();
    if consent == Level::Off {
        inner.counters.dropped(DropReason::ConsentWithdrawn, records.len());
        records.clear();
        return;
    }
    // Events only allowed at a level the user no longer gives are dropped;
    // the others are sent without what the lowered level excludes.
    let withdrawn = records.iter().filter(|(r, _)| r.min_level > consent).count();
    inner.counters.dropped(DropReason::ConsentWithdrawn, withdrawn);
    if records.len() == withdrawn {
        // Nothing to send: the id file is not even read (or created).
        records.clear();
        return;
    }
    let envelope = inner.envelope();
    let levels: Vec<Level> = inner.routes.iter().map(|route| route.level_under(consent)).collect();
    // What is waiting goes in as few requests as the limit allows. Records
    // are encoded a request at a time, so that however many were queued,
    // only about a request's worth of encoded events is held at once.
    let request_size = inner.settings.batch_size.max(inner.settings.max_batch_size);
    let mut pending: Vec<Vec<EncodedEvent>> = levels.iter().map(|_| Vec::new()).collect();
    let mut uuids = Vec::new();
    for chunk in records.chunks(request_size) {
        // Drawn once per event, so that every level's encoding (and every
        // sink) carries the same uuid.
        uuids.clear();
        uuids.extend(chunk.iter().map(|_| event_uuid()));
        // Each level is encoded once; the last sink that needs it takes the
        // events instead of copying them.
        let mut still_needed = [0usize; 3];
        for level in &levels {
            still_needed[*level as usize] += 1;
        }
        let mut encoded: [Option<Vec<EncodedEvent>>; 3] = Default::default();
        for (index, level) in levels.iter().enumerate() {
            let route = &inner.routes[index];
            let slot = &mut encoded[*level as usize];
            let events =
                slot.get_or_insert_with(|| encode_all(inner, records, chunk, &uuids, &envelope, *level));
            still_needed[*level as usize] -= 1;
            if still_needed[*level as usize] == 0 {
                let events = slot.take().unwrap_or_default();
                pending[index].extend(events.into_iter().filter(|e| route.admits(e)));
            } else {
                pending[index].extend(events.iter().filter(|e| route.admits(e)).cloned());
            }
            while pending[index].len() >= request_size {
                let batch: Vec<EncodedEvent> = pending[index].drain(..request_size).collect();
                send_to_sink(inner, outlet, index, batch);
            }
        }
    }
    for (index, rest) in pending.into_iter().enumerate() {
        if !rest.is_empty() {
            send_to_sink(inner, outlet, index, rest);
        }
    }
    records.clear();
}

/// Spools a batch for a remote sink (when the spool is on), then sends it.
fn send_to_sink(inner: &Inner, outlet: &mut Outlet, index: usize, events: Vec<EncodedEvent>) {
    let batch = Batch { events };
    let spooled = match (&outlet.spool, outlet.local[index]) {
        (Some(spool), false) => spool.write(&inner.sink_names[index], &batch.events),
        _ => None,
    };
    send_batch(inner, outlet, index, batch, spooled);
}

/// The events `chunk` (records of `records`) gives at `level`: opt-in
/// events are left out below `Full`, and so are opt-in fields. Their JSON
/// is written into one buffer that the events share.
fn encode_all(
    inner: &Inner,
    records: &Records,
    chunk: &[Record],
    uuids: &[Uuid],
    envelope: &Envelope<'_>,
    level: Level,
) -> Vec<EncodedEvent> {
    if level == Level::Off {
        return Vec::new();
    }
    let mut buffer = Vec::with_capacity(chunk.len() * 700);
    let mut encoded: Vec<(&Record, Uuid, Range<usize>)> = Vec::with_capacity(chunk.len());
    for (record, uuid) in chunk.iter().zip(uuids).filter(|(r, _)| r.min_level <= level) {
        let start = buffer.len();
        encode_into(&mut buffer, record, uuid, records.properties(record), envelope, level);
        let len = buffer.len() - start;
        if len > inner.settings.max_event_bytes {
            log::warn!(
                "Telemetry event {:?} is {len} bytes, over the limit of {}: dropped.",
                record.name,
                inner.settings.max_event_bytes
            );
            inner.counters.dropped(DropReason::Oversized, 1);
            buffer.truncate(start);
            continue;
        }
        encoded.push((record, *uuid, start..buffer.len()));
        // Neighbours stay separated as in a JSON array, so that a request
        // body can take a run of them in one piece.
        buffer.push(b',');
    }
    let buffer = Arc::new(buffer);
    encoded
        .into_iter()
        .map(|(record, uuid, span)| EncodedEvent {
            name: record.name.clone(),
            uuid,
            buffer: Arc::clone(&buffer),
            span,
            // What it takes to send this encoding: the event's own level and
            // that of the fields it holds.
            level: record.properties_level.min(level).max(record.min_level),
            counter: record.counter,
            time: record.time(),
            generation: envelope.generation,
        })
        .collect()
}

/// Sends one batch to sink `index`; a spooled copy is deleted unless the
/// sink may succeed on a later try. Returns whether the batch is done with.
fn send_batch(
    inner: &Inner,
    outlet: &mut Outlet,
    index: usize,
    batch: Batch,
    spooled: Option<PathBuf>,
) -> bool {
    let later = match send_to(inner, outlet.sinks[index].as_mut(), &inner.sink_names[index], &batch) {
        Sent::Whole if !outlet.local[index] => {
            outlet.recent.record(batch, inner.identity.generation());
            false
        }
        Sent::Later => true,
        _ => false,
    };
    if let (Some(spool), Some(path)) = (&outlet.spool, spooled) {
        if later {
            log::info!("Telemetry kept in {} for a later try.", path.display());
        } else {
            spool.remove(&path);
        }
    }
    !later
}

/// How a batch went to one sink.
enum Sent {
    /// Every event delivered.
    Whole,
    /// Some or all events were given up on for good.
    Partly,
    /// Some events may get through on a later run (shutdown's deadline came
    /// first, or the endpoint could not be reached).
    Later,
}

/// Adds one event per counter series: its labels and the count since last
/// time.
fn add_counter_records(inner: &Inner, records: &mut Records) {
    for series in inner.aggregates.drain() {
        let mut properties = Properties::with_capacity(series.labels.len() + 1);
        for (label, value) in series.labels.iter() {
            properties.insert(label, *value);
        }
        properties.push("count", Level::Usage, &Value::UInt(series.count));
        inner.counters.captured();
        let mut record = Record::new(Cow::Borrowed(series.name));
        record.counter = true;
        // A few labels and a count: far below the 4 GiB a record can hold.
        records.push(record, &properties);
    }
}

/// Sends one batch to one sink.
fn send_to(inner: &Inner, sink: &mut dyn Sink, name: &str, batch: &Batch) -> Sent {
    let cx = SendContext {
        queue: &inner.queue,
        level: &inner.consent_level,
        identity: &inner.identity,
        counters: &inner.counters,
        dropped: Default::default(),
        retry_later: Default::default(),
    };
    if !cx.may_send() {
        cx.dropped(cx.stop_reason(), batch.len());
        return if cx.retry_later.get() { Sent::Later } else { Sent::Partly };
    }
    // Consent may have been lowered since the batch was encoded.
    let allowed = cx.still_allowed(batch.events());
    let filtered;
    let batch = match allowed {
        Cow::Borrowed(_) => batch,
        Cow::Owned(events) => {
            filtered = Batch { events };
            &filtered
        }
    };
    let already_dropped = cx.dropped.get();
    if batch.is_empty() {
        return Sent::Partly;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(batch, &cx)));
    let sink_dropped = cx.dropped.get() - already_dropped;
    let undelivered = batch.len() - sink_dropped.min(batch.len());
    match outcome {
        Ok(Ok(())) => inner.counters.sent(undelivered),
        Ok(Err(err)) => {
            log::warn!("Telemetry sink {name} could not deliver {undelivered} events: {err}");
            cx.dropped(err.reason(), undelivered);
        }
        Err(_) => {
            log::error!("Telemetry sink {name} panicked; {undelivered} events dropped.");
            inner.counters.failed();
            cx.dropped(DropReason::SinkError, undelivered);
        }
    }
    if cx.retry_later.get() {
        Sent::Later
    } else if cx.dropped.get() == 0 {
        Sent::Whole
    } else {
        Sent::Partly
    }
}
