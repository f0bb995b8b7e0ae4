//! Reports by period (see [`Route::per_period`]): counts kept on this
//! machine across runs, and sent as one report once their period is over.
//!
//! # What happens where
//!
//! - The caller's increment is unchanged: it adds to the client's
//!   in-memory counters (`aggregate`). The worker drains them as it always
//!   does, and also counts the events it takes from the queue for routes
//!   that count events ([`Tally`]); nothing here runs on the caller's
//!   thread.
//! - The worker adds what it counted to the current period's file at the
//!   end of each flush interval, at a flush and at shutdown
//!   ([`Reports::write`]): one read and one atomic rewrite per route,
//!   under a lock that every process of the program takes.
//! - Once a period is over, the first run that finds its counts claims
//!   them (an atomic rename, as the spool claims a batch), builds the report
//!   and sends it through the route's sink ([`Reports::take_due`]); sent,
//!   it is kept as it was sent, for the user to read; not sent, it waits for
//!   a later run ([`Reports::settle`]).
//!
//! # Files
//!
//! In `telemetry_reports` in the data directory, one folder per route (named
//! by the sink's identity in the spool, a fingerprint):
//! - `<start>-<end>.counts`: the counts of one period (seconds since 1970,
//!   UTC), JSON; the current period's while it runs, a pending report once
//!   it is over;
//! - `<start>-<end>.<pid>-<instance>-<claimed>.claim`: a report being sent
//!   by that process (taken back when the process is gone, or after an
//!   hour, as the spool's claims are);
//! - `<start>-<end>.sent`: a report that was sent, with the JSON exactly as
//!   it was sent; the newest 26 of each route are kept;
//! - `../lock`: the file whose lock every write in the folder holds.
//!
//! The folder of a route the program no longer has (its sink or its period
//! changed) is emptied as its periods pass [`MAX_AGE`], then removed.
//!
//! Every file is written whole under a temporary name and renamed into
//! place (mode 0600, never through a symbolic link, at most 1 MiB), so a
//! process killed while it writes leaves the previous version: it loses at
//! most what it had not written yet. The temporary file it may leave is
//! deleted by the next write. Writes, claims and deletions hold the lock:
//! the per-process mutex, then an advisory lock on `lock`
//! ([`std::fs::File::try_lock`]) that the system releases when a process
//! ends, however it ends.
//!
//! # What a report says
//!
//! One event, `telemetry_report`, stamped with the period's start, whose
//! properties are `$period_start`, `$period_end` and the counts
//! ([`Counted::wire_name`]), with the standard properties of the last run
//! that counted (its version) but no session id. Its uuid and, unless the
//! route asks for the install id, its `distinct_id` are derived from the
//! period, the route and the installation's secret key (the one of keyed
//! hashes): the same report is the same event however often it is built,
//! so `telemetry report` shows exactly the bytes that will be sent, and a
//! report sent twice (a crash between delivery and the record of it) is
//! de-duplicated by the receiver. The ids of two periods cannot be linked
//! without that key.
//!
//! # What the client calls
//!
//! - [`Reports::forget_pending`] when consent turns off: what was not sent
//!   is deleted (the sent ones stay for the user to read).
//! - [`Reports::forget`] at a reset: everything is deleted, the counts of
//!   the current period too.
//! - [`Reports::has_due`] at start-up: a run that finds a report to send
//!   starts its worker even if it captures nothing.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ring::hmac;
use serde_json::{json, Value as Json};
use uuid::Uuid;

use crate::local::files::{self, Existing};
use crate::local::identity::Identity;
use crate::model::catalog::PeriodNote;
use crate::model::encode::PostHogJson;
use crate::model::event::{Record, RecordKind, Records};
use crate::model::period::{period_of, Counted, PeriodCounts, REPORT_EVENT};
use crate::model::time::rfc3339;
use crate::model::view::{EventContext, Prepared, Queued};
use crate::pipeline::aggregate::Series;
use crate::pipeline::route::Route;
use crate::pipeline::spool;
use crate::sink::Batch;
use crate::{Level, Properties, Value};

/// Where a client reads the time that decides periods: the system clock,
/// or a test's.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Folder, in the data directory, of the counts and reports.
pub(crate) const REPORTS_DIR: &str = "telemetry_reports";
const LOCK_FILE: &str = "lock";
const COUNTS: &str = "counts";
const CLAIMED: &str = "claim";
const SENT: &str = "sent";
const CORRUPT: &str = "corrupt";
/// The format of the files, written in each.
const FORMAT: u64 = 1;
/// No file here is larger: a larger one is not ours, and is not read.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// The most counts one period keeps (a program declares a handful of
/// series); more are left out, with a warning.
const MAX_COUNTS: usize = 10_000;
/// A report whose period ended longer ago than this is deleted unsent.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(28 * 86_400);
/// How many sent reports each route keeps for the user to read.
const KEEP_SENT: usize = 26;
/// How long the worker waits for the lock before it leaves its counts for
/// the next write; the caller (turning consent off, a reset) waits less.
const WORKER_WAIT: Duration = Duration::from_secs(2);
const CALLER_WAIT: Duration = Duration::from_millis(500);
/// How soon a report that could not be sent is tried again in a long run.
const RETRY: Duration = Duration::from_secs(300);

/// A route that reports by period.
struct ReportRoute {
    /// The sink's position among the client's sinks.
    index: usize,
    /// The sink's name, for logs and `telemetry report`.
    sink: String,
    /// The sink's identity, which names the route's folder.
    id: String,
    route: Route,
    period: u64,
}

/// The reports of one client: its routes that report by period, where
/// their files are, and the clock that decides periods.
pub(crate) struct Reports {
    dir: Option<PathBuf>,
    routes: Vec<ReportRoute>,
    clock: Clock,
    /// Held, in this process, by whoever holds the lock file.
    lock: Mutex<()>,
}

/// The program and library a report speaks for: the standard properties
/// of the last run that counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) os: String,
    pub(crate) arch: String,
    pub(crate) os_version: Option<String>,
    pub(crate) lib_version: String,
    pub(crate) catalog_digest: String,
}

/// One period's counts as a file holds them.
#[derive(Debug, Clone)]
struct Stored {
    counts: PeriodCounts,
    stamp: Stamp,
}

/// What the worker counted and has not written yet.
#[derive(Default)]
pub(crate) struct Tally {
    /// For each route that reports by period, in order.
    counts: Vec<BTreeMap<Counted, u64>>,
    /// The identity generation the counts were taken under: after a reset
    /// they are dropped.
    generation: u64,
    /// When to look for reports to send next; `None`: at once.
    next_look: Option<SystemTime>,
}

/// A report claimed by this process, ready for its sink.
pub(crate) struct Due {
    /// The sink's position among the client's sinks.
    pub(crate) index: usize,
    pub(crate) batch: Batch,
    claim: PathBuf,
    /// The event's JSON, as it is sent, for the record of sent reports.
    wire: String,
    stored: Stored,
}

/// How sending a report went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent,
    /// A later run may send it (the endpoint was out of reach, or
    /// shutdown's deadline came first).
    Later,
    /// It was refused for good (or consent no longer allows it): deleted.
    Refused,
}

/// A route's reports as `telemetry report` shows them.
#[derive(Debug, Clone)]
pub(crate) struct RouteReports {
    /// The sink's name.
    pub(crate) sink: String,
    pub(crate) period: u64,
    pub(crate) install_id: bool,
    /// The current period's counts so far, as they would be sent if it
    /// ended now.
    pub(crate) current: Option<Shown>,
    /// Periods that are over and not sent yet, oldest first.
    pub(crate) pending: Vec<Shown>,
    /// Reports that were sent, oldest first.
    pub(crate) sent: Vec<Shown>,
}

/// One report as it will be or was sent.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub(crate) counts: PeriodCounts,
    /// PostHog's JSON of the report's event, the bytes a sink sends.
    pub(crate) wire: String,
    /// When it was sent (RFC 3339), for a sent report.
    pub(crate) sent_at: Option<String>,
}

impl Reports {
    /// The reports of the routes among `routes` (each sink's name, identity
    /// and route, in the sinks' order) that report by period, kept under
    /// `data_dir`.
    pub(crate) fn new<'a>(
        data_dir: Option<&Path>,
        clock: Option<Clock>,
        routes: impl Iterator<Item = (&'a str, &'a str, &'a Route)>,
    ) -> Reports {
        let routes: Vec<ReportRoute> = routes
            .enumerate()
            .filter_map(|(index, (sink, id, route))| {
                let period = route.period()?.as_secs();
                Some(ReportRoute {
                    index,
                    sink: sink.to_owned(),
                    id: id.to_owned(),
                    route: route.clone(),
                    period,
                })
            })
            .collect();
        Reports {
            dir: data_dir.map(|dir| dir.join(REPORTS_DIR)),
            routes,
            clock: clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
            lock: Mutex::new(()),
        }
    }

    /// Whether no route reports by period.
    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The time that decides periods.
    fn now(&self) -> SystemTime {
        (self.clock)()
    }

    fn route_dir(&self, route: &ReportRoute) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(&route.id))
    }

    /// Adds the counters drained from the client to `tally`, for each route
    /// that counts them and may see them: a vendor's route when the lowest
    /// consent since the last drain, `consent`, is at least `Usage`; a
    /// user-owned one when the user's own settings, `user`, allow it.
    /// Call [`Tally::under`] first.
    pub(crate) fn tally_series(&self, tally: &mut Tally, series: &[Series], consent: Level, user: Level) {
        if self.routes.is_empty() || series.is_empty() {
            return;
        }
        tally.counts.resize_with(self.routes.len(), BTreeMap::new);
        for (route, counts) in self.routes.iter().zip(&mut tally.counts) {
            if route.route.level_under(consent, user) < Level::Usage {
                continue;
            }
            for series in series.iter().filter(|s| route.route.counts(s.name, true)) {
                let count = counts.entry(counted(series)).or_default();
                *count = count.saturating_add(series.count);
            }
        }
    }

    /// Whether a route counts events (not only counters): only then are
    /// the records taken from the queue looked at.
    pub(crate) fn counts_events(&self) -> bool {
        self.routes.iter().any(|route| route.route.counts_events())
    }

    /// Counts the events of `records` for each route that counts them: an
    /// event needs no more than `Usage` (an opt-in event's occurrence is
    /// not told), and a vendor's route counts what was captured under
    /// consent to it. Call [`Tally::under`] first.
    pub(crate) fn tally_events(&self, tally: &mut Tally, records: &Records, user: Level) {
        tally.counts.resize_with(self.routes.len(), BTreeMap::new);
        for (route, counts) in self.routes.iter().zip(&mut tally.counts) {
            // By name first, borrowed: a name is copied once a round, not
            // once an event.
            let mut round: BTreeMap<&str, u64> = BTreeMap::new();
            for (record, _) in records.iter() {
                if record.kind == RecordKind::Counter
                    || record.min_level > Level::Usage
                    || route.route.level_under(record.consent, user) < Level::Usage
                    || !route.route.counts(&record.name, false)
                {
                    continue;
                }
                *round.entry(&record.name).or_default() += 1;
            }
            for (name, n) in round {
                let count = counts.entry(Counted::Event(name.to_owned())).or_default();
                *count = count.saturating_add(n);
            }
        }
    }

    /// Adds what `tally` holds to the current period's file of each route,
    /// under the lock, and forgets it. Counts taken under another identity
    /// generation than `generation()` (a reset came since) are dropped, and
    /// so are those of a route that `allowed` (read under the lock) no
    /// longer lets count: consent was turned off. Counts that cannot be
    /// written now (the lock is held too long by another process) stay for
    /// the next write.
    pub(crate) fn write(
        &self,
        tally: &mut Tally,
        stamp: &Stamp,
        allowed: &dyn Fn(&Route) -> bool,
        generation: &dyn Fn() -> u64,
    ) {
        if tally.counts.iter().all(BTreeMap::is_empty) {
            return;
        }
        let Some(_locked) = self.lock(WORKER_WAIT) else { return };
        let current = generation();
        if tally.generation != current {
            // Taken before a reset: the reset deleted what they were added to.
            tally.counts.iter_mut().for_each(BTreeMap::clear);
            tally.generation = current;
            return;
        }
        let now = self.now();
        for (route, counts) in self.routes.iter().zip(&mut tally.counts) {
            if counts.is_empty() {
                continue;
            }
            let taken = std::mem::take(counts);
            if !allowed(&route.route) {
                continue;
            }
            let Some(dir) = self.route_dir(route) else { continue };
            remove_temporary_files(&dir);
            let (start, end) = period_of(now, route.period);
            let path = dir.join(format!("{start}-{end}.{COUNTS}"));
            let mut stored = match read_stored(&path) {
                Ok(Some(stored)) => stored,
                Ok(None) => Stored {
                    counts: PeriodCounts { start, end, ..PeriodCounts::default() },
                    stamp: stamp.clone(),
                },
                Err(err) if err.kind() == io::ErrorKind::InvalidInput => {
                    // A symbolic link: left alone (logged by `files`), and
                    // nothing is written.
                    continue;
                }
                Err(err) => {
                    set_aside(&path, &err);
                    Stored {
                        counts: PeriodCounts { start, end, ..PeriodCounts::default() },
                        stamp: stamp.clone(),
                    }
                }
            };
            stored.stamp = stamp.clone();
            let mut left_out = 0;
            for (counted, n) in taken {
                if stored.counts.counts.len() >= MAX_COUNTS && !stored.counts.counts.contains_key(&counted) {
                    left_out += 1;
                    continue;
                }
                stored.counts.add(counted, n);
            }
            if left_out > 0 {
                log::warn!("A telemetry report holds {MAX_COUNTS} counts already: {left_out} more left out.");
            }
            if let Err(err) =
                files::write_private(&path, &stored_json(&stored).to_string(), Existing::Replace)
            {
                log::warn!("Cannot write the telemetry counts {} ({err}): they are lost.", path.display());
            }
        }
    }

    /// Claims the reports whose period is over, for each route whose level
    /// (`allowed`) lets it send, and builds them; deletes those older than
    /// [`MAX_AGE`] unsent, takes back the claims of processes that are gone,
    /// and trims the record of sent reports. Looks only when it is time to
    /// (at the first call, when a period ended, a while after a report
    /// could not be sent); finds nothing otherwise.
    pub(crate) fn take_due(
        &self,
        tally: &mut Tally,
        identity: &Identity,
        allowed: &dyn Fn(&Route) -> bool,
    ) -> Vec<Due> {
        let now = self.now();
        if self.routes.is_empty() || tally.next_look.is_some_and(|next| now < next) {
            return Vec::new();
        }
        // Next: when the first current period ends.
        let next_end = self.routes.iter().map(|route| period_of(now, route.period).1).min();
        tally.next_look = next_end.map(|end| std::time::UNIX_EPOCH + Duration::from_secs(end));
        let mut claimed = Vec::new();
        {
            let Some(_locked) = self.lock(WORKER_WAIT) else {
                tally.next_look = Some(now + RETRY);
                return Vec::new();
            };
            self.forget_expired_elsewhere(now);
            for route in &self.routes {
                let Some(dir) = self.route_dir(route) else { continue };
                take_back_abandoned_claims(&dir);
                trim_sent(&dir);
                for path in files_with(&dir, CORRUPT) {
                    if period_in_name(&path).is_none_or(|(_, end)| is_expired(end, now)) {
                        delete(&path);
                    }
                }
                for path in files_with(&dir, COUNTS) {
                    let Some((_, end)) = period_in_name(&path) else { continue };
                    if seconds(now) < end {
                        continue;
                    }
                    if is_expired(end, now) {
                        log::info!(
                            "A telemetry report of a period that ended over {} days ago is deleted unsent: {}.",
                            MAX_AGE.as_secs() / 86_400,
                            path.display()
                        );
                        delete(&path);
                        continue;
                    }
                    if !allowed(&route.route) {
                        continue;
                    }
                    if path.symlink_metadata().is_ok_and(|meta| meta.file_type().is_symlink()) {
                        log::warn!("{} is a symbolic link, which telemetry does not follow.", path.display());
                        continue;
                    }
                    let Some(base) = spool::claim::base_name(&path) else { continue };
                    let claim = dir.join(spool::claim::claim_name(base));
                    if fs::rename(&path, &claim).is_ok() {
                        claimed.push((route, claim));
                    }
                }
            }
        }
        let mut due = Vec::new();
        for (route, claim) in claimed {
            match read_stored(&claim) {
                Ok(Some(stored)) => {
                    let built = build(&stored, route, identity);
                    due.push(Due {
                        index: route.index,
                        batch: Batch { events: vec![built.0] },
                        claim,
                        wire: built.1,
                        stored,
                    });
                }
                Ok(None) => {}
                Err(err) => set_aside(&claim, &err),
            }
        }
        due
    }

    /// Records how sending `due` went: a sent report is kept as it was sent
    /// and its claim deleted; one a later run may send is given back; one
    /// refused for good is deleted.
    pub(crate) fn settle(&self, tally: &mut Tally, due: Due, outcome: Outcome) {
        let Some(pending) = spool::claim::base_name(&due.claim)
            .map(|base| due.claim.with_file_name(format!("{base}.{COUNTS}")))
        else {
            return;
        };
        match outcome {
            Outcome::Sent => {
                let _locked = self.lock(WORKER_WAIT);
                if !due.claim.exists() {
                    // A reset (or consent turned off) deleted it meanwhile:
                    // no record of it is kept either.
                    return;
                }
                let sent = pending.with_extension(SENT);
                let mut record = stored_json(&due.stored);
                record["sent_at"] = json!(rfc3339(SystemTime::now()));
                record["wire"] = json!(due.wire);
                if let Err(err) = files::write_private(&sent, &record.to_string(), Existing::Replace) {
                    log::warn!("Cannot keep the sent telemetry report {} ({err}).", sent.display());
                }
                delete(&due.claim);
            }
            Outcome::Later => {
                tally.next_look = Some(self.now() + RETRY);
                match fs::rename(&due.claim, &pending) {
                    Ok(()) => log::info!("The telemetry report {} waits for a later run.", pending.display()),
                    // Deleted meanwhile (consent turned off, a reset).
                    Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                    Err(err) => {
                        log::warn!("Cannot keep the telemetry report {} ({err}).", due.claim.display())
                    }
                }
            }
            Outcome::Refused => {
                log::warn!("The telemetry report {} was not accepted: deleted unsent.", pending.display());
                delete(&due.claim);
            }
        }
    }

    /// In the folders of routes this client does not have (a route whose
    /// sink or period changed since, or another program's of the same
    /// name), deletes the counts and reports whose period ended more than
    /// [`MAX_AGE`] ago, as their own route would, and the folders left
    /// empty. Called under the lock.
    fn forget_expired_elsewhere(&self, now: SystemTime) {
        let Some(root) = &self.dir else { return };
        let ours: Vec<&str> = self.routes.iter().map(|route| route.id.as_str()).collect();
        for dir in subfolders(root) {
            if dir.file_name().and_then(|n| n.to_str()).is_some_and(|name| ours.contains(&name)) {
                continue;
            }
            for path in [COUNTS, CLAIMED, CORRUPT, SENT].iter().flat_map(|ext| files_with(&dir, ext)) {
                if period_in_name(&path).is_none_or(|(_, end)| is_expired(end, now)) {
                    delete(&path);
                }
            }
            // Only an empty folder is removed.
            let _ = fs::remove_dir(&dir);
        }
    }

    /// Whether a report is ready to be sent on a route that `allowed` lets
    /// send: a period is over and its counts are waiting. Reads the names
    /// in the routes' folders only.
    pub(crate) fn has_due(&self, allowed: &dyn Fn(&Route) -> bool) -> bool {
        let now = seconds(self.now());
        self.routes.iter().filter(|route| allowed(&route.route)).any(|route| {
            let Some(dir) = self.route_dir(route) else { return false };
            files_with(&dir, COUNTS).iter().filter_map(|path| period_in_name(path)).any(|(_, end)| end <= now)
                || !files_with(&dir, CLAIMED).is_empty()
        })
    }

    /// Consent was turned off: deletes every count and report not sent yet
    /// (the current period's too), in every folder but those of user-owned
    /// routes when `keep_user_owned` (the user's own settings govern them).
    /// Sent reports stay, for the user to read.
    pub(crate) fn forget_pending(&self, keep_user_owned: bool) {
        let Some(root) = &self.dir else { return };
        let _locked = self.lock(CALLER_WAIT);
        let kept: Vec<&str> = self
            .routes
            .iter()
            .filter(|route| keep_user_owned && route.route.is_user_owned())
            .map(|route| route.id.as_str())
            .collect();
        for dir in subfolders(root) {
            if dir.file_name().and_then(|n| n.to_str()).is_some_and(|name| kept.contains(&name)) {
                continue;
            }
            for path in [COUNTS, CLAIMED, CORRUPT].iter().flat_map(|ext| files_with(&dir, ext)) {
                delete(&path);
            }
            remove_temporary_files(&dir);
        }
    }

    /// A reset: deletes every count and report, sent or not.
    pub(crate) fn forget(&self) -> io::Result<()> {
        let Some(root) = &self.dir else { return Ok(()) };
        let _locked = self.lock(CALLER_WAIT);
        let mut result = Ok(());
        for dir in subfolders(root) {
            if let Err(err) = fs::remove_dir_all(&dir) {
                if err.kind() != io::ErrorKind::NotFound {
                    result = Err(err);
                }
            }
        }
        result
    }

    /// Where the counts and reports are kept, when a route reports by
    /// period and there is a data directory.
    pub(crate) fn path(&self) -> Option<&Path> {
        if self.routes.is_empty() {
            return None;
        }
        self.dir.as_deref()
    }

    /// Every route's reports, as `telemetry report` shows them: the
    /// current period's counts and the pending reports built as they will be
    /// sent (with `identity`'s secret), and the sent ones as they were sent.
    pub(crate) fn shown(&self, identity: &Identity) -> Vec<RouteReports> {
        let now = seconds(self.now());
        self.routes
            .iter()
            .map(|route| {
                let mut reports = RouteReports {
                    sink: route.sink.clone(),
                    period: route.period,
                    install_id: route.route.reports_install_id(),
                    current: None,
                    pending: Vec::new(),
                    sent: Vec::new(),
                };
                let Some(dir) = self.route_dir(route) else { return reports };
                let waiting = files_with(&dir, COUNTS).into_iter().chain(files_with(&dir, CLAIMED));
                let mut waiting: Vec<Stored> =
                    waiting.filter_map(|path| read_stored(&path).ok().flatten()).collect();
                waiting.sort_by_key(|stored| stored.counts.start);
                for stored in waiting {
                    let (_, wire) = build(&stored, route, identity);
                    let shown = Shown { counts: stored.counts, wire, sent_at: None };
                    if shown.counts.end <= now {
                        reports.pending.push(shown);
                    } else {
                        reports.current = Some(shown);
                    }
                }
                for path in files_with(&dir, SENT) {
                    if let Some(shown) = read_sent(&path) {
                        reports.sent.push(shown);
                    }
                }
                reports.sent.sort_by_key(|shown| shown.counts.start);
                reports
            })
            .collect()
    }

    /// Holds the lock of the reports' folder: this client's mutex, then the
    /// lock file's, waiting up to `wait` for another process. `None` when
    /// there is no folder, or the lock stayed held; a lock file that cannot
    /// be locked at all (a file system without locks) is logged, and only
    /// the mutex is held.
    fn lock(&self, wait: Duration) -> Option<Locked<'_>> {
        let dir = self.dir.as_ref()?;
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let file = match files::open_lock(&dir.join(LOCK_FILE)) {
            Ok(file) => file,
            Err(err) => {
                log::warn!("Cannot open the telemetry reports' lock in {} ({err}).", dir.display());
                return None;
            }
        };
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => return Some(Locked { _file: Some(file), _guard: guard }),
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    log::warn!(
                        "The telemetry reports' lock in {} stayed held by another process.",
                        dir.display()
                    );
                    return None;
                }
                Err(fs::TryLockError::Error(err)) => {
                    log::warn!(
                        "Cannot lock {} ({err}): processes of this program may overwrite each other's counts.",
                        dir.join(LOCK_FILE).display()
                    );
                    return Some(Locked { _file: None, _guard: guard });
                }
            }
        }
    }
}

/// The lock of the reports' folder, held until dropped (closing the file
/// releases its lock).
struct Locked<'a> {
    _file: Option<fs::File>,
    _guard: MutexGuard<'a, ()>,
}

impl Tally {
    /// Counts taken from now on are of identity `generation`: those of an
    /// earlier one, not written yet, are dropped (a reset deleted the
    /// files they would be added to).
    pub(crate) fn under(&mut self, generation: u64) {
        if self.generation != generation {
            self.counts.iter_mut().for_each(BTreeMap::clear);
            self.generation = generation;
        }
    }
}

/// How the catalog describes each of `routes` that reports by period.
pub(crate) fn notes<'a>(routes: impl Iterator<Item = &'a Route>) -> Vec<PeriodNote> {
    routes
        .filter_map(|route| {
            Some(PeriodNote {
                seconds: route.period()?.as_secs(),
                only: route.names().map(<[String]>::to_vec),
                events: route.counts_events(),
                install_id: route.reports_install_id(),
            })
        })
        .collect()
}

/// The count a counter's series adds to: its name and labels. The one
/// place that reads a drained series.
fn counted(series: &Series) -> Counted {
    Counted::Counter {
        name: series.name.to_owned(),
        labels: series
            .labels
            .iter()
            .map(|(label, value)| ((*label).to_owned(), (*value).to_owned()))
            .collect(),
    }
}

/// The report of `stored` on `route`, as the event a sink gets, and that
/// event's JSON as PostHog's and the local sinks send it.
fn build(stored: &Stored, route: &ReportRoute, identity: &Identity) -> (Queued, String) {
    let counts = &stored.counts;
    let secret = identity.hash_key();
    let derive = |what: &str| derived_uuid(secret, what, &stored.stamp.app_name, &route.id, counts);
    let (install_id, generation) = identity.distinct_id_and_generation();
    let distinct_id =
        if route.route.reports_install_id() { install_id } else { derive("distinct_id").to_string() };
    let stamp = &stored.stamp;
    let context = EventContext {
        distinct_id,
        generation,
        session_id: String::new(),
        app_name: stamp.app_name.clone(),
        app_version: stamp.app_version.clone(),
        os: Cow::Owned(stamp.os.clone()),
        arch: Cow::Owned(stamp.arch.clone()),
        os_version: stamp.os_version.clone(),
        lib_version: Cow::Owned(stamp.lib_version.clone()),
        catalog_digest: stamp.catalog_digest.clone(),
        // A report is coarse by design: no location is looked up from the
        // address it comes from, whatever the program's events allow.
        geoip_disable: true,
        hash_key_source: None,
        hash_key: OnceLock::new(),
        report: Some(Arc::new(counts.clone())),
    };
    let mut properties = Properties::with_capacity(counts.counts.len() + 2);
    properties.push("$period_start", Level::Usage, &Value::text(rfc3339(counts.start_time())));
    properties.push("$period_end", Level::Usage, &Value::text(rfc3339(counts.end_time())));
    for (counted, count) in &counts.counts {
        properties.push(&counted.wire_name(), Level::Usage, &Value::UInt(*count));
    }
    let record = Record::at(Cow::Borrowed(REPORT_EVENT), Some(counts.start_time()));
    let mut records = Records::default();
    records.push(record, &properties);
    let queued = Queued {
        prepared: Arc::new(Prepared { records, context: Arc::new(context) }),
        index: 0,
        uuid: derive("uuid"),
        shown: Level::Usage,
        needs: Level::Usage,
    };
    let mut wire = Vec::new();
    if let Some(view) = queued.view() {
        PostHogJson::default().event(&mut wire, &view);
    }
    (queued, String::from_utf8_lossy(&wire).into_owned())
}

/// A version 4 uuid made of an HMAC of the period, the route and `what`,
/// keyed with the installation's secret.
fn derived_uuid(secret: (u64, u64), what: &str, app: &str, route: &str, counts: &PeriodCounts) -> Uuid {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&secret.0.to_le_bytes());
    key[8..].copy_from_slice(&secret.1.to_le_bytes());
    let message = format!("telemetry report {what}\n{app}\n{route}\n{}\n{}", counts.start, counts.end);
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), message.as_bytes());
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&tag.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// A period's counts as their file holds them.
fn stored_json(stored: &Stored) -> Json {
    let counts: Vec<Json> = stored
        .counts
        .counts
        .iter()
        .map(|(counted, count)| match counted {
            Counted::Counter { name, labels } => json!({ "counter": name, "labels": labels, "count": count }),
            Counted::Event(name) => json!({ "event": name, "count": count }),
        })
        .collect();
    let stamp = &stored.stamp;
    json!({
        "format": FORMAT,
        "start": stored.counts.start,
        "end": stored.counts.end,
        "app": {
            "name": stamp.app_name,
            "version": stamp.app_version,
            "os": stamp.os,
            "arch": stamp.arch,
            "os_version": stamp.os_version,
            "lib_version": stamp.lib_version,
            "catalog_digest": stamp.catalog_digest,
        },
        "counts": counts,
    })
}

/// Reads back what [`stored_json`] wrote; `None` when it is not that.
fn parse_stored(json: &Json) -> Option<Stored> {
    if json["format"].as_u64()? != FORMAT {
        return None;
    }
    let text = |value: &Json| value.as_str().map(str::to_owned);
    let app = &json["app"];
    let stamp = Stamp {
        app_name: text(&app["name"])?,
        app_version: text(&app["version"])?,
        os: text(&app["os"])?,
        arch: text(&app["arch"])?,
        os_version: text(&app["os_version"]),
        lib_version: text(&app["lib_version"])?,
        catalog_digest: text(&app["catalog_digest"])?,
    };
    let mut counts = PeriodCounts {
        start: json["start"].as_u64()?,
        end: json["end"].as_u64()?,
        ..PeriodCounts::default()
    };
    for entry in json["counts"].as_array()? {
        let counted = match (entry.get("counter"), entry.get("event")) {
            (Some(name), None) => {
                let labels = entry["labels"]
                    .as_array()?
                    .iter()
                    .map(|pair| match pair.as_array()?.as_slice() {
                        [label, value] => Some((text(label)?, text(value)?)),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Counted::Counter { name: text(name)?, labels }
            }
            (None, Some(name)) => Counted::Event(text(name)?),
            _ => return None,
        };
        counts.add(counted, entry["count"].as_u64()?);
    }
    Some(Stored { counts, stamp })
}

/// The counts in the file at `path`: `Ok(None)` when there is no file, an
/// `InvalidInput` error for a symbolic link, `InvalidData` for a file that
/// is not one of ours.
fn read_stored(path: &Path) -> io::Result<Option<Stored>> {
    let text = match files::read_capped(path, MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let json: Json =
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    parse_stored(&json)
        .map(Some)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a report's counts"))
}

/// A sent report, as it was sent.
fn read_sent(path: &Path) -> Option<Shown> {
    let text = files::read_capped(path, MAX_FILE_BYTES).ok()?;
    let json: Json = serde_json::from_str(&text).ok()?;
    let stored = parse_stored(&json)?;
    Some(Shown {
        counts: stored.counts,
        wire: json["wire"].as_str()?.to_owned(),
        sent_at: json["sent_at"].as_str().map(str::to_owned),
    })
}

/// Moves a file that cannot be read aside, as `.corrupt` (deleted once its
/// period is past [`MAX_AGE`]).
fn set_aside(path: &Path, err: &io::Error) {
    let Some(base) = spool::claim::base_name(path) else { return };
    let aside = path.with_file_name(format!("{base}.{CORRUPT}"));
    log::warn!(
        "Telemetry counts {} cannot be read ({err}): moved aside to {}.",
        path.display(),
        aside.display()
    );
    if fs::rename(path, &aside).is_err() {
        delete(path);
    }
}

fn delete(path: &Path) {
    if let Err(err) = files::remove_if_present(path) {
        log::warn!("Cannot delete the telemetry report file {} ({err}).", path.display());
    }
}

/// Files of `dir` with this extension, in name order (oldest period first).
fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort_by_key(|path| period_in_name(path).unwrap_or_default());
    found
}

/// The folders of the routes under `root`.
fn subfolders(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

/// Deletes the temporary files a write killed part-way left behind. Called
/// under the lock, so no write is under way.
fn remove_temporary_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for path in entries.filter_map(|entry| entry.ok().map(|e| e.path())) {
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|name| name.contains(".tmp")) {
            delete(&path);
        }
    }
}

/// Gives back, as waiting counts, the claims of processes that are gone.
fn take_back_abandoned_claims(dir: &Path) {
    for claim in files_with(dir, CLAIMED) {
        if !spool::claim::is_abandoned(&claim) {
            continue;
        }
        let Some(base) = spool::claim::base_name(&claim) else { continue };
        let waiting = claim.with_file_name(format!("{base}.{COUNTS}"));
        if fs::rename(&claim, &waiting).is_ok() {
            log::info!(
                "A telemetry report claimed by a process that is gone waits again: {}.",
                waiting.display()
            );
        }
    }
}

/// Keeps the newest [`KEEP_SENT`] sent reports.
fn trim_sent(dir: &Path) {
    let sent = files_with(dir, SENT);
    for path in sent.iter().take(sent.len().saturating_sub(KEEP_SENT)) {
        delete(path);
    }
}

/// The period a file name starts with: `<start>-<end>.`.
fn period_in_name(path: &Path) -> Option<(u64, u64)> {
    let base = spool::claim::base_name(path)?;
    let (start, end) = base.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?))
}

/// Whether a period that ended at `end` is past [`MAX_AGE`] at `now`.
fn is_expired(end: u64, now: SystemTime) -> bool {
    seconds(now).saturating_sub(end) > MAX_AGE.as_secs()
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::identity::{IdSource, ID_FILE};

    const WEEK: u64 = 604_800;
    /// Wednesday 2025-01-08, in the week of Monday 2025-01-06.
    const WEDNESDAY: u64 = 1_736_348_645;

    fn stamp() -> Stamp {
        Stamp {
            app_name: "app".into(),
            app_version: "1.0.0".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            os_version: None,
            lib_version: "0.1.0".into(),
            catalog_digest: "0123456789abcdef".into(),
        }
    }

    fn reports(dir: &Path, now: Arc<std::sync::atomic::AtomicU64>) -> Reports {
        let route = Route::all().per_period(Duration::from_secs(WEEK));
        let clock: Clock = Arc::new(move || {
            std::time::UNIX_EPOCH + Duration::from_secs(now.load(std::sync::atomic::Ordering::SeqCst))
        });
        Reports::new(Some(dir), Some(clock), [("sink", "0011223344556677", &route)].into_iter())
    }

    fn count(reports: &Reports, tally: &mut Tally, counted: Counted, n: u64) {
        tally.counts.resize_with(reports.routes.len(), BTreeMap::new);
        *tally.counts[0].entry(counted).or_default() += n;
        reports.write(tally, &stamp(), &|_| true, &|| 0);
    }

    fn event(name: &str) -> Counted {
        Counted::Event(name.into())
    }

    #[test]
    fn a_report_is_the_same_event_every_time_it_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::new(Some(dir.path().join(ID_FILE)), IdSource::Install);
        let now = Arc::new(std::sync::atomic::AtomicU64::new(WEDNESDAY));
        let reports = reports(dir.path(), now.clone());
        let mut tally = Tally::default();
        count(&reports, &mut tally, event("build"), 3);
        let shown = reports.shown(&identity);
        let current = shown[0].current.clone().unwrap();
        assert_eq!(current.wire, reports.shown(&identity)[0].current.clone().unwrap().wire);
        let json: Json = serde_json::from_str(&current.wire).unwrap();
        assert_eq!(json["properties"]["$events{event=build}"], 3);
        assert!(json["properties"].get("$session_id").is_none());
        // Another period: other ids, which cannot be told from the first's.
        now.store(WEDNESDAY + WEEK, std::sync::atomic::Ordering::SeqCst);
        count(&reports, &mut tally, event("build"), 1);
        let next = reports.shown(&identity)[0].current.clone().unwrap();
        let next: Json = serde_json::from_str(&next.wire).unwrap();
        assert_ne!(next["uuid"], json["uuid"]);
        assert_ne!(next["distinct_id"], json["distinct_id"]);
        assert_ne!(json["distinct_id"], identity.distinct_id_and_generation().0.as_str());
        // A reset's new secret: other ids for the same period.
        identity.reset().unwrap();
        let again: Json = serde_json::from_str(&reports.shown(&identity)[0].pending[0].wire).unwrap();
        assert_eq!(again["properties"], json["properties"]);
        assert_ne!(again["uuid"], json["uuid"]);
    }

    #[test]
    fn a_period_keeps_a_bounded_number_of_counts_and_sent_reports() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(std::sync::atomic::AtomicU64::new(WEDNESDAY));
        let reports = reports(dir.path(), now.clone());
        let mut tally = Tally::default();
        tally.counts.resize_with(1, BTreeMap::new);
        for i in 0..MAX_COUNTS + 5 {
            tally.counts[0].insert(event(&format!("e{i}")), 1);
        }
        reports.write(&mut tally, &stamp(), &|_| true, &|| 0);
        let identity = Identity::new(None, IdSource::Install);
        assert_eq!(reports.shown(&identity)[0].current.as_ref().unwrap().counts.counts.len(), MAX_COUNTS);
        // Sent reports beyond the newest 26 are deleted.
        let folder = dir.path().join(REPORTS_DIR).join("0011223344556677");
        for week in 0..30u64 {
            let start = 1_736_121_600 - week * WEEK;
            std::fs::write(folder.join(format!("{start}-{}.{SENT}", start + WEEK)), "{}").unwrap();
        }
        trim_sent(&folder);
        let kept = files_with(&folder, SENT);
        assert_eq!(kept.len(), KEEP_SENT);
        assert_eq!(period_in_name(&kept[KEEP_SENT - 1]), Some((1_736_121_600, 1_736_121_600 + WEEK)));
        // The folder of a route no longer configured keeps what is recent,
        // and is removed once it is empty.
        let elsewhere = dir.path().join(REPORTS_DIR).join("8899aabbccddeeff");
        std::fs::create_dir_all(&elsewhere).unwrap();
        let (old, recent) =
            (elsewhere.join("0-604800.counts"), elsewhere.join("1736121600-1736726400.counts"));
        std::fs::write(&old, "{}").unwrap();
        std::fs::write(&recent, "{}").unwrap();
        reports.forget_expired_elsewhere(std::time::UNIX_EPOCH + Duration::from_secs(WEDNESDAY + WEEK));
        assert!(!old.exists() && recent.exists());
        std::fs::remove_file(&recent).unwrap();
        reports.forget_expired_elsewhere(std::time::UNIX_EPOCH + Duration::from_secs(WEDNESDAY + WEEK));
        assert!(!elsewhere.exists() && folder.exists());
    }

    #[test]
    fn counts_of_a_withdrawn_consent_or_an_earlier_identity_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let reports = reports(dir.path(), Arc::new(std::sync::atomic::AtomicU64::new(WEDNESDAY)));
        let identity = Identity::new(None, IdSource::Install);
        let mut tally = Tally::default();
        tally.under(0);
        tally.counts.resize_with(1, BTreeMap::new);
        tally.counts[0].insert(event("build"), 1);
        reports.write(&mut tally, &stamp(), &|_| false, &|| 0);
        assert!(reports.shown(&identity)[0].current.is_none(), "consent was withdrawn");
        tally.counts[0].insert(event("build"), 1);
        reports.write(&mut tally, &stamp(), &|_| true, &|| 1);
        assert!(reports.shown(&identity)[0].current.is_none(), "a reset came");
        tally.under(1);
        tally.counts[0].insert(event("build"), 2);
        reports.write(&mut tally, &stamp(), &|_| true, &|| 1);
        assert_eq!(reports.shown(&identity)[0].current.as_ref().unwrap().counts.counts[&event("build")], 2);
    }
}
