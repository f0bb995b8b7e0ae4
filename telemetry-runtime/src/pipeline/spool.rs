//! The on-disk spool (off by default): every batch for a remote sink is
//! written here before it is sent and deleted once the sink is done with it,
//! so a program that exits before delivery (or is cut off by shutdown's
//! deadline) delivers on its next run, oldest first.
//!
//! # Which sink a batch goes back to
//!
//! A batch is stored with the identity of the sink and route it was written
//! for, never a sink's name: a fingerprint of what the sink sends to (its
//! kind and endpoint, with a hash of its key, headers or body fields), its
//! route, and its position among sinks that are alike in both. The route
//! itself is stored too. On replay the batch goes to the configured sink
//! with the same identity and route, and to no other; the route's event
//! filter and level cap and the consent in force then are applied again, so
//! a replay never sends what that sink would not get today (what consent no
//! longer allows is dropped and counted as `ConsentWithdrawn`). A batch whose
//! sink is no longer configured is deleted unsent and counted as
//! `Undeliverable`. Keys never reach the file, only their hash within the
//! fingerprint.
//!
//! # Claims: one sender per file
//!
//! A file waiting to be sent is `<written>-<id>.batch`. Whoever sends it
//! first renames it to `<written>-<id>.<pid>-<instance>-<claimed>.claim`
//! (process id, a random number drawn once per process, seconds since
//! 1970): a rename is atomic, so of two processes (or two clients of one
//! process) that try at once, exactly one gets the file. A batch being
//! written is created claimed, so no other process sends a batch in flight.
//! Once the sink is done, the claim is deleted; if some events wait for a
//! later try, only those are written back as a new `.batch` (atomically, the
//! whole file or nothing), so that nothing delivered is sent again.
//!
//! A claim whose process is gone is taken back (renamed to `.batch`):
//! - at once when it carries this process's id but another instance number
//!   (an earlier process that had the same id, as a program that always runs
//!   as pid 1 in a container does), or, on Linux, when no process has its id
//!   any more (`/proc/<pid>` is gone): no one can be sending it;
//! - otherwise after [`CLAIM_TIMEOUT`] (one hour), whoever holds it (another
//!   platform, or a process id reused by an unrelated program). A claim is
//!   held only while one batch is sent to one sink, which the library's HTTP
//!   sinks bound by their timeouts and retry policy (a few minutes with the
//!   defaults), so a live sender is not expected to lose its claim; if one
//!   does (a policy allowing more than an hour per batch), the worst case is
//!   that both send the batch, with the same uuids.
//!
//! # Guarantees
//!
//! - Each event is delivered once when nothing crashes and every request is
//!   answered: a file has one sender, and what a sink reported delivered (a
//!   half of a batch split after a 413, a request before the one that
//!   failed) is not kept.
//! - At least once across a crash: between a sink's delivery and the claim's
//!   deletion a crash (or a kill, or shutdown's deadline cutting the worker
//!   off) leaves the claim behind, and the next run sends the batch again.
//!   Events keep their uuids, so a receiver that de-duplicates by uuid, as
//!   PostHog does, keeps one copy. So does a request whose answer never came
//!   (a timeout, shutdown's deadline): it counts as not delivered, though
//!   the server may have taken it in. A custom sink that reports a failure for
//!   a later try without the library knowing which events it delivered gets
//!   its whole batch again, the same way.
//!
//! # Format
//!
//! Events are stored typed, as no sink's format: a batch read back is a
//! batch of views again, which any sink encodes its own way. Text, one line
//! each, tab-separated:
//! - a header: `v3 sink <identity> <route JSON>`;
//! - each context the events share: `v3 context <JSON>` (the install id
//!   and the standard properties, numbered from 0 in order);
//! - each event: `v3 event <context number> <level it needs> <counter 0|1>
//!   <nanos since 1970> <uuid> <name JSON> <properties JSON>`, its
//!   properties as they are sent at that level (a redacted one already its
//!   marker, length or keyed hash, never the unkeyed pre-hash), in order,
//!   each a `[name, value]` pair. A value is JSON where JSON tells its type
//!   (text, `true`/`false`, `null` in a list, a list as an array), and a
//!   one-key object otherwise: `{"i":-5}`, `{"u":5}`, `{"f":1.5}`,
//!   `{"id":"<uuid>"}`, `{"h":"<keyed hash>"}`, `{"o":[[name, value], ...]}`,
//!   so a replayed event is the event that was spooled, value for value (a
//!   float JSON cannot carry, inside a list, is kept as the null it is
//!   sent as).
//!
//! Files of earlier formats (`v1` named their sink by name, which cannot
//! route them safely; `v2` held PostHog's JSON) are deleted unsent, counted
//! as `Undeliverable`, and logged in one line per replay.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use uuid::Uuid;

use crate::local::files::{self, Existing};
use crate::model::event::{Record, RecordKind, Records};
use crate::model::properties::ValueWriter;
use crate::model::view::{EventContext, Prepared, Property, Queued, ValueRef};
use crate::pipeline::route::Route;
use crate::{Level, Properties};

/// Folder, in the cache directory, that holds the spool.
pub(crate) const SPOOL_DIR: &str = "telemetry_spool";
const EXTENSION: &str = "batch";
const CLAIMED: &str = "claim";
const CORRUPT: &str = "corrupt";
/// The first field of every line: the format's version.
const FORMAT: &str = "v3";
/// The formats before: `v1` before batches carried their sink's identity
/// and route, `v2` before they were stored typed.
const OLD_FORMATS: [&str; 2] = ["v1", "v2"];

/// How long a claim is honoured when nothing shows that its process is
/// gone; see the module docs.
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_secs(3600);

/// Limits of the spool.
#[derive(Debug, Clone)]
pub(crate) struct SpoolSettings {
    pub(crate) max_bytes: u64,
    pub(crate) max_age: Duration,
}

#[derive(Clone)]
pub(crate) struct Spool {
    dir: PathBuf,
    settings: SpoolSettings,
}

/// A batch file this process holds: no other sends it.
#[derive(Debug)]
pub(crate) struct Claim {
    path: PathBuf,
    /// Its first line: the sink's identity and route.
    header: String,
}

/// A batch read back from the spool, claimed.
pub(crate) struct Spooled {
    pub(crate) claim: Claim,
    /// The identity of the sink it was written for.
    pub(crate) sink: String,
    /// The route it was written under.
    pub(crate) route: Route,
    pub(crate) events: Vec<Queued>,
}

/// What [`Spool::take`] found in a waiting file.
pub(crate) enum Taken {
    /// A batch to send, claimed.
    Batch(Spooled),
    /// Past the age limit: deleted, with this many events.
    Expired(usize),
    /// Of the earlier format: deleted, with this many events.
    OldFormat(usize),
    /// Unreadable: set aside as `.corrupt`.
    Corrupt,
}

/// The identities of sinks given as (destination, route), in order: a
/// fingerprint of the destination, the route, and how many earlier sinks
/// have both the same. Stable across runs of one configuration.
pub(crate) fn sink_identities<'a>(sinks: impl Iterator<Item = (&'a str, &'a Route)>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    for (destination, route) in sinks {
        let alike = format!("{destination}\n{}", route.to_line());
        let position = seen.iter().filter(|s| **s == alike).count();
        ids.push(crate::model::redact::fingerprint(format!("{alike}\n{position}").as_bytes()));
        seen.push(alike);
    }
    ids
}

impl Spool {
    pub(crate) fn new(dir: PathBuf, settings: SpoolSettings) -> Spool {
        Spool { dir, settings }
    }

    /// Writes a batch, claimed by this process, before it is sent to the
    /// sink `sink` (its identity) through `route`; returns the claim, or
    /// `None` (with a log line) when it cannot be kept.
    pub(crate) fn write(&self, sink: &str, route: &Route, events: &[Queued]) -> Option<Claim> {
        let header = format!("{FORMAT}\tsink\t{sink}\t{}", route.to_line());
        let text = batch_text(&header, events);
        let len = text.len() as u64;
        if len > self.settings.max_bytes {
            log::warn!(
                "A telemetry batch of {len} bytes is larger than the whole spool ({} bytes): \
                 it is sent without a copy.",
                self.settings.max_bytes
            );
            return None;
        }
        self.make_room(len);
        let base = format!("{:020}-{}", now_nanos(), Uuid::new_v4().simple());
        let path = self.dir.join(claim_name(&base));
        match files::write_private(&path, &text, Existing::Keep) {
            Ok(()) => Some(Claim { path, header }),
            Err(err) => {
                log::warn!(
                    "Cannot spool telemetry in {} ({err}): it is sent without a copy.",
                    self.dir.display()
                );
                None
            }
        }
    }

    /// Forgets a batch the sink is done with.
    pub(crate) fn remove(&self, claim: Claim) {
        self.delete(&claim.path);
    }

    /// Gives a batch back, whole, for a later try.
    pub(crate) fn release(&self, claim: Claim) {
        let Some(waiting) = waiting_path(&claim.path) else { return };
        match fs::rename(&claim.path, &waiting) {
            Ok(()) => log::info!("Telemetry kept in {} for a later try.", waiting.display()),
            // Deleted meanwhile to make room, or by a reset: nothing to keep.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => log::warn!("Cannot keep the spooled telemetry {} ({err}).", claim.path.display()),
        }
    }

    /// Keeps only `events` of a batch for a later try (the sink delivered
    /// or gave up on the others for good): they are written to a waiting
    /// file first, then the claim is deleted, so a crash in between sends
    /// at most these events twice, never loses them.
    pub(crate) fn keep_only(&self, claim: Claim, events: &[Queued]) {
        if events.is_empty() {
            return self.remove(claim);
        }
        let Some(waiting) = waiting_path(&claim.path) else { return };
        if !claim.path.exists() {
            // Deleted meanwhile to make room, or by a reset: nothing to keep.
            return;
        }
        match files::write_private(&waiting, &batch_text(&claim.header, events), Existing::Replace) {
            Ok(()) => {
                log::info!(
                    "Telemetry kept in {} for a later try ({} events).",
                    waiting.display(),
                    events.len()
                );
                self.remove(claim);
            }
            Err(err) => {
                log::warn!(
                    "Cannot rewrite the spooled telemetry {} ({err}): it is kept whole, and what \
                     was delivered of it may be sent again.",
                    claim.path.display()
                );
                self.release(claim);
            }
        }
    }

    /// The waiting batches, oldest first, after taking back the claims of
    /// processes that are gone (see the module docs).
    pub(crate) fn waiting(&self) -> Vec<PathBuf> {
        for claim in self.files(CLAIMED) {
            if is_abandoned(&claim) {
                if let Some(waiting) = waiting_path(&claim) {
                    if fs::rename(&claim, &waiting).is_ok() {
                        log::info!(
                            "Telemetry spooled by a process that is gone is sent again: {}.",
                            waiting.display()
                        );
                    }
                }
            }
        }
        for path in self.files(CORRUPT).into_iter().filter(|p| self.is_expired(p)) {
            self.delete(&path);
        }
        self.files(EXTENSION)
    }

    /// Claims the waiting batch at `path` and reads it; `None` when another
    /// process claimed it first. Expired batches and batches of the old
    /// format are deleted, unreadable ones set aside as `.corrupt`.
    /// Its events belong to the identity `generation`.
    pub(crate) fn take(&self, path: &Path, generation: u64) -> Option<Taken> {
        let base = base_name(path)?;
        let claimed = self.dir.join(claim_name(base));
        if fs::rename(path, &claimed).is_err() {
            return None;
        }
        let read = read(&claimed, self.settings.max_bytes, generation);
        if self.is_expired(&claimed) {
            self.delete(&claimed);
            return Some(Taken::Expired(read.map_or(0, |batch| batch.len())));
        }
        match read {
            Ok(Read::Old(events)) => {
                self.delete(&claimed);
                Some(Taken::OldFormat(events))
            }
            Ok(Read::Current { header, sink, route, events }) => {
                Some(Taken::Batch(Spooled { claim: Claim { path: claimed, header }, sink, route, events }))
            }
            Err(why) => {
                let quarantine = self.dir.join(format!("{base}.{CORRUPT}"));
                log::warn!(
                    "Spooled telemetry {} is corrupt ({why}): moved aside to {}.",
                    path.display(),
                    quarantine.display()
                );
                if fs::rename(&claimed, &quarantine).is_err() {
                    self.delete(&claimed);
                }
                Some(Taken::Corrupt)
            }
        }
    }

    /// Deletes every batch written until now, unsent (the install id they
    /// carry was reset), claimed or not; batches written later stay.
    pub(crate) fn forget_written_until_now(&self) {
        let now = now_nanos();
        for path in self.files(EXTENSION).into_iter().chain(self.files(CLAIMED)).chain(self.files(CORRUPT)) {
            if written_at(&path).is_none_or(|written| written <= now) {
                self.delete(&path);
            }
        }
    }

    /// Deletes everything in the spool (consent is off).
    pub(crate) fn clear(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// Whether the spool holds anything to send, now or once a claim is
    /// taken back.
    pub(crate) fn is_empty(&self) -> bool {
        self.files(EXTENSION).is_empty() && self.files(CLAIMED).is_empty()
    }

    /// Deletes the oldest batches, claimed or not, until `incoming` more
    /// bytes fit.
    fn make_room(&self, incoming: u64) {
        let mut files: Vec<(PathBuf, u64)> = self
            .files(EXTENSION)
            .into_iter()
            .chain(self.files(CLAIMED))
            .map(|p| {
                let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, len)
            })
            .collect();
        // Names start with the time written: oldest first.
        files.sort_by(|(a, _), (b, _)| a.file_name().cmp(&b.file_name()));
        // Sizes come from the disk: added without overflow, whatever they are.
        let mut total = files.iter().fold(0u64, |sum, (_, len)| sum.saturating_add(*len));
        files.reverse();
        while total.saturating_add(incoming) > self.settings.max_bytes {
            let Some((oldest, len)) = files.pop() else { break };
            log::warn!("The telemetry spool is full: the oldest batch {} is dropped.", oldest.display());
            self.delete(&oldest);
            total = total.saturating_sub(len);
        }
    }

    fn delete(&self, path: &Path) {
        if let Err(err) = files::remove_if_present(path) {
            log::warn!("Cannot delete the spooled telemetry {} ({err}).", path.display());
        }
    }

    /// Files with this extension, oldest first (names start with the time).
    fn files(&self, extension: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect();
        files.sort();
        files
    }

    fn is_expired(&self, path: &Path) -> bool {
        match written_at(path) {
            Some(written) => now_nanos().saturating_sub(written) > self.settings.max_age.as_nanos(),
            None => true,
        }
    }
}

/// The lines of a batch file.
fn batch_text(header: &str, events: &[Queued]) -> String {
    let mut text = format!("{header}\n");
    // Each context once, numbered in order.
    let mut contexts: Vec<*const EventContext> = Vec::new();
    for event in events.iter().filter_map(Queued::view) {
        let context = event.context();
        let number = match contexts.iter().position(|known| std::ptr::eq(*known, context)) {
            Some(number) => number,
            None => {
                contexts.push(context);
                text.push_str(&format!("{FORMAT}\tcontext\t{}\n", context_json(context)));
                contexts.len() - 1
            }
        };
        let time = event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let counter = u8::from(event.is_counter());
        // Names and properties are JSON: no tab or line break is left raw.
        let name = serde_json::to_string(event.name()).unwrap_or_default();
        let properties = serde_json::Value::Array(event.properties().map(|p| typed_pair(&p)).collect());
        text.push_str(&format!(
            "{FORMAT}\tevent\t{number}\t{}\t{counter}\t{time}\t{}\t{name}\t{properties}\n",
            event.required_level(),
            event.uuid(),
        ));
    }
    text
}

/// A context as one line of JSON.
fn context_json(context: &EventContext) -> String {
    serde_json::json!({
        "distinct_id": context.distinct_id,
        "session_id": context.session_id,
        "app_name": context.app_name,
        "app_version": context.app_version,
        "os": context.os,
        "arch": context.arch,
        "os_version": context.os_version,
        "lib_version": context.lib_version,
        "catalog_digest": context.catalog_digest,
        "geoip_disable": context.geoip_disable,
    })
    .to_string()
}

/// A context read back; it belongs to the identity generation current when
/// it is read (a reset deletes the spool first).
fn parse_context(json: &str, generation: u64) -> Option<EventContext> {
    let json: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |name: &str| json.get(name)?.as_str().map(str::to_owned);
    Some(EventContext {
        distinct_id: text("distinct_id")?,
        generation,
        session_id: text("session_id")?,
        app_name: text("app_name")?,
        app_version: text("app_version")?,
        os: text("os")?.into(),
        arch: text("arch")?.into(),
        os_version: text("os_version"),
        lib_version: text("lib_version")?.into(),
        catalog_digest: text("catalog_digest")?,
        // Batches spooled before it was recorded carried it: the default.
        geoip_disable: json.get("geoip_disable").and_then(serde_json::Value::as_bool).unwrap_or(true),
        // Hashed values were stored keyed: no key is needed again.
        hash_key_source: None,
        hash_key: Default::default(),
        report: None,
    })
}

/// A property (or object field) as a `[name, value]` pair of the format.
fn typed_pair(property: &Property<'_>) -> serde_json::Value {
    json!([property.name(), typed(property.value())])
}

/// A value in the format's typed JSON (see the module docs).
fn typed(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Bool(b) => json!(b),
        ValueRef::Int(i) => json!({ "i": i }),
        ValueRef::UInt(u) => json!({ "u": u }),
        // Infinite and NaN floats (inside a list) are sent as null anyway.
        ValueRef::Float(f) if f.is_finite() => json!({ "f": f }),
        ValueRef::Text(text) => json!(text.as_str()),
        ValueRef::Uuid(id) => json!({ "id": id.to_string() }),
        ValueRef::Hashed(hash) => json!({ "h": hash.as_str() }),
        ValueRef::List(items) => serde_json::Value::Array(items.iter().map(typed).collect()),
        ValueRef::Object(object) => {
            json!({ "o": object.fields().map(|field| typed_pair(&field)).collect::<Vec<_>>() })
        }
        _ => serde_json::Value::Null,
    }
}

/// Writes a value of the format's typed JSON; `None` if it is not one.
fn write_typed(out: &mut ValueWriter<'_>, json: &serde_json::Value) -> Option<()> {
    use serde_json::Value as Json;
    match json {
        Json::Null => out.null(),
        Json::Bool(b) => out.bool(*b),
        Json::String(text) => out.text(text),
        Json::Array(items) => {
            let mut valid = true;
            out.list_of(items.len(), |out, index| valid &= write_typed(out, &items[index]).is_some());
            valid.then_some(())?;
        }
        Json::Object(tagged) if tagged.len() == 1 => {
            let (tag, value) = tagged.iter().next()?;
            match tag.as_str() {
                "i" => out.int(value.as_i64()?),
                "u" => out.uint(value.as_u64()?),
                "f" => out.float(value.as_f64()?),
                "id" => out.uuid(&Uuid::parse_str(value.as_str()?).ok()?),
                "h" => out.keyed_hash(value.as_str()?.as_bytes().try_into().ok()?),
                "o" => {
                    let mut object = out.object_start()?;
                    for field in value.as_array()? {
                        let (name, value) = pair(field)?;
                        let mut valid = true;
                        out.object_field_named(&mut object, name, |out| {
                            valid = write_typed(out, value).is_some()
                        });
                        valid.then_some(())?;
                    }
                    out.object_end(object);
                }
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(())
}

/// A `[name, value]` pair.
fn pair(json: &serde_json::Value) -> Option<(&str, &serde_json::Value)> {
    match json.as_array()?.as_slice() {
        [name, value] => Some((name.as_str()?, value)),
        _ => None,
    }
}

/// A number drawn once per process, so that a claim made by an earlier
/// process that had the same id is told from one of this process.
fn instance() -> u64 {
    static INSTANCE: OnceLock<u64> = OnceLock::new();
    *INSTANCE.get_or_init(crate::model::event::random_u64)
}

/// `<base>.<pid>-<instance>-<claimed at>.claim`.
pub(crate) fn claim_name(base: &str) -> String {
    let claimed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{base}.{}-{:016x}-{claimed}.{CLAIMED}", std::process::id(), instance())
}

/// The part of a file name before its first dot: `<written>-<id>`.
pub(crate) fn base_name(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()?.split('.').next().filter(|b| !b.is_empty())
}

/// Where a claimed batch waits once it is given back.
fn waiting_path(claim: &Path) -> Option<PathBuf> {
    Some(claim.with_file_name(format!("{}.{EXTENSION}", base_name(claim)?)))
}

/// Whether the claim at `path` was left by a process that is gone, or is
/// older than [`CLAIM_TIMEOUT`]; see the module docs. A name that does not
/// parse is taken back.
pub(crate) fn is_abandoned(path: &Path) -> bool {
    let owner =
        path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('.').nth(1)).and_then(|owner| {
            let mut parts = owner.split('-');
            let pid: u32 = parts.next()?.parse().ok()?;
            let instance = u64::from_str_radix(parts.next()?, 16).ok()?;
            let claimed: u64 = parts.next()?.parse().ok()?;
            Some((pid, instance, claimed))
        });
    let Some((pid, instance, claimed)) = owner else { return true };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.saturating_sub(claimed) > CLAIM_TIMEOUT.as_secs() {
        return true;
    }
    if pid == std::process::id() {
        return instance != self::instance();
    }
    process_is_gone(pid)
}

/// Whether no process has this id; `false` when that cannot be known.
fn process_is_gone(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        let proc = Path::new("/proc");
        proc.join("self").exists() && !proc.join(pid.to_string()).exists()
    } else {
        false
    }
}

/// When a batch was written, from its name (nanoseconds since 1970).
fn written_at(path: &Path) -> Option<u128> {
    path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('-').next()).and_then(|t| t.parse().ok())
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

/// A batch file's contents.
enum Read {
    /// Of the earlier format: only its number of events matters.
    Old(usize),
    Current {
        header: String,
        sink: String,
        route: Route,
        events: Vec<Queued>,
    },
}

impl Read {
    fn len(&self) -> usize {
        match self {
            Read::Old(events) => *events,
            Read::Current { events, .. } => events.len(),
        }
    }
}

/// Reads a spooled batch back, its events belonging to the identity
/// `generation`; an error says what is wrong with it. A file over
/// `max_bytes` (the whole spool's limit, which no batch written here
/// exceeds) is refused unread. A file of an earlier format is only counted.
fn read(path: &Path, max_bytes: u64, generation: u64) -> Result<Read, String> {
    let text = files::read_capped(path, max_bytes).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty")?;
    if let Some(old) = OLD_FORMATS.iter().find(|old| header.starts_with(&format!("{old}\t"))) {
        return Ok(Read::Old(lines.filter(|line| line.starts_with(&format!("{old}\t"))).count()));
    }
    let mut fields =
        header.strip_prefix(&format!("{FORMAT}\tsink\t")).ok_or("no sink header")?.splitn(2, '\t');
    let sink = fields.next().filter(|s| !s.is_empty()).ok_or("no sink identity")?.to_owned();
    let route = fields.next().and_then(Route::from_line).ok_or("no route")?;
    // Each context's events, and where each event is among them.
    let mut contexts: Vec<(EventContext, Records)> = Vec::new();
    let mut order: Vec<(usize, usize, Uuid, Level)> = Vec::new();
    for (i, line) in lines.enumerate() {
        let bad = || format!("line {}", i + 2);
        if let Some(context) = line.strip_prefix(&format!("{FORMAT}\tcontext\t")) {
            contexts.push((parse_context(context, generation).ok_or_else(bad)?, Records::default()));
            continue;
        }
        let (number, record, properties, uuid, needs) = parse_event(line).ok_or_else(bad)?;
        let (_, records) = contexts.get_mut(number).ok_or_else(bad)?;
        order.push((number, records.len(), uuid, needs));
        records.push(record, &properties);
    }
    let prepared: Vec<Arc<Prepared>> = contexts
        .into_iter()
        .map(|(context, records)| Arc::new(Prepared { records, context: Arc::new(context) }))
        .collect();
    let events = order
        .into_iter()
        .map(|(number, index, uuid, needs)| Queued {
            prepared: Arc::clone(&prepared[number]),
            index,
            uuid,
            // Stored as shown: everything it holds is shown again, and
            // it needs what it needed then.
            shown: Level::Full,
            needs,
        })
        .collect();
    Ok(Read::Current { header: header.to_owned(), sink, route, events })
}

/// An event line: its context's number, its record and properties, its
/// uuid and the level it needs.
fn parse_event(line: &str) -> Option<(usize, Record, Properties, Uuid, Level)> {
    let mut fields = line.strip_prefix(&format!("{FORMAT}\tevent\t"))?.splitn(7, '\t');
    let number: usize = fields.next()?.parse().ok()?;
    let needs = Level::parse(fields.next()?)?;
    let counter = fields.next()? == "1";
    let nanos: u64 = fields.next()?.parse().ok()?;
    let uuid = Uuid::parse_str(fields.next()?).ok()?;
    let name: String = serde_json::from_str(fields.next()?).ok()?;
    let stored: serde_json::Value = serde_json::from_str(fields.next()?).ok()?;
    let stored = stored.as_array()?;
    let mut properties = Properties::with_capacity(stored.len());
    for property in stored {
        let (name, value) = pair(property)?;
        let mut valid = true;
        properties.push_with(name, Level::Usage, |out| valid = write_typed(out, value).is_some());
        valid.then_some(())?;
    }
    let mut record = Record::at(name.into(), Some(UNIX_EPOCH + Duration::from_nanos(nanos)));
    if counter {
        record.kind = RecordKind::Counter;
    }
    record.min_level = needs;
    Some((number, record, properties, uuid, needs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::redact::Digest;
    use crate::model::view::EventView;
    use crate::Value;

    const SINK: &str = "0123456789abcdef";

    /// An event with properties `n` and `t` (text with a tab), a counter
    /// when `n` is even, prepared on its own.
    fn event(n: u32) -> Queued {
        let mut record =
            Record::at("e".into(), Some(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789)));
        if n.is_multiple_of(2) {
            record.kind = RecordKind::Counter;
        }
        let properties = Properties::new().with("n", n).with("t", "a\tb");
        let context = crate::model::view::testing::context(&format!("id-{n}"), "1.0.0");
        crate::model::view::testing::queued(context, vec![(record, properties)], Level::Usage).remove(0)
    }

    /// An event with a value of every kind, prepared on its own.
    fn rich_event(n: u32) -> Queued {
        let mut record = Record::new("rich".into());
        if n.is_multiple_of(2) {
            record.kind = RecordKind::Counter;
        }
        let properties = Properties::new()
            .with("n", n)
            .with("t", "a\tb")
            .with(
                "object",
                Value::Object(vec![("k".into(), Value::from(-1i64)), ("f".into(), Value::from(1.0))]),
            )
            .with("int", Value::Int(-5))
            .with("id", Uuid::nil())
            .with("hashed", Value::hashed("https://example.com/secret"))
            .with("list", vec![Value::Int(1), Value::Null, Value::Float(2.5), Value::text("x")]);
        let context = crate::model::view::testing::context(&format!("id-{n}"), "1.0.0");
        crate::model::view::testing::queued(context, vec![(record, properties)], Level::Usage).remove(0)
    }

    fn spool(dir: &Path, max_bytes: u64) -> Spool {
        Spool::new(dir.join(SPOOL_DIR), SpoolSettings { max_bytes, max_age: Duration::from_secs(3600) })
    }

    /// Writes a batch and gives it back at once, as a failed send does.
    fn spooled(spool: &Spool, events: &[Queued]) -> PathBuf {
        let claim = spool.write(SINK, &Route::counters_only(), events).unwrap();
        let waiting = waiting_path(&claim.path).unwrap();
        spool.release(claim);
        waiting
    }

    fn batch(taken: Option<Taken>) -> Spooled {
        match taken {
            Some(Taken::Batch(batch)) => batch,
            _ => panic!("not a batch"),
        }
    }

    #[test]
    fn no_unkeyed_pre_hash_and_no_raw_value_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let written = spooled(&spool, &[rich_event(1)]);
        let text = fs::read_to_string(written).unwrap();
        assert!(text.contains(r#"{"h":""#), "{text}");
        assert!(!text.contains("secret"), "{text}");
        let digest = Digest::of("https://example.com/secret").to_bytes();
        let pre_hash: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.contains(&pre_hash[..16]), "{text}");
    }

    #[test]
    fn malformed_typed_values_make_the_file_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let good = spooled(&spool, &[event(1)]);
        let text = fs::read_to_string(&good).unwrap();
        for bad in [r#"{"u":-1}"#, r#"{"h":"short"}"#, r#"{"x":1}"#, r#"{"i":1,"u":2}"#, "1"] {
            let broken = text.replacen(r#"{"u":1}"#, bad, 1);
            assert_ne!(broken, text);
            let path = spool.dir.join(format!("{:020}-bad.{EXTENSION}", now_nanos()));
            fs::write(&path, broken).unwrap();
            assert!(matches!(spool.take(&path, 0), Some(Taken::Corrupt)), "{bad}");
        }
    }

    #[test]
    fn round_trip_oldest_first_with_sink_and_route() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let written = [rich_event(1), rich_event(2)];
        let first = spooled(&spool, &written);
        let second = spooled(&spool, &[event(3)]);
        assert_eq!(spool.waiting(), [first.clone(), second]);
        let taken = batch(spool.take(&first, 0));
        assert_eq!(taken.sink, SINK);
        assert_eq!(taken.route, Route::counters_only());
        // Typed events come back as they were shown, each with its context.
        for (back, written) in taken.events.iter().zip(&written) {
            let (back, written) = (back.view().unwrap(), written.view().unwrap());
            assert_eq!(back.name(), written.name());
            assert_eq!(back.uuid(), written.uuid());
            assert_eq!(back.is_counter(), written.is_counter());
            assert_eq!(back.time(), written.time());
            assert_eq!(back.required_level(), written.required_level());
            assert_eq!(back.distinct_id(), written.distinct_id());
            assert_eq!(back.context().app_version(), "1.0.0");
            let mut json =
                (crate::model::encode::PostHogJson::default(), crate::model::encode::PostHogJson::default());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            json.0.event(&mut a, &back);
            json.1.event(&mut b, &written);
            // The same on the wire, byte for byte...
            assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            // ...and value for value, for a sink that tells types apart.
            let kinds = |view: &EventView<'_>| -> Vec<String> {
                view.properties().map(|p| format!("{}: {:?}", p.name(), p.value())).collect()
            };
            assert_eq!(kinds(&back), kinds(&written));
            assert!(matches!(back.property("int"), Some(ValueRef::Int(-5))), "{:?}", kinds(&back));
            assert!(matches!(back.property("id"), Some(ValueRef::Uuid(_))));
            assert!(matches!(back.property("hashed"), Some(ValueRef::Hashed(_))));
        }
        assert!(taken.events[1].view().unwrap().is_counter());
        assert!(spool.take(&first, 0).is_none(), "a claimed batch is not taken twice");
        spool.remove(taken.claim);
        assert_eq!(spool.waiting().len(), 1);
    }

    #[test]
    fn a_batch_is_claimed_from_its_writing_until_it_is_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let claim = spool.write(SINK, &Route::all(), &[event(1)]).unwrap();
        assert!(spool.waiting().is_empty(), "a batch in flight is not offered");
        assert!(!spool.is_empty());
        spool.release(claim);
        assert_eq!(spool.waiting().len(), 1);
    }

    #[test]
    fn keeping_part_of_a_batch_keeps_only_that_part() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let events = [event(1), event(2), event(3)];
        let claim = spool.write(SINK, &Route::all(), &events).unwrap();
        let claimed = claim.path.clone();
        spool.keep_only(claim, &events[2..]);
        assert!(!claimed.exists());
        let waiting = spool.waiting();
        assert_eq!(waiting.len(), 1);
        let taken = batch(spool.take(&waiting[0], 0));
        assert_eq!(taken.route, Route::all());
        assert_eq!(taken.events.iter().map(|e| e.uuid).collect::<Vec<_>>(), [events[2].uuid]);
        spool.keep_only(taken.claim, &[]);
        assert!(spool.is_empty());
    }

    #[test]
    fn claims_of_processes_that_are_gone_are_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let text = fs::read_to_string(spool.write(SINK, &Route::all(), &[event(1)]).unwrap().path).unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let ours = std::process::id();
        let claim = |name: &str, pid: u32, instance: u64, at: u64| {
            let path =
                spool.dir.join(format!("{:020}-{name}.{pid}-{instance:016x}-{at}.{CLAIMED}", now_nanos()));
            fs::write(&path, &text).unwrap();
            path
        };
        let earlier_process = claim("a", ours, instance().wrapping_add(1), now);
        let timed_out = claim("b", ours, instance(), now - CLAIM_TIMEOUT.as_secs() - 1);
        let this_process = claim("c", ours, instance(), now);
        let unparsable = spool.dir.join(format!("{:020}-d.x.{CLAIMED}", now_nanos()));
        fs::write(&unparsable, &text).unwrap();
        let waiting = spool.waiting();
        for taken_back in [&earlier_process, &timed_out, &unparsable] {
            assert!(waiting.contains(&waiting_path(taken_back).unwrap()), "{}", taken_back.display());
        }
        assert!(this_process.exists(), "a claim of this process stays");
        #[cfg(target_os = "linux")]
        {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let gone = child.id();
            child.wait().unwrap();
            let dead = claim("e", gone, 1, now);
            let alive = claim("f", 1, 1, now);
            spool.waiting();
            assert!(!dead.exists(), "the claim of a process that is gone is taken back");
            assert!(alive.exists(), "the claim of a running process stays");
        }
    }

    #[test]
    fn sink_identities_tell_sinks_apart_and_are_stable() {
        let usage = Route::counters_only().max_level(Level::Usage);
        let all = Route::all();
        let ids = sink_identities(
            [
                ("posthog\tu\tk1", &usage),
                ("posthog\tu\tk1", &all),
                ("posthog\tu\tk2", &all),
                ("posthog\tu\tk2", &all),
            ]
            .into_iter(),
        );
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 4, "{ids:?}");
        let again = sink_identities([("posthog\tu\tk1", &usage)].into_iter());
        assert_eq!(again[0], ids[0]);
        assert!(ids.iter().all(|id| !id.contains("k1") && id.len() == 16));
    }

    #[test]
    fn the_size_cap_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 500);
        let paths: Vec<_> = (0..5).map(|n| spooled(&spool, &[event(n)])).collect();
        let waiting = spool.waiting();
        let total: u64 = waiting.iter().map(|p| fs::metadata(p).unwrap().len()).sum();
        assert!(total <= 500, "{total}");
        assert!(waiting.len() < 5);
        assert_eq!(waiting.last().unwrap(), &paths[4], "the newest is kept");
    }

    #[test]
    fn sizes_on_disk_are_bounded_by_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 500);
        // A batch larger than the whole spool is not kept (it is sent anyway).
        let big: Vec<Queued> = (0..10).map(event).collect();
        assert!(spool.write(SINK, &Route::all(), &big).is_none());
        assert!(spool.is_empty());
        // A file larger than the limit was not written here: it is set
        // aside unread, whatever it holds.
        let kept = spooled(&spool, &[event(1)]);
        let huge = spool.dir.join(format!("{:020}-huge.{EXTENSION}", now_nanos()));
        let written = fs::read_to_string(&kept).unwrap();
        let (header, line) = written.split_once('\n').unwrap();
        let mut text = format!("{header}\n");
        while text.len() <= 500 {
            text.push_str(line);
        }
        fs::write(&huge, text).unwrap();
        assert_eq!(spool.waiting(), [kept.clone(), huge.clone()]);
        assert!(matches!(spool.take(&huge, 0), Some(Taken::Corrupt)));
        assert!(huge.with_extension(CORRUPT).exists());
        assert!(matches!(spool.take(&kept, 0), Some(Taken::Batch(_))));
    }

    #[test]
    fn corrupt_files_are_set_aside_and_expired_and_old_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let good = spooled(&spool, &[event(1)]);
        let bad = spool.dir.join(format!("{:020}-x.{EXTENSION}", now_nanos()));
        fs::write(&bad, "garbage\n").unwrap();
        let expired = spool.dir.join(format!("{:020}-old.{EXTENSION}", 1u128));
        fs::write(&expired, fs::read_to_string(&good).unwrap()).unwrap();
        let old = spool.dir.join(format!("{:020}-v1.{EXTENSION}", now_nanos()));
        fs::write(&old, "v1\tsink\thttp://x/batch/\nv1\tusage\t0\t1\t{}\nv1\tusage\t0\t1\t{}\n").unwrap();
        assert!(matches!(spool.take(&bad, 0), Some(Taken::Corrupt)));
        assert!(matches!(spool.take(&expired, 0), Some(Taken::Expired(1))));
        assert!(matches!(spool.take(&old, 0), Some(Taken::OldFormat(2))));
        // The format before events were stored typed is deleted the same way.
        let v2 = spool.dir.join(format!("{:020}-v2.{EXTENSION}", now_nanos()));
        fs::write(&v2, "v2\tsink\tabc\t{}\nv2\tusage\t0\t1\t{}\n").unwrap();
        assert!(matches!(spool.take(&v2, 0), Some(Taken::OldFormat(1))));
        assert!(!bad.exists() && bad.with_extension(CORRUPT).exists());
        assert!(!expired.exists() && !old.exists());
        assert_eq!(spool.waiting(), [good]);
        spool.clear().unwrap();
        assert!(!spool.dir.exists());
    }
}
