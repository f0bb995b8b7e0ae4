//! Capturing: typed and declared events packed on the caller's thread,
//! sampling, and counters, without blocking or allocating.

use super::*;

/// A scratch buffer larger than this (after an unusually large event) is
/// freed rather than kept for the thread's next capture.
const MAX_SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    /// Each thread's buffer for packing a typed event's properties.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Telemetry {
    #[inline]
    pub(super) fn capture_timed<E: TelemetryEvent>(&self, event: &E, time: Option<SystemTime>) {
        let Some((level, rate)) = self.admits(E::SCHEMA.min_level, E::SCHEMA.sample_rate) else { return };
        self.enqueue_packed(E::SCHEMA.name, E::SCHEMA.min_level, rate, time, None, |properties| {
            event.write_properties(level, properties);
        });
    }

    /// The level to capture at and the sample rate in force, for an event
    /// of `min_level` and its own `sample_rate`; `None` when it is not
    /// captured (consent below it, or sampled out, counted).
    #[inline]
    fn admits(&self, min_level: Level, sample_rate: f64) -> Option<(Level, f64)> {
        let level = self.level();
        if level < min_level || level == Level::Off {
            return None;
        }
        let rate = sample_rate * self.inner.sample_rate;
        if rate < 1.0 && !self.inner.keep(rate) {
            return None;
        }
        Some((level, rate))
    }

    /// Packs an event's properties with `pack` into this thread's scratch
    /// buffer and queues it: the queue copies the bytes into its own
    /// buffer, so nothing is allocated per event.
    #[inline]
    fn enqueue_packed(
        &self,
        name: &'static str,
        min_level: Level,
        rate: f64,
        time: Option<SystemTime>,
        span: Option<SpanIds>,
        pack: impl FnOnce(&mut Properties),
    ) {
        let mut properties = Properties::from_buffer(SCRATCH.try_with(Cell::take).unwrap_or_default());
        pack(&mut properties);
        if rate < 1.0 {
            properties.push("$sample_rate", Level::Usage, &Value::Float(rate));
        }
        let mut record = Record::at(Cow::Borrowed(name), time);
        if let Some(span) = span {
            properties.end_with_span(&span.to_bytes());
            record.kind = RecordKind::Call;
        }
        record.min_level = min_level;
        record.consent = self.inner.consent_level();
        self.inner.enqueue(record, &properties);
        let buffer = properties.into_buffer();
        if buffer.capacity() <= MAX_SCRATCH_BYTES {
            let _ = SCRATCH.try_with(|scratch| scratch.set(buffer));
        }
    }

    /// Captures an instrumented call's event (see
    /// [`capture_with`](Telemetry::capture_with)) with its span, which the
    /// OTLP sink sends on the routes that ask for spans.
    pub(crate) fn capture_call(&self, event: &DynamicEvent, properties: Properties, span: SpanIds) {
        self.capture_dynamic(event, properties, None, Some(span));
    }

    #[inline]
    pub(super) fn capture_with_timed(
        &self,
        event: &DynamicEvent,
        properties: Properties,
        time: Option<SystemTime>,
    ) {
        self.capture_dynamic(event, properties, time, None);
    }

    fn capture_dynamic(
        &self,
        event: &DynamicEvent,
        properties: Properties,
        time: Option<SystemTime>,
        span: Option<SpanIds>,
    ) {
        let schema = event.schema();
        let Some((level, rate)) = self.admits(schema.min_level, schema.sample_rate) else { return };
        if properties.too_deep() {
            // Its too-deep value is already null: refuse the whole event, as
            // `enqueue` does for typed events.
            log::warn!("Telemetry event {:?} nests lists deeper than {MAX_DEPTH}: dropped.", schema.name);
            self.inner.counters.dropped(DropReason::Invalid, 1);
            return;
        }
        self.enqueue_packed(schema.name, schema.min_level, rate, time, span, |classified| {
            let refused = event.classify(level, &properties, classified);
            if refused > 0 {
                self.inner.counters.undeclared(refused);
            }
        });
    }
}
