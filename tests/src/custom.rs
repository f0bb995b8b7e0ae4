//! A sink of the application's own, as a user would write one with the
//! library's sink contract: it reads the typed views it is given and posts
//! them, one request per batch, as an envelope with `ureq`. It keeps a
//! record of what it was given ([`Seen`]), so a test can compare what the
//! sink saw and what arrived.
//!
//! The envelope: `POST {url}` with the body
//! `{"events":[{"name","id","time_ms","properties"},...],"count":N}` (no
//! `batch` key: the server's catalog check, which reads PostHog batches,
//! does not read it).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};
use telemetry_runtime::sink::{Batch, EventView, SendContext, Sink, SinkError, ValueRef};
use telemetry_runtime::DropReason;

use crate::server::Request;

/// A property value as JSON: a keyed hash as its hex digits, a uuid as its
/// hyphenated text, a float JSON cannot carry as null.
pub fn json_of(value: ValueRef<'_>) -> Json {
    match value {
        ValueRef::Bool(b) => json!(b),
        ValueRef::Int(i) => json!(i),
        ValueRef::UInt(u) => json!(u),
        ValueRef::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ValueRef::Text(text) => json!(text.as_ref()),
        ValueRef::Uuid(id) => json!(id.to_string()),
        ValueRef::Hashed(hash) => json!(hash.to_string()),
        ValueRef::List(items) => Json::Array(items.map(json_of).collect()),
        ValueRef::Object(object) => {
            Json::Object(object.map(|(name, value)| (name.to_owned(), json_of(value))).collect())
        }
        // `ValueRef` may gain variants; `Null` and any new one read as null.
        _ => Json::Null,
    }
}

/// The properties of `event` as a JSON object.
pub fn properties_of(event: &EventView<'_>) -> Map<String, Json> {
    event.properties().map(|(name, value)| (name.to_owned(), json_of(value))).collect()
}

/// One event as a custom sink was given it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its name.
    pub name: String,
    /// Its uuid, hyphenated.
    pub uuid: String,
    /// Its time, in milliseconds since 1970.
    pub time_ms: u128,
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
            time_ms: event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis(),
            properties: properties_of(event),
            hashed: event
                .properties()
                .filter(|(_, value)| matches!(value, ValueRef::Hashed(_)))
                .map(|(name, _)| name.to_owned())
                .collect(),
        }
    }
}

/// What a [`Custom`] sink recorded; readable after the sink was handed to
/// the client.
#[derive(Debug, Clone, Default)]
pub struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Log {
    /// Every event the sink was given, in order, over every call.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }
}

/// A sink of the application's own, posting each batch as an envelope to
/// `url`.
pub struct Custom {
    name: String,
    url: String,
    agent: ureq::Agent,
    log: Log,
}

impl Custom {
    /// A sink named `name` (what logs show) posting to `url`.
    pub fn new(name: &str, url: impl Into<String>) -> Custom {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Custom { name: name.to_owned(), url: url.into(), agent, log: Log::default() }
    }

    /// Its record of what it saw.
    pub fn log(&self) -> Log {
        self.log.clone()
    }
}

impl Sink for Custom {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        lock(&self.log.seen).extend(batch.events().map(|event| Seen::of(&event)));
        if !cx.may_send() {
            return Err(SinkError::new(DropReason::Shutdown, "not sent: consent or the deadline"));
        }
        let events: Vec<Json> = batch
            .events()
            .map(|event| {
                let time_ms = event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
                json!({
                    "name": event.name(),
                    "id": event.uuid().to_string(),
                    "time_ms": time_ms,
                    "properties": properties_of(&event),
                })
            })
            .collect();
        let body = json!({ "count": events.len(), "events": events }).to_string();
        match self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Shape", "envelope")
            .send(body.as_bytes())
        {
            Ok(answer) if answer.status().is_success() => Ok(()),
            Ok(answer) => {
                Err(SinkError::new(DropReason::Undeliverable, format!("answered {}", answer.status())))
            }
            Err(err) => Err(SinkError::new(DropReason::Undeliverable, err)),
        }
    }
}

/// The events of an envelope body, checking that its `count` is theirs.
pub fn envelope_events(request: &Request) -> Vec<Json> {
    let body = request.json();
    let events = body["events"].as_array().cloned().unwrap_or_else(|| panic!("not an envelope: {body}"));
    assert_eq!(body["count"], events.len(), "the envelope's count: {body}");
    events
}

/// The ids of the events of every accepted envelope request, in order.
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
