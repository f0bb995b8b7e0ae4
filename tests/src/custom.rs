//! A sink of the application's own, as a user would write one: it encodes
//! the typed views it is given with its own [`RequestEncoder`] and sends
//! them with the library's [`HttpTransport`]. It keeps a record of what it
//! was given ([`Seen`]) and of every request its encoder built, so a test
//! can compare what the sink saw, what it wrote and what arrived.
//!
//! [`Envelope`] is such an encoder: `POST {url}` with the body
//! `{"source":"<app>","events":[{"name","id","time_ms","level","properties"},...],"count":N}`
//! (no `batch` key: the server's catalog check, which reads PostHog
//! batches, does not read it).

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use serde_json::{json, Map, Value as Json};
use telemetry_runtime::sink::{
    Batch, EventView, HttpTransport, Request as Built, RequestEncoder, SendContext, Sink, SinkError, ValueRef,
};
use telemetry_runtime::Level;

use crate::server::Request;

/// A property value as JSON: a keyed hash as its hex digits, a uuid as its
/// hyphenated text, a float JSON cannot carry as null.
pub fn json_of(value: ValueRef<'_>) -> Json {
    match value {
        ValueRef::Bool(b) => json!(b),
        ValueRef::Int(i) => json!(i),
        ValueRef::UInt(u) => json!(u),
        ValueRef::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ValueRef::Text(text) => json!(text.as_str()),
        ValueRef::Uuid(id) => json!(id.to_string()),
        ValueRef::Hashed(hash) => json!(hash.as_str()),
        ValueRef::List(items) => Json::Array(items.iter().map(json_of).collect()),
        ValueRef::Object(object) => Json::Object(
            object.fields().map(|field| (field.name().to_owned(), json_of(field.value()))).collect(),
        ),
        // `ValueRef` may gain variants; `Null` and any new one read as null.
        _ => Json::Null,
    }
}

/// The properties of `event` as a JSON object.
pub fn properties_of(event: &EventView<'_>) -> Map<String, Json> {
    event.properties().map(|property| (property.name().to_owned(), json_of(property.value()))).collect()
}

/// One event as a custom sink was given it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its name.
    pub name: String,
    /// Its uuid, hyphenated.
    pub uuid: String,
    /// The consent level it needs.
    pub level: Level,
    /// Its time, in milliseconds since 1970.
    pub time_ms: u128,
    /// Whether it is a counter, and its count.
    pub count: Option<u64>,
    /// Its properties, as [`json_of`] writes them.
    pub properties: Map<String, Json>,
    /// The names of the properties that came as [`ValueRef::Hashed`].
    pub hashed: Vec<String>,
}

impl Seen {
    fn of(event: &EventView<'_>) -> Seen {
        Seen {
            name: event.name().to_owned(),
            uuid: event.uuid().to_string(),
            level: event.level(),
            time_ms: event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis(),
            count: event.count(),
            properties: properties_of(event),
            hashed: event
                .properties()
                .filter(|property| matches!(property.value(), ValueRef::Hashed(_)))
                .map(|property| property.name().to_owned())
                .collect(),
        }
    }
}

/// One request as the encoder built it, before the transport sent it.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its URL.
    pub url: String,
    /// Its body, uncompressed.
    pub body: Vec<u8>,
}

/// What a [`Custom`] sink recorded; readable after the sink was handed to
/// the client.
#[derive(Debug, Clone, Default)]
pub struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
    written: Arc<Mutex<Vec<Written>>>,
    event_calls: Arc<AtomicUsize>,
}

impl Log {
    /// Every event the sink was given, in order, over every call.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Every request the encoder built (including rebuilds for retries and
    /// splits), in order.
    pub fn written(&self) -> Vec<Written> {
        lock(&self.written).clone()
    }

    /// How many times the transport asked the encoder to encode an event.
    pub fn event_calls(&self) -> usize {
        self.event_calls.load(SeqCst)
    }
}

/// A sink of the application's own: `encoder` over `transport`.
pub struct Custom<E> {
    name: String,
    transport: HttpTransport,
    encoder: E,
    log: Log,
}

impl<E: RequestEncoder + Send + 'static> Custom<E> {
    /// A sink named `name` (what logs show) sending with `transport`.
    pub fn new(name: &str, transport: HttpTransport, encoder: E) -> Custom<E> {
        Custom { name: name.to_owned(), transport, encoder, log: Log::default() }
    }

    /// Its record of what it saw and built.
    pub fn log(&self) -> Log {
        self.log.clone()
    }
}

impl<E: RequestEncoder + Send + 'static> Sink for Custom<E> {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let events: Vec<EventView<'_>> = batch.events().collect();
        lock(&self.log.seen).extend(events.iter().map(Seen::of));
        let mut recording = Recording { inner: &mut self.encoder, log: &self.log };
        self.transport.send(&events, cx, &mut recording);
        Ok(())
    }
}

/// An encoder that keeps a copy of each request `inner` built.
struct Recording<'a> {
    inner: &'a mut dyn RequestEncoder,
    log: &'a Log,
}

impl RequestEncoder for Recording<'_> {
    fn max_events(&self) -> usize {
        self.inner.max_events()
    }
    fn begin(&mut self, request: &mut Built, first: &EventView<'_>) {
        self.inner.begin(request, first);
    }
    fn event(&mut self, request: &mut Built, index: usize, event: &EventView<'_>) {
        self.log.event_calls.fetch_add(1, SeqCst);
        self.inner.event(request, index, event);
    }
    fn end(&mut self, request: &mut Built) {
        self.inner.end(request);
        lock(&self.log.written).push(Written { url: request.url.clone(), body: request.body.clone() });
    }
}

/// `POST {url}` of `{"source":"<app>","events":[...],"count":N}`, each
/// event `{"name","id","time_ms","level","properties"}`; see the module
/// docs. At most `max_events` events a request.
///
/// The transport may take an event back out of a request (it truncates the
/// body to where the event began) when it finds it too large or starting
/// the next request, so the count is of the events still in the body.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Where requests go.
    pub url: String,
    /// The most events in one request.
    pub max_events: usize,
    /// Where each event of the request being built begins in its body.
    starts: Vec<usize>,
}

impl Envelope {
    /// An encoder posting to `url`, with no limit on events per request.
    pub fn new(url: impl Into<String>) -> Envelope {
        Envelope { url: url.into(), max_events: usize::MAX, starts: Vec::new() }
    }

    /// At most `max_events` events per request.
    pub fn max_events(mut self, max_events: usize) -> Envelope {
        self.max_events = max_events;
        self
    }
}

impl RequestEncoder for Envelope {
    fn max_events(&self) -> usize {
        self.max_events
    }

    fn begin(&mut self, request: &mut Built, first: &EventView<'_>) {
        self.starts.clear();
        request.url.push_str(&self.url);
        request.headers.push(("X-Shape".into(), "envelope".into()));
        let source = json!(first.context().app_name()).to_string();
        request.body.extend_from_slice(format!("{{\"source\":{source},\"events\":[").as_bytes());
    }

    fn event(&mut self, request: &mut Built, index: usize, event: &EventView<'_>) {
        self.starts.truncate(index);
        self.starts.push(request.body.len());
        if index > 0 {
            request.body.push(b',');
        }
        let time_ms = event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        let item = json!({
            "name": event.name(),
            "id": event.uuid().to_string(),
            "time_ms": time_ms,
            "level": event.level().as_str(),
            "properties": properties_of(event),
        });
        request.body.extend_from_slice(item.to_string().as_bytes());
    }

    fn end(&mut self, request: &mut Built) {
        let count = self.starts.iter().filter(|start| **start < request.body.len()).count();
        request.body.extend_from_slice(format!("],\"count\":{count}}}").as_bytes());
    }
}

/// The events of an [`Envelope`] body, checking that its `count` is theirs.
pub fn envelope_events(request: &Request) -> Vec<Json> {
    let body = request.json();
    let events = body["events"].as_array().cloned().unwrap_or_else(|| panic!("not an envelope: {body}"));
    assert_eq!(body["count"], events.len(), "the envelope's count: {body}");
    events
}

/// The ids of the events of every accepted [`Envelope`] request, in order.
pub fn accepted_envelope_ids(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.accepted())
        .flat_map(envelope_events)
        .map(|event| event["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
