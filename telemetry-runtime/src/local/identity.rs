//! The anonymous install id: a random UUID v4 kept in the platform cache
//! directory, read lazily by the worker thread (never at init, never on the
//! caller's thread).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use uuid::Uuid;

use crate::local::files::{self, Existing};
use crate::model::redact::Digest;
use crate::sync::{lock, Mutex};

/// File name of the install id inside the application's cache directory.
pub(crate) const ID_FILE: &str = "telemetry_user_id";
/// File name of the secret key for `redact = "hash"` values, beside the id.
const HASH_KEY_FILE: &str = "telemetry_hash_key";
/// A larger id file is not one of ours (a UUID is 36 bytes): it is not read.
const MAX_ID_FILE_BYTES: u64 = 4096;

/// Where the id events carry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdSource {
    /// The generated install id, kept in the id file.
    Install,
    /// An id the application gives, sent as it is: a UUID, or a raw id the
    /// application wrote a reason for (which the catalog shows).
    Given(String),
    /// A value of the application's (an account id, say), sent as its hash
    /// keyed with the installation's secret key: stable on this machine,
    /// unlinkable to the value, and new after a reset.
    Hashed(Digest),
}

/// The distinct id events carry, and the installation's hashing key. Both
/// are loaded on first use, on the worker thread.
pub(crate) struct Identity {
    path: Option<PathBuf>,
    source: IdSource,
    /// The id and key once loaded, and the generation they belong to. A
    /// reset holds this lock while it deletes their files: a reader either
    /// sees everything before the reset (and the old generation), or the
    /// new generation with nothing left to load the old values from.
    state: Mutex<State>,
    /// The generation, for a check without the lock.
    generation: AtomicU64,
}

#[derive(Default)]
struct State {
    id: Option<String>,
    key: Option<(u64, u64)>,
    /// How many resets came before: events prepared with an earlier
    /// generation carry an id that was reset, and are not sent.
    generation: u64,
}

impl Identity {
    pub(crate) fn new(path: Option<PathBuf>, source: IdSource) -> Identity {
        Identity { path, source, state: Mutex::new(State::default()), generation: AtomicU64::new(0) }
    }

    fn key_path(&self) -> Option<PathBuf> {
        Some(self.path.as_ref()?.with_file_name(HASH_KEY_FILE))
    }

    /// The secret key of this installation for keyed hashes of redacted
    /// values, loading or creating its file on first call.
    pub(crate) fn hash_key(&self) -> (u64, u64) {
        self.load_key(&mut lock(&self.state))
    }

    fn load_key(&self, state: &mut State) -> (u64, u64) {
        *state.key.get_or_insert_with(|| {
            let text = load_or_create(self.key_path().as_deref());
            Uuid::parse_str(&text).map(|u| u.as_u64_pair()).unwrap_or_else(|_| Uuid::new_v4().as_u64_pair())
        })
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Where the id comes from.
    pub(crate) fn source(&self) -> &IdSource {
        &self.source
    }

    /// The distinct id, loading or creating the id file on first call.
    #[cfg(test)]
    pub(crate) fn distinct_id(&self) -> String {
        self.distinct_id_and_generation().0
    }

    /// The distinct id (loading or creating the id file on first call) and
    /// its generation, read together: an event prepared with this id is
    /// current while [`generation`](Identity::generation) still says so.
    pub(crate) fn distinct_id_and_generation(&self) -> (String, u64) {
        let mut state = lock(&self.state);
        let id = match &self.source {
            IdSource::Install => state.id.get_or_insert_with(|| load_or_create(self.path.as_deref())).clone(),
            IdSource::Given(id) => id.clone(),
            IdSource::Hashed(value) => {
                let hex = value.keyed(self.load_key(&mut state));
                let bytes = Uuid::try_parse_ascii(&hex).map_or([0; 16], |u| u.into_bytes());
                uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
            }
        };
        (id, state.generation)
    }

    /// How many resets there were: an event prepared under an earlier
    /// generation carries an id that no longer exists.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(SeqCst)
    }

    /// Deletes the id and the hashing key; later events get new ones, and
    /// events prepared with the old ones become stale. An id the application
    /// gives stays (only the key is new).
    ///
    /// Everything happens under the state's lock, the new generation last:
    /// no reader can load the old id or key from a file not yet deleted and
    /// take it for the new generation's. A file that cannot be deleted is
    /// not read again in this process (a fresh per-process value stands in),
    /// and the error is returned.
    pub(crate) fn reset(&self) -> io::Result<()> {
        let mut state = lock(&self.state);
        let key = self.key_path().map_or(Ok(()), |path| files::remove_if_present(&path));
        let id = self.path.as_deref().map_or(Ok(()), files::remove_if_present);
        state.key = key.is_err().then(|| Uuid::new_v4().as_u64_pair());
        state.id = id.is_err().then(|| Uuid::new_v4().to_string());
        state.generation += 1;
        self.generation.store(state.generation, SeqCst);
        key.and(id)
    }
}

/// Reads a file holding one random UUID, or creates it. Any failure gives a
/// fresh value for this process alone (never a shared constant), with a
/// warning that says why.
fn load_or_create(path: Option<&Path>) -> String {
    let Some(path) = path else {
        log::debug!("No cache directory for the telemetry id: using a per-process id.");
        return Uuid::new_v4().to_string();
    };
    match read_id(path) {
        Ok(Some(id)) => return id,
        Ok(None) => {}
        Err(reason) => {
            log::warn!("{reason}: using a per-process telemetry id. Reset telemetry to repair it.");
            return Uuid::new_v4().to_string();
        }
    }
    let id = Uuid::new_v4().to_string();
    match files::write_private(path, &id, Existing::Keep) {
        Ok(()) => id,
        // Another process created it first: use theirs.
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => match read_id(path) {
            Ok(Some(theirs)) => theirs,
            _ => id,
        },
        Err(err) => {
            log::warn!(
                "Cannot write the telemetry id to {} ({err}): using a per-process id.",
                path.display()
            );
            id
        }
    }
}

/// `Ok(None)` when there is no file yet; `Err` with a message when the file
/// exists but cannot be used.
fn read_id(path: &Path) -> Result<Option<String>, String> {
    match files::read_capped(path, MAX_ID_FILE_BYTES) {
        Ok(text) => match Uuid::parse_str(text.trim()) {
            Ok(id) if !id.is_nil() => Ok(Some(id.to_string())),
            _ => Err(format!("The telemetry id file {} is corrupt", path.display())),
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("Cannot read the telemetry id file {} ({err})", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app").join(ID_FILE);
        let first = Identity::new(Some(path.clone()), IdSource::Install).distinct_id();
        assert!(Uuid::parse_str(&first).is_ok());
        assert_eq!(fs::read_to_string(&path).unwrap(), first);
        let second = Identity::new(Some(path.clone()), IdSource::Install).distinct_id();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn identities_created_at_once_agree_on_one_whole_id() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(ID_FILE);
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let ids: Vec<String> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Identity::new(Some(path), IdSource::Install).distinct_id()
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|thread| thread.join().unwrap())
                .collect();
            let file = fs::read_to_string(&path).unwrap();
            assert!(Uuid::parse_str(&file).is_ok(), "{file:?}");
            assert!(ids.iter().all(|id| *id == file), "{ids:?} against {file:?}");
            // No temporary file is left behind.
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn corrupt_file_gives_per_process_ids_and_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ID_FILE);
        fs::write(&path, "not-a-uuid").unwrap();
        let a = Identity::new(Some(path.clone()), IdSource::Install).distinct_id();
        let b = Identity::new(Some(path.clone()), IdSource::Install).distinct_id();
        assert_ne!(a, b, "fallback ids must not be shared");
        assert!(Uuid::parse_str(&a).is_ok());
        assert_eq!(fs::read_to_string(&path).unwrap(), "not-a-uuid");
    }

    #[test]
    fn nil_uuid_counts_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ID_FILE);
        fs::write(&path, Uuid::nil().to_string()).unwrap();
        assert_ne!(Identity::new(Some(path), IdSource::Install).distinct_id(), Uuid::nil().to_string());
    }

    #[test]
    fn unwritable_directory_gives_per_process_id() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be makes creation fail on every platform.
        let blocker = dir.path().join("blocker");
        fs::write(&blocker, "").unwrap();
        let path = blocker.join(ID_FILE);
        let a = Identity::new(Some(path.clone()), IdSource::Install).distinct_id();
        let b = Identity::new(Some(path), IdSource::Install).distinct_id();
        assert_ne!(a, b);
    }

    #[test]
    fn reset_gives_a_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ID_FILE);
        let identity = Identity::new(Some(path.clone()), IdSource::Install);
        let first = identity.distinct_id();
        identity.reset().unwrap();
        assert!(!path.exists());
        let second = identity.distinct_id();
        assert_ne!(first, second);
        assert_eq!(fs::read_to_string(&path).unwrap(), second);
    }

    #[test]
    fn hash_key_is_kept_private_and_reset_with_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new(Some(dir.path().join(ID_FILE)), IdSource::Install);
        let key = identity.hash_key();
        assert_eq!(key, Identity::new(Some(dir.path().join(ID_FILE)), IdSource::Install).hash_key());
        let key_file = dir.path().join(HASH_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
        }
        identity.reset().unwrap();
        assert!(!key_file.exists());
        assert_ne!(identity.hash_key(), key);
    }

    #[test]
    fn fixed_id_wins_and_touches_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ID_FILE);
        let identity = Identity::new(Some(path.clone()), IdSource::Given("legacy-id".into()));
        assert_eq!(identity.distinct_id(), "legacy-id");
        assert!(!path.exists());
    }
}
