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
    /// Captures a typed event. Never blocks: when the queue is full the event
    /// is dropped and counted.
    #[inline]
    pub fn capture<E: TelemetryEvent>(&self, event: &E) {
        self.capture_timed(event, None);
    }

    /// Captures a typed event that happened at `time` (for example one read
    /// from a log, or recorded while offline): it is sent with that
    /// timestamp, in UTC, instead of the time of the call.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, Level, Telemetry, TelemetryEvent};
    /// /// A build finished.
    /// #[derive(TelemetryEvent)]
    /// struct BuildFinished {
    ///     ok: bool,
    /// }
    /// # let memory = MemorySink::new();
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(memory.clone()))?;
    /// // 2025-01-02T08:34:05+05:30, read from a log by the program.
    /// let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_787_045);
    /// telemetry.capture_at(&BuildFinished { ok: true }, when);
    /// telemetry.flush(std::time::Duration::from_secs(5));
    /// assert_eq!(memory.events()[0]["timestamp"], "2025-01-02T03:04:05.000Z");
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    pub fn capture_at<E: TelemetryEvent>(&self, event: &E, time: SystemTime) {
        self.capture_timed(event, Some(time));
    }

    #[inline]
    fn capture_timed<E: TelemetryEvent>(&self, event: &E, time: Option<SystemTime>) {
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

    /// Captures a declared event with properties built at run time. Never
    /// blocks. Each property is checked against the declaration (see
    /// [`event!`](crate::event)): one it does not declare, or whose value has
    /// another type, is left out and counted as
    /// [`Stats::undeclared`]; the others are classified as declared.
    pub fn capture_with(&self, event: &DynamicEvent, properties: Properties) {
        self.capture_with_timed(event, properties, None);
    }

    /// Captures an instrumented call's event (see
    /// [`capture_with`](Telemetry::capture_with)) with its span, which the
    /// OTLP sink sends on the routes that ask for spans.
    pub(crate) fn capture_call(&self, event: &DynamicEvent, properties: Properties, span: SpanIds) {
        self.capture_dynamic(event, properties, None, Some(span));
    }

    fn capture_with_timed(&self, event: &DynamicEvent, properties: Properties, time: Option<SystemTime>) {
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

    /// Adds one to a declared counter (see [`counter!`](crate::counter)).
    /// Counters are kept in memory and sent as one event per series (the
    /// name, the labels and a `count`) each flush interval and at flush, so
    /// frequent actions cost almost nothing on the wire.
    ///
    /// The label values are given in the declared order, typed: the
    /// label's enum for one label, a tuple of them for more, `()` for none.
    ///
    /// ```
    /// # use telemetry_runtime::{testing::MemorySink, Config, Level, Telemetry, TelemetryProperty};
    /// #[derive(TelemetryProperty, Clone, Copy)]
    /// enum Status {
    ///     Ok,
    ///     Error,
    /// }
    ///
    /// telemetry_runtime::counter! {
    ///     /// Tool calls, by outcome.
    ///     static TOOL_CALLS = "tool_calls", labels: [status: Status];
    /// }
    /// # let memory = MemorySink::new();
    /// # let telemetry = Telemetry::new(Config::new("doc", "1").consent(Level::Usage).sink(memory.clone()))?;
    /// for _ in 0..1000 {
    ///     telemetry.increment(&TOOL_CALLS, Status::Ok);
    /// }
    /// assert!(telemetry.flush(std::time::Duration::from_secs(5)));
    /// let events = memory.events();
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0]["properties"]["count"], 1000);
    /// # Ok::<(), telemetry_runtime::ConfigError>(())
    /// ```
    #[inline]
    pub fn increment<L: Labels>(&self, counter: &Counter<L>, values: L) {
        self.add(counter, values, 1);
    }

    /// Adds `n` to a declared counter; see [`increment`](Telemetry::increment).
    pub fn add<L: Labels>(&self, counter: &Counter<L>, values: L, n: u64) {
        if !self.is_enabled() {
            return;
        }
        self.inner.ensure_worker();
        counter.with_series(&values, |series| self.inner.aggregates.add(counter.name(), series, n));
    }
}
