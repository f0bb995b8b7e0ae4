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
//! The claim protocol (one sender per file) is in [`claim`], the text format
//! of a batch file in [`format`](mod@format).
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

pub(crate) mod claim;
mod format;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use uuid::Uuid;

use self::claim::{base_name, claim_name, is_abandoned, now_nanos, waiting_path, written_at};
use self::claim::{CLAIMED, CORRUPT, EXTENSION};
use self::format::BatchFile;
use crate::local::files::{self, Existing};
use crate::model::view::Queued;
use crate::pipeline::route::Route;

/// Folder, in the cache directory, that holds the spool.
pub(crate) const SPOOL_DIR: &str = "telemetry_spool";

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
pub(crate) enum WaitingFile {
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
        let header = format::header(sink, route);
        let text = format::batch_text(&header, events);
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
        match files::write_private(&waiting, &format::batch_text(&claim.header, events), Existing::Replace) {
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
    /// processes that are gone (see [`claim`]).
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
    pub(crate) fn take(&self, path: &Path, generation: u64) -> Option<WaitingFile> {
        let base = base_name(path)?;
        let claimed = self.dir.join(claim_name(base));
        if fs::rename(path, &claimed).is_err() {
            return None;
        }
        let read = format::read(&claimed, self.settings.max_bytes, generation);
        if self.is_expired(&claimed) {
            self.delete(&claimed);
            return Some(WaitingFile::Expired(read.map_or(0, |batch| batch.len())));
        }
        match read {
            Ok(BatchFile::Old(events)) => {
                self.delete(&claimed);
                Some(WaitingFile::OldFormat(events))
            }
            Ok(BatchFile::Current { header, sink, route, events }) => Some(WaitingFile::Batch(Spooled {
                claim: Claim { path: claimed, header },
                sink,
                route,
                events,
            })),
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
                Some(WaitingFile::Corrupt)
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

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::claim::{instance, CLAIM_TIMEOUT};
    use super::*;
    use crate::model::event::{Record, RecordKind};
    use crate::model::redact::Digest;
    use crate::model::view::EventView;
    use crate::model::view::ValueRef;
    use crate::Value;
    use crate::{Level, Properties};

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
            .with("list", vec![Value::Int(1), Value::Null, Value::Float(2.5), Value::Text("x".into())]);
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

    fn batch(taken: Option<WaitingFile>) -> Spooled {
        match taken {
            Some(WaitingFile::Batch(batch)) => batch,
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
            assert!(matches!(spool.take(&path, 0), Some(WaitingFile::Corrupt)), "{bad}");
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
                view.properties().map(|(name, value)| format!("{name}: {value:?}")).collect()
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
        let claim = spool.write(SINK, &Route::default(), &[event(1)]).unwrap();
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
        let claim = spool.write(SINK, &Route::default(), &events).unwrap();
        let claimed = claim.path.clone();
        spool.keep_only(claim, &events[2..]);
        assert!(!claimed.exists());
        let waiting = spool.waiting();
        assert_eq!(waiting.len(), 1);
        let taken = batch(spool.take(&waiting[0], 0));
        assert_eq!(taken.route, Route::default());
        assert_eq!(taken.events.iter().map(|e| e.uuid).collect::<Vec<_>>(), [events[2].uuid]);
        spool.keep_only(taken.claim, &[]);
        assert!(spool.is_empty());
    }

    #[test]
    fn claims_of_processes_that_are_gone_are_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let text =
            fs::read_to_string(spool.write(SINK, &Route::default(), &[event(1)]).unwrap().path).unwrap();
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
        let all = Route::default();
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
        assert!(spool.write(SINK, &Route::default(), &big).is_none());
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
        assert!(matches!(spool.take(&huge, 0), Some(WaitingFile::Corrupt)));
        assert!(huge.with_extension(CORRUPT).exists());
        assert!(matches!(spool.take(&kept, 0), Some(WaitingFile::Batch(_))));
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
        assert!(matches!(spool.take(&bad, 0), Some(WaitingFile::Corrupt)));
        assert!(matches!(spool.take(&expired, 0), Some(WaitingFile::Expired(1))));
        assert!(matches!(spool.take(&old, 0), Some(WaitingFile::OldFormat(2))));
        // The format before events were stored typed is deleted the same way.
        let v2 = spool.dir.join(format!("{:020}-v2.{EXTENSION}", now_nanos()));
        fs::write(&v2, "v2\tsink\tabc\t{}\nv2\tusage\t0\t1\t{}\n").unwrap();
        assert!(matches!(spool.take(&v2, 0), Some(WaitingFile::OldFormat(1))));
        assert!(!bad.exists() && bad.with_extension(CORRUPT).exists());
        assert!(!expired.exists() && !old.exists());
        assert_eq!(spool.waiting(), [good]);
        spool.clear().unwrap();
        assert!(!spool.dir.exists());
    }
}
