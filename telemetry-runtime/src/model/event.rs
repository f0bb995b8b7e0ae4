//! What callers capture: typed events, and the record queued for the worker.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

pub(crate) use super::random::{mix, random_u64, GAMMA};
use super::span::{SpanIds, SPAN_BYTES};
use crate::{EventSchema, Level, Properties};

/// A typed telemetry event: implemented by `#[derive(TelemetryEvent)]`,
/// whose compile-time audit classifies every field. Sealed: it cannot be
/// implemented by hand, so every event that reaches the wire was audited
/// and is listed in the catalog.
#[allow(deprecated)]
pub trait TelemetryEvent: crate::model::property::Audited {
    /// The event: its name (non-empty snake_case, not starting with `$`),
    /// the lowest consent level at which it is sent at all (`min_level`),
    /// the share of events kept (`sample_rate`, in (0, 1]; kept events
    /// carry `$sample_rate` so counts can be scaled back up), and what each
    /// field sends, as the catalog lists it.
    const SCHEMA: EventSchema;

    /// Writes the properties that may be sent at `level` (never below the
    /// schema's `min_level`).
    fn write_properties(&self, level: Level, out: &mut Properties);
}

/// An event waiting in the queue: classified and timestamped. Its
/// properties are in the buffer of the [`Records`] that hold it.
///
/// Kept small (48 bytes): the queue may hold many, and each is written by
/// the caller. The event's uuid is not here: the worker draws it when it
/// first encodes the event, and it travels with the encoded event, so
/// retries resend it unchanged.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) name: Cow<'static, str>,
    /// When it was captured, in nanoseconds since the Unix epoch.
    time_ns: u64,
    /// Where its packed properties start in the buffer of its [`Records`],
    /// and their length.
    properties_start: usize,
    properties_len: u32,
    /// A single event, an aggregated counter (labels and `count`), or an
    /// instrumented call with its span after its properties.
    pub(crate) kind: RecordKind,
    /// The lowest level at which the event is sent at all (`Full` for an
    /// opt-in event).
    pub(crate) min_level: Level,
    /// The highest level one of its properties needs.
    pub(crate) properties_level: Level,
    /// The vendor's consent level when it was captured: the vendor's sinks
    /// never get it at a higher level, so what was captured for the user's
    /// own sinks alone (consent off, or lower) stays with them.
    pub(crate) consent: Level,
}

/// What a [`Record`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// A single event.
    Event,
    /// An aggregated counter: its labels and `count`.
    Counter,
    /// An instrumented call: an event whose span ([`SpanIds`]) follows its
    /// properties in the buffer.
    Call,
}

impl Record {
    /// Whether it is an aggregated counter.
    pub(crate) fn is_counter(&self) -> bool {
        self.kind == RecordKind::Counter
    }

    pub(crate) fn new(name: Cow<'static, str>) -> Record {
        let mut record = Record {
            name,
            time_ns: 0,
            properties_start: 0,
            properties_len: 0,
            kind: RecordKind::Event,
            min_level: Level::Usage,
            properties_level: Level::Usage,
            consent: Level::Full,
        };
        record.set_time(SystemTime::now());
        record
    }

    /// A record stamped `time`, or now.
    #[inline]
    pub(crate) fn at(name: Cow<'static, str>, time: Option<SystemTime>) -> Record {
        let mut record = Record::new(name);
        if let Some(time) = time {
            record.set_time(time);
        }
        record
    }

    /// Of `bytes`, the record's packed properties and, for a call, its span
    /// after them (as [`Records::get_with_span`] gives them): the
    /// properties.
    pub(crate) fn properties_in<'b>(&self, bytes: &'b [u8]) -> &'b [u8] {
        bytes.get(..self.properties_len as usize).unwrap_or(bytes)
    }

    /// Of `bytes`, as for [`properties_in`](Record::properties_in): the
    /// span of a call, `None` for any other record.
    pub(crate) fn span(&self, bytes: &[u8]) -> Option<SpanIds> {
        if self.kind != RecordKind::Call {
            return None;
        }
        SpanIds::read(bytes.get(self.properties_len as usize..)?)
    }

    /// When the event was captured.
    pub(crate) fn time(&self) -> SystemTime {
        UNIX_EPOCH + self.since_epoch()
    }

    /// When the event was captured, as time since the Unix epoch.
    pub(crate) fn since_epoch(&self) -> Duration {
        Duration::from_nanos(self.time_ns)
    }

    /// Sets the capture time; one before 1970 or after 2554 is clamped.
    pub(crate) fn set_time(&mut self, time: SystemTime) {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        // In u64 arithmetic: this runs on every capture.
        self.time_ns = since
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|ns| ns.checked_add(u64::from(since.subsec_nanos())))
            .unwrap_or(u64::MAX);
    }
}

/// Records and one buffer that holds the packed properties of them all: a
/// queued event costs no allocation of its own, and the buffers are kept
/// and reused from one batch to the next.
#[derive(Debug, Default)]
pub(crate) struct Records {
    records: Vec<Record>,
    properties: Vec<u8>,
}

impl Records {
    /// Adds `record` with a copy of `properties`; returns `false`, adding
    /// nothing, for properties over 4 GiB.
    ///
    /// The properties of a call end with its span ([`SPAN_BYTES`], added by
    /// [`Properties::end_with_span`]): they are kept after the record's
    /// properties, outside their length, for [`Records::span`].
    pub(crate) fn push(&mut self, mut record: Record, properties: &Properties) -> bool {
        let bytes = properties.as_bytes();
        let trailer = if record.kind == RecordKind::Call { SPAN_BYTES } else { 0 };
        let Some(Ok(len)) = bytes.len().checked_sub(trailer).map(u32::try_from) else { return false };
        record.properties_start = self.properties.len();
        record.properties_len = len;
        record.properties_level = properties.max_level();
        self.properties.extend_from_slice(bytes);
        self.records.push(record);
        true
    }

    /// The `index`th record with its packed properties and, for a call,
    /// its span after them (see [`Record::span`]).
    pub(crate) fn get_with_span(&self, index: usize) -> Option<(&Record, &[u8])> {
        let record = self.records.get(index)?;
        let start = record.properties_start;
        let trailer = if record.kind == RecordKind::Call { SPAN_BYTES } else { 0 };
        let bytes = self.properties.get(start..start + record.properties_len as usize + trailer)?;
        Some((record, bytes))
    }

    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// The bytes of packed properties held.
    pub(crate) fn bytes(&self) -> usize {
        self.properties.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Each record with its packed properties.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Record, &[u8])> {
        self.records.iter().map(|record| (record, self.properties(record)))
    }

    /// The records, `n` at a time.
    pub(crate) fn chunks(&self, n: usize) -> std::slice::Chunks<'_, Record> {
        self.records.chunks(n.max(1))
    }

    /// The packed properties of `record`, one of these records.
    pub(crate) fn properties(&self, record: &Record) -> &[u8] {
        let start = record.properties_start;
        self.properties.get(start..start + record.properties_len as usize).unwrap_or_default()
    }

    /// Empties both lists, keeping their memory for the next batch, unless
    /// it is over 1 MiB and four times what this batch used (after a burst).
    pub(crate) fn clear(&mut self) {
        const KEEP_BYTES: usize = 1 << 20;
        let used = self.properties.len();
        let used_records = self.records.len();
        self.records.clear();
        self.properties.clear();
        if self.properties.capacity() > KEEP_BYTES.max(4 * used) {
            self.properties.shrink_to(KEEP_BYTES.max(used));
        }
        let keep_records = KEEP_BYTES / std::mem::size_of::<Record>();
        if self.records.capacity() > keep_records.max(4 * used_records) {
            self.records.shrink_to(keep_records.max(used_records));
        }
    }
}

/// Whether an event with this sample rate is kept this time.
pub(crate) fn sampled(rate: f64) -> bool {
    kept(random_u64(), rate)
}

/// Whether the random draw `bits` keeps an event at `rate`.
pub(crate) fn kept(bits: u64, rate: f64) -> bool {
    // 53 random bits give a uniform float in [0, 1).
    ((bits >> 11) as f64 / (1u64 << 53) as f64) < rate
}

/// The uuid of an event captured `since_epoch`: version 7 (RFC 9562), as
/// PostHog's own SDKs send. Its first 48 bits are the capture time in
/// milliseconds, which the event's `timestamp` carries anyway: uuids sort
/// by capture time, and the events of a request share their leading
/// digits, which gzip then sends as a back-reference instead of a dozen
/// literals (a sixth less deflate time and a quarter fewer bytes per
/// typical event, `BENCHMARKS.md`). The other 74 bits are random. They
/// only need to be unique (they de-duplicate retries), not unpredictable,
/// so a per-thread generator seeded from the OS saves a system call per
/// event.
pub(crate) fn event_uuid(since_epoch: Duration) -> Uuid {
    let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
    let mut random = [0; 10];
    random[..8].copy_from_slice(&random_u64().to_le_bytes());
    random[8..].copy_from_slice(&random_u64().to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Value;
    use std::collections::HashSet;

    #[test]
    fn event_uuids_are_version_7_of_the_capture_time_and_distinct() {
        let captured = Duration::from_millis(1_764_499_295_123) + Duration::from_nanos(456_789);
        let ids: HashSet<Uuid> = (0..10_000).map(|_| event_uuid(captured)).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.get_version(), Some(uuid::Version::SortRand), "{id}");
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
            let (seconds, nanos) = id.get_timestamp().unwrap().to_unix();
            assert_eq!((seconds, nanos), (1_764_499_295, 123_000_000), "{id}: milliseconds of the capture");
        }
        // Later captures sort later.
        assert!(event_uuid(captured + Duration::from_millis(1)) > *ids.iter().max().unwrap());
        let other_thread = std::thread::spawn(move || event_uuid(captured)).join().unwrap();
        assert!(!ids.contains(&other_thread));
    }

    #[test]
    fn a_record_stays_small() {
        // The caller writes one per capture, and a backlog holds many.
        assert!(std::mem::size_of::<Record>() <= 48, "{}", std::mem::size_of::<Record>());
        let mut record = Record::new("timed".into());
        let time = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        record.set_time(time);
        assert_eq!(record.time(), time);
        record.set_time(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(record.time(), UNIX_EPOCH);
    }

    #[test]
    fn records_keep_each_events_properties_apart() {
        let mut records = Records::default();
        for i in 0..25u32 {
            let properties =
                Properties::new().with("i", i).with("text", Value::Text(("x".repeat(i as usize)).into()));
            records.push(Record::new(format!("e{i}").into()), &properties);
        }
        records.push(Record::new("empty".into()), &Properties::new());
        assert_eq!(records.len(), 26);
        for (i, (record, bytes)) in records.iter().take(25).enumerate() {
            assert_eq!(record.name, format!("e{i}"));
            let expected =
                Properties::new().with("i", i as u32).with("text", Value::Text("x".repeat(i).into()));
            assert_eq!(bytes, expected.as_bytes());
        }
        let chunks: Vec<usize> = records.chunks(10).map(<[Record]>::len).collect();
        assert_eq!(chunks, [10, 10, 6]);
        let last = records.chunks(10).last().unwrap().last().unwrap();
        assert!(records.properties(last).is_empty());
        records.clear();
        assert!(records.is_empty());
    }

    #[test]
    fn records_give_back_memory_after_a_burst_only() {
        let mut records = Records::default();
        let big = Properties::new().with("text", Value::Text("x".repeat(4096).into()));
        for _ in 0..1024 {
            records.push(Record::new("burst".into()), &big);
        }
        records.clear();
        let after_burst = records.properties.capacity();
        for _ in 0..1024 {
            records.push(Record::new("burst".into()), &big);
        }
        // A round like the last keeps the memory it had...
        records.clear();
        assert_eq!(records.properties.capacity(), after_burst);
        // ...and a much smaller one lets it go, down to 1 MiB.
        records.push(Record::new("small".into()), &Properties::new());
        records.clear();
        assert!(records.properties.capacity() <= 1 << 20, "{}", records.properties.capacity());
    }

    #[test]
    fn sampling_keeps_about_the_rate() {
        let kept = (0..20_000).filter(|_| sampled(0.25)).count();
        assert!((4_000..6_000).contains(&kept), "{kept}");
        assert!((0..1000).all(|_| sampled(1.0)));
        assert!((0..1000).all(|_| !sampled(0.0)));
    }
}
