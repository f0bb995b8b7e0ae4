//! The one background thread: takes batches from the queue, serializes them
//! and hands them to every sink.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crate::client::{deadline_after, Inner};
use crate::encode::{encode, Envelope};
use crate::event::Record;
use crate::recent::Recent;
use crate::sink::{Batch, EncodedEvent, SendContext, Sink};
use crate::stats::DropReason;
use crate::{Level, Properties, Value};

pub(crate) fn run(inner: Arc<Inner>, mut sinks: Vec<Box<dyn Sink>>) {
    let mut records = VecDeque::new();
    let mut recent = Recent::new(inner.recent_path(), inner.settings.recent_deliveries);
    let mut interval_end = deadline_after(inner.settings.flush_interval);
    loop {
        let taken = inner.queue.take(interval_end, &mut records);
        let interval_over = Instant::now() >= interval_end;
        if interval_over {
            interval_end = deadline_after(inner.settings.flush_interval);
        }
        if interval_over || taken.flushing || taken.stopping {
            records.extend(counter_records(&inner));
        }
        if !records.is_empty() {
            deliver(&inner, &mut sinks, &mut records, &mut recent);
        }
        inner.queue.flush_done(taken.flush_generation);
        if taken.stopping {
            break;
        }
    }
    inner.queue.worker_exited();
}

/// Serializes `records` (leaving the deque empty) and sends them in batches.
fn deliver(inner: &Inner, sinks: &mut [Box<dyn Sink>], records: &mut VecDeque<Record>, recent: &mut Recent) {
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
            let delivered = send_to(inner, sink.as_mut(), &batch);
            if delivered && !sink.is_local() {
                recent.record(&batch);
            }
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

/// One event per counter series: its labels and the count since last time.
fn counter_records(inner: &Inner) -> Vec<Record> {
    let series = inner.aggregates.drain();
    series
        .into_iter()
        .map(|series| {
            let mut properties = Properties::with_capacity(series.labels.len() + 1);
            for (label, value) in series.labels.iter() {
                properties.insert(label, *value);
            }
            properties.push("count", Value::UInt(series.count));
            inner.counters.captured();
            Record::new(Cow::Borrowed(series.name), Level::Usage, properties)
        })
        .collect()
}

/// Sends one batch to one sink; returns whether it was delivered without loss.
fn send_to(inner: &Inner, sink: &mut dyn Sink, batch: &Batch) -> bool {
    let cx = SendContext {
        queue: &inner.queue,
        level: &inner.consent_level,
        counters: &inner.counters,
        dropped: Default::default(),
    };
    if !cx.may_send() {
        inner.counters.dropped(cx.stop_reason(), batch.len());
        return false;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(batch, &cx)));
    let undelivered = batch.len() - cx.dropped.get().min(batch.len());
    match outcome {
        Ok(Ok(())) => {
            inner.counters.sent(undelivered);
            cx.dropped.get() == 0
        }
        Ok(Err(err)) => {
            log::warn!("Telemetry sink {} could not deliver {undelivered} events: {err}", sink.name());
            inner.counters.dropped(err.reason(), undelivered);
            false
        }
        Err(_) => {
            log::error!("Telemetry sink {} panicked; {undelivered} events dropped.", sink.name());
            inner.counters.failed();
            inner.counters.dropped(DropReason::SinkError, undelivered);
            false
        }
    }
}
