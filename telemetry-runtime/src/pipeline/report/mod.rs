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
//! Where the files are and how they are written is in [`folder`]; what a
//! report says, as the event a sink gets, in [`event`]; what `telemetry
//! report` shows, in [`shown`].
//!
//! # What the client calls
//!
//! - [`Reports::forget_pending`] when consent turns off: what was not sent
//!   is deleted (the sent ones stay for the user to read).
//! - [`Reports::forget`] at a reset: everything is deleted, the counts of
//!   the current period too.
//! - [`Reports::has_due`] at start-up: a run that finds a report to send
//!   starts its worker even if it captures nothing.

mod event;
mod folder;
mod shown;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;

use self::event::{build, ReportRoute};
pub(crate) use self::folder::Stamp;
use self::folder::{delete, remove_temporary_files, stored_json, take_back_abandoned_claims, trim_sent};
use self::folder::{files_with, is_expired, period_in_name, read_stored, seconds, set_aside, Locked, Stored};
use self::folder::{CLAIMED, CORRUPT, COUNTS, MAX_AGE, SENT};
pub(crate) use self::shown::{RouteReports, Shown};
use crate::local::files::{self, Existing};
use crate::local::identity::Identity;
use crate::model::catalog::PeriodNote;
use crate::model::event::{RecordKind, Records};
use crate::model::period::{period_of, Counted, PeriodCounts};
use crate::model::time::rfc3339;
use crate::pipeline::aggregate::Series;
use crate::pipeline::route::Route;
use crate::pipeline::spool;
use crate::sink::Batch;
use crate::Level;

/// Where a client reads the time that decides periods: the system clock,
/// or a test's.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Folder, in the data directory, of the counts and reports.
pub(crate) const REPORTS_DIR: &str = "telemetry_reports";
/// The most counts one period keeps (a program declares a handful of
/// series); more are left out, with a warning.
const MAX_COUNTS: usize = 10_000;
/// How long the worker waits for the lock before it leaves its counts for
/// the next write; the caller (turning consent off, a reset) waits less.
const WORKER_WAIT: Duration = Duration::from_secs(2);
const CALLER_WAIT: Duration = Duration::from_millis(500);
/// How soon a report that could not be sent is tried again in a long run.
const RETRY: Duration = Duration::from_secs(300);

/// The reports of one client: its routes that report by period, where
/// their files are, and the clock that decides periods.
pub(crate) struct Reports {
    dir: Option<PathBuf>,
    routes: Vec<ReportRoute>,
    clock: Clock,
    /// Held, in this process, by whoever holds the lock file.
    lock: Mutex<()>,
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
        folder::forget_expired_elsewhere(root, &ours, now);
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
        folder::forget_pending(root, &kept);
    }

    /// A reset: deletes every count and report, sent or not.
    pub(crate) fn forget(&self) -> io::Result<()> {
        let Some(root) = &self.dir else { return Ok(()) };
        let _locked = self.lock(CALLER_WAIT);
        folder::remove_all(root)
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
            .map(|route| shown::route_reports(route, self.route_dir(route), now, identity))
            .collect()
    }

    /// Holds the lock of the reports' folder (see [`folder::lock`]); `None`
    /// when there is no folder, or the lock stayed held.
    fn lock(&self, wait: Duration) -> Option<Locked<'_>> {
        folder::lock(self.dir.as_ref()?, &self.lock, wait)
    }
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

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::folder::KEEP_SENT;
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
        let route = Route::default().per_period(Duration::from_secs(WEEK));
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
