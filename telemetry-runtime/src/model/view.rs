//! What a sink sees of an event: a borrowed, typed view of it, read from the
//! packed form the caller wrote (the reader is in `properties`), with the
//! consent level it is shown at applied.
//!
//! Each sink encodes its own format from these views; none of them sees the
//! packed bytes, and none gets a property the level it is sent at excludes.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use crate::model::event::{Record, Records};
use crate::model::packed::read::{entries, fields, list_items, Entries, Packed};
use crate::model::period::PeriodCounts;
use crate::model::span::SpanIds;
use crate::model::text::{KeyedHash, Text};
use crate::Level;

/// Library name sent as `$lib`.
pub(crate) const LIB_NAME: &str = "telemetry-runtime";
/// Library version sent as `$lib_version`.
pub(crate) const LIB_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Gives the install's key for hashed values.
pub(crate) type HashKeySource = Arc<dyn Fn() -> (u64, u64) + Send + Sync>;

/// What the events prepared together share: who sent them (the anonymous
/// install id) and the standard properties of the program that sent them.
pub(crate) struct EventContext {
    pub(crate) distinct_id: String,
    /// The identity generation `distinct_id` belongs to: after a reset, the
    /// events are stale and never sent.
    pub(crate) generation: u64,
    pub(crate) session_id: String,
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) os: Cow<'static, str>,
    pub(crate) arch: Cow<'static, str>,
    pub(crate) os_version: Option<String>,
    pub(crate) lib_version: Cow<'static, str>,
    pub(crate) catalog_digest: String,
    /// Whether events carry `$geoip_disable: true`, so that PostHog looks
    /// up no location from the sender's IP address.
    pub(crate) geoip_disable: bool,
    /// Where the key of hashed values comes from (the install's hash key),
    /// called only when a hashed value is read; events read back from the
    /// spool have none: theirs are already keyed.
    pub(crate) hash_key_source: Option<HashKeySource>,
    pub(crate) hash_key: OnceLock<(u64, u64)>,
    /// Set on the context of a period's report (see
    /// [`Route::per_period`](crate::Route::per_period)): the period and
    /// its counts, which the OTLP sink sends as sums. A report has no
    /// session id.
    pub(crate) report: Option<Arc<PeriodCounts>>,
}

impl fmt::Debug for EventContext {
    /// Without the install id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("app_name", &self.app_name)
            .field("app_version", &self.app_version)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl EventContext {
    /// The anonymous install id (PostHog's `distinct_id`).
    pub(crate) fn distinct_id(&self) -> &str {
        &self.distinct_id
    }
    /// The application's name, as configured.
    pub(crate) fn app_name(&self) -> &str {
        &self.app_name
    }
    /// The application's version, as configured.
    pub(crate) fn app_version(&self) -> &str {
        &self.app_version
    }
    /// The standard properties every event carries (`$lib`, `$app_name`,
    /// `$os`, `$session_id`, ...), as the catalog lists them
    /// ([`Catalog::to_markdown`](crate::Catalog::to_markdown) lists them);
    /// `$os_version` only where it is known, and `$session_id` on no
    /// report by period.
    pub(crate) fn standard_properties(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let report = self.report.is_some();
        [
            ("$lib", LIB_NAME),
            ("$lib_version", &self.lib_version),
            ("$app_name", &self.app_name),
            ("$app_version", &self.app_version),
            ("$os", &self.os),
            ("$arch", &self.arch),
            ("$session_id", &self.session_id),
            ("$catalog_digest", &self.catalog_digest),
        ]
        .into_iter()
        .filter(move |(name, _)| !(report && *name == "$session_id"))
        .chain(self.os_version.as_deref().map(|version| ("$os_version", version)))
    }

    /// The period and counts of a report by period.
    pub(crate) fn report(&self) -> Option<&PeriodCounts> {
        self.report.as_deref()
    }

    fn hash_key(&self) -> (u64, u64) {
        *self.hash_key.get_or_init(|| self.hash_key_source.as_ref().map_or((0, 0), |source| source()))
    }
}

/// Events prepared together: their records and the context they share.
pub(crate) struct Prepared {
    pub(crate) records: Records,
    pub(crate) context: Arc<EventContext>,
}

/// One event of a batch: which prepared event, its uuid, and the levels it
/// is shown at and needs.
#[derive(Clone)]
pub(crate) struct Queued {
    pub(crate) prepared: Arc<Prepared>,
    pub(crate) index: usize,
    pub(crate) uuid: Uuid,
    /// The level its properties are shown at: those above are left out.
    pub(crate) shown: Level,
    /// The consent level it takes to send it as shown.
    pub(crate) needs: Level,
}

impl Queued {
    /// The event as a sink sees it; `None` only if the index is wrong,
    /// which the worker never makes.
    pub(crate) fn view(&self) -> Option<EventView<'_>> {
        let (record, properties) = self.prepared.records.get_with_span(self.index)?;
        Some(EventView {
            record,
            properties,
            context: &self.prepared.context,
            uuid: self.uuid,
            shown: self.shown,
            needs: self.needs,
        })
    }
}

/// One event copied out of its batch, so that keeping it does not keep the
/// whole batch's records alive (the record of recent deliveries).
pub(crate) struct Kept {
    record: Record,
    /// Its packed properties, and a call's span after them.
    properties: Vec<u8>,
    context: Arc<EventContext>,
    uuid: Uuid,
    shown: Level,
    needs: Level,
}

impl Kept {
    /// The event as a sink saw it.
    pub(crate) fn view(&self) -> EventView<'_> {
        EventView {
            record: &self.record,
            properties: &self.properties,
            context: &self.context,
            uuid: self.uuid,
            shown: self.shown,
            needs: self.needs,
        }
    }
}

impl Queued {
    /// A copy of the event that holds nothing of its batch but the context.
    pub(crate) fn kept(&self) -> Option<Kept> {
        let (record, properties) = self.prepared.records.get_with_span(self.index)?;
        Some(Kept {
            record: record.clone(),
            properties: properties.to_vec(),
            context: Arc::clone(&self.prepared.context),
            uuid: self.uuid,
            shown: self.shown,
            needs: self.needs,
        })
    }

    /// The identity generation of its install id.
    pub(crate) fn generation(&self) -> u64 {
        self.prepared.context.generation
    }
}

/// One event, as a sink sees it: typed, borrowed from the batch, with only
/// the properties the consent level it is sent at allows (a redacted value
/// is already its marker, length or keyed hash; no sink ever sees more).
///
/// ```
/// use telemetry_runtime::sink::{Batch, SendContext, Sink, SinkError, ValueRef};
///
/// /// Prints `name key=value ...` lines.
/// struct Lines;
///
/// impl Sink for Lines {
///     fn name(&self) -> &str {
///         "lines"
///     }
///     fn send(&mut self, batch: &Batch, _cx: &SendContext<'_>) -> Result<(), SinkError> {
///         for event in batch.events() {
///             let mut line = event.name().to_owned();
///             for (name, value) in event.properties() {
///                 if let ValueRef::Text(text) = value {
///                     line.push_str(&format!(" {name}={text}"));
///                 }
///             }
///             println!("{line}");
///         }
///         Ok(())
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct EventView<'a> {
    record: &'a Record,
    /// The packed properties, and a call's span after them.
    properties: &'a [u8],
    context: &'a EventContext,
    uuid: Uuid,
    shown: Level,
    needs: Level,
}

impl<'a> EventView<'a> {
    /// The event name.
    pub fn name(&self) -> &'a str {
        &self.record.name
    }
    /// The event's id, the same on every try and every sink: receivers can
    /// de-duplicate by it. A version 7 uuid: the capture time to the
    /// millisecond, then random bits.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }
    /// When the event was captured.
    pub fn time(&self) -> SystemTime {
        self.record.time()
    }
    /// When the event was captured, as time since the Unix epoch (what
    /// encoders write), without a `SystemTime` in between.
    pub(crate) fn since_epoch(&self) -> Duration {
        self.record.since_epoch()
    }
    /// The id the event is sent with: the anonymous install id unless the
    /// program chose another ([`DistinctId`](crate::DistinctId)).
    pub fn distinct_id(&self) -> &'a str {
        &self.context.distinct_id
    }
    /// The consent level it takes to send this event as shown: it may be
    /// sent only while consent is at least this level.
    pub(crate) fn required_level(&self) -> Level {
        self.needs
    }
    /// Whether this is an aggregated counter (its properties are the labels
    /// and [`count`](EventView::count)) rather than a single event.
    pub(crate) fn is_counter(&self) -> bool {
        self.record.is_counter()
    }
    /// A counter's count since the last one was sent; `None` for an event.
    pub(crate) fn count(&self) -> Option<u64> {
        if !self.is_counter() {
            return None;
        }
        match self.property("count")? {
            ValueRef::UInt(count) => Some(count),
            ValueRef::Int(count) => u64::try_from(count).ok(),
            _ => None,
        }
    }
    /// The properties, name and value, in the order they were written.
    /// Null values (and floats JSON cannot carry) are left out, as are
    /// properties above the level the event is sent at.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, ValueRef<'a>)> + Clone + 'a {
        self.entries().map(|property| (property.name(), property.value))
    }
    /// [`properties`](EventView::properties) with what the library's
    /// encoders use besides: the name's bytes, unchecked, and whether it
    /// needs escaping in JSON.
    pub(crate) fn entries(&self) -> PropertyIter<'a> {
        let packed = self.record.properties_in(self.properties);
        PropertyIter { entries: entries(packed), shown: self.shown, context: self.context }
    }
    /// The value of one property, if the event has it at this level.
    pub(crate) fn property(&self, name: &str) -> Option<ValueRef<'a>> {
        self.entries().find(|property| property.name == name.as_bytes()).map(|property| property.value)
    }
    /// What the event shares with the others prepared with it: the install
    /// id and the standard properties.
    pub(crate) fn context(&self) -> &'a EventContext {
        self.context
    }
    /// The identity generation its install id belongs to.
    pub(crate) fn generation(&self) -> u64 {
        self.context.generation
    }
    /// The span of an instrumented call: its trace, its id, its parent's
    /// and its start. `None` for other events (and for a call read back
    /// from the spool, which keeps no span).
    pub(crate) fn span(&self) -> Option<SpanIds> {
        self.record.span(self.properties)
    }
}

impl fmt::Debug for EventView<'_> {
    /// Name, uuid, time and level: not the install id or the properties.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventView")
            .field("name", &self.name())
            .field("uuid", &self.uuid)
            .field("time", &self.time())
            .field("level", &self.needs)
            .field("counter", &self.is_counter())
            .finish_non_exhaustive()
    }
}

/// The properties of an event, or the fields of an object.
#[derive(Clone)]
pub(crate) struct PropertyIter<'a> {
    entries: Entries<'a>,
    shown: Level,
    context: &'a EventContext,
}

impl fmt::Debug for PropertyIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropertyIter").finish_non_exhaustive()
    }
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = Property<'a>;

    // Inlined into the encoders, as the packed reader is into it.
    #[inline(always)]
    fn next(&mut self) -> Option<Property<'a>> {
        loop {
            let entry = self.entries.next()?;
            if entry.level > self.shown || entry.value.is_omitted() {
                continue;
            }
            return Some(Property {
                name: entry.name,
                name_is_clean: entry.name_is_clean,
                value: ValueRef::new(entry.value, self.shown, self.context),
            });
        }
    }
}

/// One property of an event (or field of an object): its name and value.
#[derive(Clone)]
pub(crate) struct Property<'a> {
    /// UTF-8 (it was a `&str` when it was packed), checked only when a
    /// sink asks for it as text: PostHog's encoder copies the bytes.
    name: &'a [u8],
    /// The name needs no escaping in JSON.
    name_is_clean: bool,
    value: ValueRef<'a>,
}

impl fmt::Debug for Property<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Property").field("name", &self.name()).field("value", &self.value).finish()
    }
}

impl<'a> Property<'a> {
    /// The property's name.
    pub(crate) fn name(&self) -> &'a str {
        std::str::from_utf8(self.name).unwrap_or_default()
    }
    /// The name's bytes (UTF-8), unchecked.
    pub(crate) fn name_bytes(&self) -> &'a [u8] {
        self.name
    }
    /// Its value (moved out: a value is not `Copy`, a list and an object
    /// being iterators).
    #[inline(always)]
    pub(crate) fn value(self) -> ValueRef<'a> {
        self.value
    }
    /// Whether the name goes into a JSON string as it is.
    pub(crate) fn name_is_clean(&self) -> bool {
        self.name_is_clean
    }
}

/// A property's value, borrowed from the event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ValueRef<'a> {
    /// A missing value inside a list, which keeps its place (properties
    /// and object fields that are null are left out instead).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A float. Inside a list it may be infinite or NaN, which JSON writes
    /// as null.
    Float(f64),
    /// Text.
    Text(Text<'a>),
    /// A uuid.
    Uuid(Uuid),
    /// A redacted value's keyed hash: 32 hex digits.
    Hashed(KeyedHash),
    /// A list.
    List(ListRef<'a>),
    /// An object (a `#[derive(TelemetryProperty)]` struct or a map): its
    /// fields, filtered like an event's properties.
    Object(ObjectRef<'a>),
}

impl<'a> ValueRef<'a> {
    #[inline(always)]
    fn new(packed: Packed<'a>, shown: Level, context: &'a EventContext) -> ValueRef<'a> {
        match packed {
            Packed::Null => ValueRef::Null,
            Packed::Bool(b) => ValueRef::Bool(b),
            Packed::Int(i) => ValueRef::Int(i),
            Packed::UInt(u) => ValueRef::UInt(u),
            Packed::Float(f) => ValueRef::Float(f),
            Packed::Text(text) => ValueRef::Text(Text(text)),
            Packed::Uuid(u) => ValueRef::Uuid(u),
            Packed::Hashed(digest) => ValueRef::Hashed(KeyedHash(digest.keyed(context.hash_key()))),
            Packed::Keyed(hex) => ValueRef::Hashed(KeyedHash(hex)),
            Packed::List(count, items) => ValueRef::List(ListRef { count, items, shown, context }),
            Packed::Object(count, fields) => ValueRef::Object(ObjectRef { count, fields, shown, context }),
        }
    }
}

/// A list's items, in order: an iterator of [`ValueRef`]s, where a missing
/// item is [`ValueRef::Null`].
///
/// One type for the list and its iteration, with `next` inlined where a
/// list is written: left to the optimizer, a `map` over the packed items
/// made the PostHog encoder's list loop call an out-of-line `Map::next` per
/// item (measured with `capture_loop posthog-batch` under callgrind; see
/// `BENCHMARKS.md`, "Changes to the hot path, and what each gave").
///
/// Like [`ObjectRef`], it holds what is still to read as packed (a count
/// and the bytes), flat: a value is read for every property the worker
/// encodes, and a `ValueRef` 8 bytes larger (a reader's state nested in
/// here, with its padding) cost the PostHog encoder about 170 instructions
/// per event (`capture_loop posthog-batch` under callgrind).
#[derive(Clone)]
pub struct ListRef<'a> {
    count: u32,
    items: &'a [u8],
    shown: Level,
    context: &'a EventContext,
}

impl<'a> Iterator for ListRef<'a> {
    type Item = ValueRef<'a>;

    #[inline(always)]
    fn next(&mut self) -> Option<ValueRef<'a>> {
        let mut items = list_items(self.count, self.items);
        let item = items.next();
        (self.count, self.items) = items.rest();
        Some(ValueRef::new(item?, self.shown, self.context))
    }
}

impl fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// An object's fields that the level allows, in order: an iterator of
/// names and values, where null fields are left out.
///
/// It holds the fields still to read as packed (a count and their bytes),
/// not a reader's state, for the reason [`ListRef`] gives.
#[derive(Clone)]
pub struct ObjectRef<'a> {
    count: u32,
    fields: &'a [u8],
    shown: Level,
    context: &'a EventContext,
}

impl<'a> Iterator for ObjectRef<'a> {
    type Item = (&'a str, ValueRef<'a>);

    fn next(&mut self) -> Option<(&'a str, ValueRef<'a>)> {
        let mut entries = self.entries();
        let field = entries.next();
        (self.count, self.fields) = entries.entries.rest();
        field.map(|field| (field.name(), field.value))
    }
}

impl<'a> ObjectRef<'a> {
    /// The fields as the library's encoders read them.
    pub(crate) fn entries(&self) -> PropertyIter<'a> {
        PropertyIter { entries: fields(self.count, self.fields), shown: self.shown, context: self.context }
    }
}

impl fmt::Debug for ObjectRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.clone()).finish()
    }
}

/// Views made in tests, as the worker makes them.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::Properties;

    /// A context with these values and no hash key source.
    pub(crate) fn context(distinct_id: &str, app_version: &str) -> EventContext {
        EventContext {
            distinct_id: distinct_id.to_owned(),
            generation: 0,
            session_id: "s-1".to_owned(),
            app_name: "demo".to_owned(),
            app_version: app_version.to_owned(),
            os: Cow::Borrowed(std::env::consts::OS),
            arch: Cow::Borrowed(std::env::consts::ARCH),
            os_version: None,
            lib_version: Cow::Borrowed(LIB_VERSION),
            catalog_digest: "0123456789abcdef".to_owned(),
            geoip_disable: true,
            hash_key_source: Some(Arc::new(|| (1, 2))),
            hash_key: OnceLock::new(),
            report: None,
        }
    }

    /// The events, prepared together, each shown at `shown`.
    pub(crate) fn queued(
        context: EventContext,
        events: Vec<(Record, Properties)>,
        shown: Level,
    ) -> Vec<Queued> {
        let mut records = Records::default();
        for (record, properties) in &events {
            records.push(record.clone(), properties);
        }
        let prepared = Arc::new(Prepared { records, context: Arc::new(context) });
        (0..events.len())
            .map(|index| Queued {
                prepared: Arc::clone(&prepared),
                index,
                uuid: crate::model::event::event_uuid(events[index].0.since_epoch()),
                shown,
                needs: Level::Usage,
            })
            .collect()
    }
}
