//! The one background thread: takes batches from the queue, serializes them
//! and hands them to every sink.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::client::{deadline_after, Inner};
use crate::encode::{encode, Envelope};
use crate::event::Record;
use crate::sink::{Batch, EncodedEvent, SendContext, Sink};
use crate::stats::DropReason;
use crate::Level;

pub(crate) fn run(inner: Arc<Inner>, mut sinks: Vec<Box<dyn Sink>>) {
    let mut records = VecDeque::new();
    let mut interval_end = deadline_after(inner.settings.flush_interval);
    loop {
        let taken = inner.queue.take(interval_end, &mut records);
        if Instant::now() >= interval_end {
            interval_end = deadline_after(inner.settings.flush_interval);
        }
        if !records.is_empty() {
            deliver(&inner, &mut sinks, &mut records);
        }
        inner.queue.flush_done(taken.flush_generation);
        if taken.stopping {
            break;
        }
    }
    inner.queue.worker_exited();
}

/// Serializes `records` (leaving the deque empty) and sends them in batches.
fn deliver(inner: &Inner, sinks: &mut [Box<dyn Sink>], records: &mut VecDeque<Record>) {
    let level = inner.consent_level();
    let before = records.len();
    records.retain(|record| level != Level::Off && record.level <= level);
    inner.counters.dropped(DropReason::ConsentWithdrawn, before - records.len());
    if records.is_empty() {
        // Nothing to send: the id file is not even read (or created).
        return;
    }
    let envelope = inner.envelope();
    let mut encoded = Vec::with_capacity(records.len());
    for record in records.drain(..) {
        if let Some(event) = encode_checked(inner, &record, &envelope) {
            encoded.push(event);
        }
    }
    for chunk in encoded.chunks(inner.settings.batch_size) {
        let batch = Batch { events: chunk.to_vec() };
        for sink in sinks.iter_mut() {
            send_to(inner, sink.as_mut(), &batch);
        }
    }
}

fn encode_checked(inner: &Inner, record: &Record, envelope: &Envelope<'_>) -> Option<EncodedEvent> {
    let json = encode(record, envelope);
    if json.len() > inner.settings.max_event_bytes {
        log::warn!(
            "Telemetry event {:?} is {} bytes, over the limit of {}: dropped.",
            record.name,
            json.len(),
            inner.settings.max_event_bytes
        );
        inner.counters.dropped(DropReason::Oversized, 1);
        return None;
    }
    Some(EncodedEvent { name: record.name.clone(), uuid: record.uuid, json })
}

fn send_to(inner: &Inner, sink: &mut dyn Sink, batch: &Batch) {
    let cx = SendContext {
        queue: &inner.queue,
        level: &inner.consent_level,
        counters: &inner.counters,
        dropped: Default::default(),
    };
    if !cx.may_send() {
        inner.counters.dropped(cx.stop_reason(), batch.len());
        return;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(batch, &cx)));
    let undelivered = batch.len() - cx.dropped.get().min(batch.len());
    match outcome {
        Ok(Ok(())) => inner.counters.sent(undelivered),
        Ok(Err(err)) => {
            log::warn!("Telemetry sink {} could not deliver {undelivered} events: {err}", sink.name());
            inner.counters.dropped(err.reason(), undelivered);
        }
        Err(_) => {
            log::error!("Telemetry sink {} panicked; {undelivered} events dropped.", sink.name());
            inner.counters.failed();
            inner.counters.dropped(DropReason::SinkError, undelivered);
        }
    }
}
