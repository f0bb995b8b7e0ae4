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

/// Lists nested deeper than this are refused: deeper JSON is refused by
/// common parsers (serde_json stops at 128), and would fail a whole batch.
const MAX_DEPTH: usize = 32;

pub(crate) fn run(inner: Arc<Inner>, mut sinks: Vec<Box<dyn Sink>>) {
    // However this thread ends, waiters are released.
    let _exit = ExitGuard(&inner);
    let mut records = VecDeque::new();
    let mut recent = Recent::new(inner.recent_path(), inner.settings.recent_deliveries);
    let mut interval_end = deadline_after(inner.settings.flush_interval);
    loop {
        let taken = inner.queue.take(interval_end, &mut records);
        let interval_over = Instant::now() >= interval_end;
        if interval_over {
            interval_end = deadline_after(inner.settings.flush_interval);
        }
        let delivered = catch_unwind(AssertUnwindSafe(|| {
            if interval_over || taken.flushing || taken.stopping {
                records.extend(counter_records(&inner));
            }
            if !records.is_empty() {
                deliver(&inner, &mut sinks, &mut records, &mut recent);
            }
        }));
        if delivered.is_err() {
            // Sink panics are caught closer to the sink; this is the
            // worker's own failure. Telemetry turns off rather than limp on.
            log::error!("The telemetry worker failed: telemetry is off for the rest of this run.");
            inner.counters.dropped(DropReason::SinkError, records.len() + inner.queue.clear());
            inner.disable();
            break;
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
        if let Some(event) = encode_checked(inner, record, &envelope) {
            encoded.push(event);
        }
    }
    for chunk in encoded.chunks(inner.settings.batch_size) {
        let batch = Batch { events: chunk.to_vec() };
        for (sink, name) in sinks.iter_mut().zip(&inner.sink_names) {
            let delivered = send_to(inner, sink.as_mut(), name, &batch);
            if delivered && !sink.is_local() {
                recent.record(&batch);
            }
        }
    }
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
            Record { counter: true, ..Record::new(Cow::Borrowed(series.name), Level::Usage, properties) }
        })
        .collect()
}

fn encode_checked(inner: &Inner, record: Record, envelope: &Envelope<'_>) -> Option<EncodedEvent> {
    if record.properties.iter().any(|(_, value)| too_deep(value)) {
        log::warn!("Telemetry event {:?} nests lists deeper than {MAX_DEPTH}: dropped.", record.name);
        inner.counters.dropped(DropReason::Invalid, 1);
        dismantle(record.properties);
        return None;
    }
    let json = encode(&record, envelope);
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
    Some(EncodedEvent {
        name: record.name,
        uuid: record.uuid,
        json,
        level: record.level,
        counter: record.counter,
        time: record.time,
    })
}

/// Whether lists nest deeper than [`MAX_DEPTH`], found without recursion.
fn too_deep(value: &Value) -> bool {
    let mut stack = vec![(value, 1)];
    while let Some((value, depth)) = stack.pop() {
        if let Value::List(items) = value {
            if depth > MAX_DEPTH {
                return true;
            }
            stack.extend(items.iter().map(|item| (item, depth + 1)));
        }
    }
    false
}

/// Drops properties without recursing, however deep their lists go.
fn dismantle(properties: Properties) {
    let mut stack: Vec<Value> = properties.into_values();
    while let Some(value) = stack.pop() {
        if let Value::List(items) = value {
            stack.extend(items);
        }
    }
}

/// Sends one batch to one sink; returns whether it was delivered without loss.
fn send_to(inner: &Inner, sink: &mut dyn Sink, name: &str, batch: &Batch) -> bool {
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
        return false;
    }
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(batch, &cx)));
    let sink_dropped = cx.dropped.get() - already_dropped;
    let undelivered = batch.len() - sink_dropped.min(batch.len());
    match outcome {
        Ok(Ok(())) => {
            inner.counters.sent(undelivered);
            cx.dropped.get() == 0
        }
        Ok(Err(err)) => {
            log::warn!("Telemetry sink {name} could not deliver {undelivered} events: {err}");
            inner.counters.dropped(err.reason(), undelivered);
            false
        }
        Err(_) => {
            log::error!("Telemetry sink {name} panicked; {undelivered} events dropped.");
            inner.counters.failed();
            inner.counters.dropped(DropReason::SinkError, undelivered);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Value {
        let mut value = Value::UInt(1);
        for _ in 0..depth {
            value = Value::List(vec![value]);
        }
        value
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        assert!(!too_deep(&nested(MAX_DEPTH)));
        assert!(too_deep(&nested(MAX_DEPTH + 1)));
        let deep = nested(200_000);
        assert!(too_deep(&deep));
        dismantle(Properties::new().with("deep", deep));
    }
}
