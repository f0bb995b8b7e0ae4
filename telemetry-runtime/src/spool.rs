//! The on-disk spool (off by default): every batch is written here before it
//! is sent and deleted once every sink is done with it, so a program that
//! exits before delivery (or is cut off by shutdown's deadline) delivers on
//! its next run, oldest first. Events keep their uuids, so a batch that was
//! in fact delivered before the exit is de-duplicated by the receiver.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::files::{self, Existing};
use crate::sink::EncodedEvent;
use crate::Level;

/// Folder, in the cache directory, that holds the spool.
pub(crate) const SPOOL_DIR: &str = "telemetry_spool";
const EXTENSION: &str = "batch";
const CORRUPT: &str = "corrupt";
/// The first field of every line: the format's version.
const FORMAT: &str = "v1";

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

/// A batch read back from the spool.
pub(crate) struct Spooled {
    pub(crate) path: PathBuf,
    /// The sink it was written for.
    pub(crate) sink: String,
    pub(crate) events: Vec<EncodedEvent>,
}

impl Spool {
    pub(crate) fn new(dir: PathBuf, settings: SpoolSettings) -> Spool {
        Spool { dir, settings }
    }

    /// Writes a batch before it is sent to `sink`; returns its file, or
    /// `None` (with a log line) when it cannot be kept.
    pub(crate) fn write(&self, sink: &str, events: &[EncodedEvent]) -> Option<PathBuf> {
        // Sink names are URLs and paths: a tab or newline would be mangled anyway.
        let mut text = format!("{FORMAT}\tsink\t{}\n", sink.replace(['\t', '\n'], " "));
        for event in events {
            let time = event.time().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
            let counter = u8::from(event.is_counter());
            text.push_str(&format!("{FORMAT}\t{}\t{counter}\t{time}\t{}\n", event.level(), event.json()));
        }
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
        let name = format!("{:020}-{}.{EXTENSION}", now_nanos(), Uuid::new_v4().simple());
        let path = self.dir.join(name);
        match files::write_private(&path, &text, Existing::Keep) {
            Ok(()) => Some(path),
            Err(err) => {
                log::warn!(
                    "Cannot spool telemetry in {} ({err}): it is sent without a copy.",
                    self.dir.display()
                );
                None
            }
        }
    }

    /// Forgets a batch every sink is done with.
    pub(crate) fn remove(&self, path: &Path) {
        if let Err(err) = files::remove_if_present(path) {
            log::warn!("Cannot delete the spooled telemetry {} ({err}).", path.display());
        }
    }

    /// The batches left by earlier runs, oldest first. Files past the age
    /// limit are deleted; unreadable ones are set aside as `.corrupt`.
    /// Returns the batches and the number of events given up on.
    pub(crate) fn pending(&self) -> (Vec<Spooled>, usize) {
        let mut expired = 0;
        let mut batches = Vec::new();
        for path in self.files(EXTENSION) {
            if self.is_expired(&path) {
                expired += read(&path, self.settings.max_bytes).map_or(0, |(_, events)| events.len());
                self.remove(&path);
                continue;
            }
            match read(&path, self.settings.max_bytes) {
                Ok((sink, events)) => batches.push(Spooled { path, sink, events }),
                Err(why) => {
                    let quarantine = path.with_extension(CORRUPT);
                    log::warn!(
                        "Spooled telemetry {} is corrupt ({why}): moved aside to {}.",
                        path.display(),
                        quarantine.display()
                    );
                    if fs::rename(&path, &quarantine).is_err() {
                        self.remove(&path);
                    }
                }
            }
        }
        for path in self.files(CORRUPT).into_iter().filter(|p| self.is_expired(p)) {
            self.remove(&path);
        }
        (batches, expired)
    }

    /// Deletes every batch written until now, unsent (the install id they
    /// carry was reset); batches written later stay.
    pub(crate) fn forget_written_until_now(&self) {
        let now = now_nanos();
        for path in self.files(EXTENSION).into_iter().chain(self.files(CORRUPT)) {
            if written_at(&path).is_none_or(|written| written <= now) {
                self.remove(&path);
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

    /// Whether the spool holds anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.files(EXTENSION).is_empty()
    }

    /// Deletes the oldest batches until `incoming` more bytes fit.
    fn make_room(&self, incoming: u64) {
        let mut files: Vec<(PathBuf, u64)> = self
            .files(EXTENSION)
            .into_iter()
            .map(|p| {
                let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, len)
            })
            .collect();
        // Sizes come from the disk: added without overflow, whatever they are.
        let mut total = files.iter().fold(0u64, |sum, (_, len)| sum.saturating_add(*len));
        files.reverse();
        while total.saturating_add(incoming) > self.settings.max_bytes {
            let Some((oldest, len)) = files.pop() else { break };
            log::warn!("The telemetry spool is full: the oldest batch {} is dropped.", oldest.display());
            self.remove(&oldest);
            total = total.saturating_sub(len);
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

/// When a batch was written, from its name (nanoseconds since 1970).
fn written_at(path: &Path) -> Option<u128> {
    path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('-').next()).and_then(|t| t.parse().ok())
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}

/// Reads a spooled batch back (its sink and events); an error says what
/// is wrong with it. A file over `max_bytes` (the whole spool's limit, which
/// no batch written here exceeds) is refused unread.
fn read(path: &Path, max_bytes: u64) -> Result<(String, Vec<EncodedEvent>), String> {
    let text = files::read_capped(path, max_bytes).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let sink = lines
        .next()
        .and_then(|header| header.strip_prefix(&format!("{FORMAT}\tsink\t")))
        .ok_or("no sink header")?
        .to_owned();
    let events = lines
        .enumerate()
        .map(|(i, line)| parse_line(line).ok_or(format!("line {}", i + 2)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((sink, events))
}

fn parse_line(line: &str) -> Option<EncodedEvent> {
    let mut fields = line.splitn(5, '\t');
    if fields.next()? != FORMAT {
        return None;
    }
    let level = Level::parse(fields.next()?)?;
    let counter = fields.next()? == "1";
    let nanos: u64 = fields.next()?.parse().ok()?;
    let json = fields.next()?.to_owned();
    let parsed: serde_json::Value = serde_json::from_str(&json).ok()?;
    let name = parsed.get("event")?.as_str()?.to_owned();
    let uuid = Uuid::parse_str(parsed.get("uuid")?.as_str()?).ok()?;
    Some(EncodedEvent::new(
        name.into(),
        uuid,
        json.into_bytes(),
        level,
        counter,
        UNIX_EPOCH + Duration::from_nanos(nanos),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u32) -> EncodedEvent {
        let uuid = Uuid::new_v4();
        EncodedEvent::new(
            "e".into(),
            uuid,
            format!("{{\"event\":\"e\",\"uuid\":\"{uuid}\",\"properties\":{{\"n\":{n},\"t\":\"a\\tb\"}}}}")
                .into_bytes(),
            Level::Usage,
            n.is_multiple_of(2),
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
        )
    }

    fn spool(dir: &Path, max_bytes: u64) -> Spool {
        Spool::new(dir.join(SPOOL_DIR), SpoolSettings { max_bytes, max_age: Duration::from_secs(3600) })
    }

    #[test]
    fn round_trip_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let written = [event(1), event(2)];
        let first = spool.write("posthog", &written).unwrap();
        let second = spool.write("posthog", &[event(3)]).unwrap();
        let (pending, expired) = spool.pending();
        assert_eq!(expired, 0);
        assert_eq!(pending.iter().map(|b| &b.path).collect::<Vec<_>>(), [&first, &second]);
        assert_eq!(pending[0].sink, "posthog");
        let back = &pending[0].events[1];
        assert_eq!(back.json(), written[1].json());
        assert_eq!(back.uuid(), written[1].uuid());
        assert!(back.is_counter());
        assert_eq!(back.time(), written[1].time());
        spool.remove(&first);
        assert_eq!(spool.pending().0.len(), 1);
    }

    #[test]
    fn the_size_cap_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 400);
        let paths: Vec<_> = (0..5).map(|n| spool.write("posthog", &[event(n)]).unwrap()).collect();
        let (pending, _) = spool.pending();
        let total: u64 = pending.iter().map(|b| fs::metadata(&b.path).unwrap().len()).sum();
        assert!(total <= 400, "{total}");
        assert!(pending.len() < 5);
        assert_eq!(pending.last().unwrap().path, paths[4], "the newest is kept");
    }

    #[test]
    fn sizes_on_disk_are_bounded_by_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 400);
        // A batch larger than the whole spool is not kept (it is sent anyway).
        let big: Vec<EncodedEvent> = (0..10).map(event).collect();
        assert!(spool.write("posthog", &big).is_none());
        assert!(spool.is_empty());
        // A file larger than the limit was not written here: it is set
        // aside unread, whatever it holds.
        let kept = spool.write("posthog", &[event(1)]).unwrap();
        let huge = spool.dir.join(format!("{:020}-huge.{EXTENSION}", now_nanos()));
        let written = fs::read_to_string(&kept).unwrap();
        let (header, line) = written.split_once('\n').unwrap();
        let mut text = format!("{header}\n");
        while text.len() <= 400 {
            text.push_str(line);
        }
        fs::write(&huge, text).unwrap();
        let (pending, _) = spool.pending();
        assert_eq!(pending.iter().map(|b| &b.path).collect::<Vec<_>>(), [&kept]);
        assert!(huge.with_extension(CORRUPT).exists());
    }

    #[test]
    fn corrupt_files_are_set_aside_and_expired_ones_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool(dir.path(), 1 << 20);
        let good = spool.write("posthog", &[event(1)]).unwrap();
        let bad = spool.dir.join(format!("{:020}-x.{EXTENSION}", now_nanos()));
        fs::write(&bad, "garbage\n").unwrap();
        let old = spool.dir.join(format!("{:020}-old.{EXTENSION}", 1u128));
        fs::write(&old, fs::read_to_string(&good).unwrap()).unwrap();
        let (pending, expired) = spool.pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(expired, 1);
        assert!(!bad.exists() && bad.with_extension(CORRUPT).exists());
        assert!(!old.exists());
        spool.clear().unwrap();
        assert!(!spool.dir.exists());
    }
}
