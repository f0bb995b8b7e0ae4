//! The names of spool files and the claim protocol: who holds a batch file,
//! when it was written, and whether its claim was abandoned.
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

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The extension of a batch waiting to be sent.
pub(super) const EXTENSION: &str = "batch";
/// The extension of a batch a process holds.
pub(super) const CLAIMED: &str = "claim";
/// The extension of a batch that could not be read, set aside.
pub(super) const CORRUPT: &str = "corrupt";

/// How long a claim is honoured when nothing shows that its process is
/// gone; see the module docs.
pub(crate) const CLAIM_TIMEOUT: Duration = Duration::from_secs(3600);

/// A number drawn once per process, so that a claim made by an earlier
/// process that had the same id is told from one of this process.
pub(super) fn instance() -> u64 {
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
pub(super) fn waiting_path(claim: &Path) -> Option<PathBuf> {
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
pub(super) fn written_at(path: &Path) -> Option<u128> {
    path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('-').next()).and_then(|t| t.parse().ok())
}

pub(super) fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos()
}
