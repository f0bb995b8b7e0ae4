//! The state a client shares with its worker thread: consent and the
//! gate captures read, the queue, identity, sinks' routes and counters.
//! The client (`client`) is the API over it; the worker (`worker`) reads it.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::local::consent::{self, Consent, ConsentSource, EnvLookup, EnvVar};
use crate::local::identity::Identity;
use crate::local::platform;
use crate::local::version::VersionRecord;
use crate::model::catalog::Catalog;
use crate::model::event::{self, Record};
use crate::model::level::COMPILED_IN;
use crate::model::packed::MAX_DEPTH;
use crate::model::stats::{Counters, DropReason};
use crate::model::time::deadline_after;
use crate::model::view::{EventContext, LIB_VERSION};
use crate::pipeline::aggregate::Aggregates;
use crate::pipeline::queue::Queue;
use crate::pipeline::report::Reports;
use crate::pipeline::route::Route;
use crate::pipeline::spool::{Spool, SpoolSettings, SPOOL_DIR};
use crate::sink::allowance::Allowance;
use crate::sink::Sink;
use crate::sync::{self, lock, Mutex};
use crate::{Level, Properties};

/// The most of shutdown's deadline kept for writing to the spool what the
/// worker could not deliver in time (a quarter of the deadline, up to this).
const MAX_KEEPING_TIME: Duration = Duration::from_millis(250);

/// File name of local-only events inside the data directory.
pub(crate) const LOCAL_EVENTS_FILE: &str = "telemetry_events.jsonl";
/// File name of the record of recent deliveries inside the data directory.
pub(crate) const RECENT_FILE: &str = "telemetry_recent.jsonl";

/// Numbers the worker and queue run by.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) queue_capacity: usize,
    pub(crate) queue_bytes: usize,
    pub(crate) batch_size: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_event_bytes: usize,
    pub(crate) recent_deliveries: usize,
    pub(crate) spool: Option<SpoolSettings>,
}

/// One client's state, shared by its handles and its worker thread.
pub(crate) struct Inner {
    /// The level captures are taken at: the higher of the consent level and
    /// the user-owned sinks' level until shutdown, Off after. For the global client this is the static that
    /// `is_enabled()` reads; other clients keep theirs in `own_gate`, so
    /// that a client made per task leaves nothing behind when it is dropped.
    pub(crate) global_gate: Option<&'static AtomicU8>,
    pub(crate) own_gate: AtomicU8,
    /// The levels the user allows: consent (for the vendor's sinks) and the
    /// user's own settings (for the user-owned sinks, see
    /// [`Route::owned_by_user`]: `Off` when there are none, or the user set
    /// `OTEL_SDK_DISABLED=true`; consent does not change it). The worker
    /// and the sinks check them before sending, so shutdown (which closes
    /// the gate) still delivers what consent allowed; and with their write
    /// barrier, a change is exact once it returns.
    pub(crate) allowance: Arc<Allowance>,
    /// Held by every change of consent, from the choice to the barrier:
    /// concurrent changes take effect one at a time, whole, and the state
    /// everywhere is that of the last one.
    pub(crate) changing: Mutex<()>,
    /// The lowest consent level since counters were last drained: counts
    /// taken while consent was lower reach the vendor's sinks at most at
    /// that level.
    pub(crate) counter_consent: AtomicU8,
    pub(crate) consent: Mutex<Consent>,
    pub(crate) resolver: Resolver,
    pub(crate) queue: Queue,
    pub(crate) counters: Counters,
    pub(crate) identity: Arc<Identity>,
    pub(crate) version: VersionRecord,
    /// Held by a reset while it moves the identity to a new generation and
    /// deletes what holds the old id (the record of recent deliveries,
    /// spooled batches), and by the worker while it reads the spool or
    /// writes that record, reading the generation under it: so the worker
    /// sees either none of a reset or all of it. Never held during network
    /// I/O.
    pub(crate) files_lock: Mutex<()>,
    pub(crate) session_id: String,
    pub(crate) app_name: String,
    pub(crate) app_version: String,
    pub(crate) settings: Settings,
    pub(crate) sinks: Mutex<Option<Vec<Box<dyn Sink>>>>,
    /// Each sink's name, spool identity and route, in the order of the
    /// sinks.
    pub(crate) sink_routes: Vec<SinkRoute>,
    /// The resource attributes of the user's OpenTelemetry variables, for
    /// the user-owned sinks (see [`crate::sink::otel_resource`]).
    pub(crate) otel_resource: Vec<(String, String)>,
    pub(crate) worker_started: AtomicBool,
    pub(crate) shut_down: AtomicBool,
    /// The process that made the client. In a child forked from it the
    /// client is inert: the worker thread stayed with the parent.
    pub(crate) pid: u32,
    /// A shutdown's deadline gave events up: every later answer is `false`.
    pub(crate) shutdown_lost: AtomicBool,
    /// Events given up on, for every reason, when the last flush returned:
    /// a flush is complete only when no more were given up on since.
    pub(crate) dropped_at_flush: AtomicU64,
    pub(crate) aggregates: Aggregates,
    /// The routes that report by period, and their files.
    pub(crate) reports: Reports,
    pub(crate) catalog: Catalog,
    pub(crate) catalog_digest: String,
    /// Send `$geoip_disable: true` with every event.
    pub(crate) disable_geoip: bool,
    /// `$os_version`, read once on the worker thread when first needed.
    pub(crate) os_version: OnceLock<Option<String>>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) debug: bool,
    pub(crate) local_only: bool,
    /// The configured (or user-set) share of events kept.
    pub(crate) sample_rate: f64,
    /// The seeded sampler's SplitMix64 state, with [`Delivery::sample_seed`].
    pub(crate) sample_state: Option<AtomicU64>,
    /// The worker thread's body: `worker::run`, given by the client (the
    /// worker reads this state, so this module does not name it).
    pub(crate) worker_main: fn(Arc<Inner>, Vec<Box<dyn Sink>>),
    /// Writes what is still queued to the spool, when shutdown's deadline
    /// comes before the worker is done: `worker::keep_undelivered` (named
    /// through this field for the same reason as `worker_main`).
    pub(crate) keep_undelivered: fn(&Inner) -> usize,
}

/// What the worker needs of a sink besides the sink itself.
pub(crate) struct SinkRoute {
    /// For logs and status (without what may hold a secret).
    pub(crate) name: String,
    /// Its identity in the spool.
    pub(crate) id: String,
    pub(crate) route: Route,
    /// Whether the sink keeps data on this machine (asked once): the spool
    /// and the record of recent deliveries are for the others.
    pub(crate) local: bool,
}

/// What consent resolution needs to run again after a change.
pub(crate) struct Resolver {
    pub(crate) explicit: Mutex<Option<Level>>,
    pub(crate) env: EnvLookup,
    pub(crate) env_vars: Vec<EnvVar>,
    pub(crate) consent_path: Option<PathBuf>,
    pub(crate) detect_ci: bool,
    pub(crate) default: Level,
    /// Set when the first-run notice was due in this run: the default then
    /// sends nothing until the next run.
    pub(crate) notice_pending: AtomicBool,
    /// Set when this run showed the first-run notice (it may be pending
    /// without being shown: in a run of the telemetry commands, or without
    /// a terminal when one is required).
    pub(crate) notice_shown: AtomicBool,
    /// Which variable messages name as the switch when none decided.
    pub(crate) documented: usize,
}

impl Inner {
    /// The cell the level captures are taken at lives in.
    #[inline]
    pub(crate) fn gate(&self) -> &AtomicU8 {
        match self.global_gate {
            Some(gate) => gate,
            None => &self.own_gate,
        }
    }

    /// The level captures are taken at.
    #[inline]
    pub(crate) fn level(&self) -> Level {
        Level::from_u8(self.gate().load(Relaxed))
    }

    /// Whether this is a child process forked from the one that made the
    /// client.
    pub(crate) fn forked(&self) -> bool {
        std::process::id() != self.pid
    }

    /// In a forked child: turns the client off for this process, counts
    /// what the parent had queued (when the queue can be had without
    /// waiting) as dropped for [`DropReason::Forked`], and answers `false`
    /// for the flush or shutdown that found it. Nothing here waits for a
    /// lock another thread of the parent may have held at the fork, and
    /// nothing is logged (a logger's lock may be one of them).
    pub(crate) fn give_up_after_fork(&self) -> bool {
        self.gate().store(Level::Off as u8, Relaxed);
        self.allowance.set_off();
        if let Some(stranded) = self.queue.clear_unless_forked() {
            self.counters.dropped(DropReason::Forked, stranded);
        }
        false
    }

    /// See [`Telemetry::shutdown`].
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        if self.forked() {
            return self.give_up_after_fork();
        }
        let deadline = deadline_after(timeout);
        if self.shut_down.swap(true, Relaxed) {
            // Shut down already, or being: this call answers for the whole
            // shutdown as it stands at its own deadline. The worker may end
            // now (a request the first call gave up on returned); events
            // given up on by a deadline are not delivered, whatever comes.
            return self.queue.stop(deadline) && !self.shutdown_lost.load(Relaxed);
        }
        // New captures stop here; the worker still sends what is queued.
        self.gate().store(Level::Off as u8, Relaxed);
        let started = {
            // Taking the sinks out means a worker can no longer start.
            let mut sinks = lock(&self.sinks);
            sinks.take().is_none()
        };
        if !started {
            // No worker will come: refuse new pushes, and count what a
            // capture racing this shutdown managed to queue.
            self.queue.worker_exited();
            self.queue.stop(deadline);
            let stranded = self.queue.clear();
            self.counters.dropped(DropReason::Shutdown, stranded);
            return true;
        }
        // With the spool on, a share of the deadline is kept for writing
        // what the worker could not deliver in time to the spool, for the
        // next run: the worker gives up that much earlier.
        let keeping = match self.settings.spool {
            Some(_) => (timeout / 4).min(MAX_KEEPING_TIME),
            None => Duration::ZERO,
        };
        if self.queue.stop(deadline.checked_sub(keeping).unwrap_or(deadline)) {
            return true;
        }
        // The worker is still in a request: what it holds was spooled
        // before it was sent (with the spool on); what is queued behind it
        // is kept now. The rest ends with the process. Say so, and count it.
        let kept = (self.keep_undelivered)(self);
        let lost = self.counters.settle(DropReason::Shutdown);
        self.shutdown_lost.store(lost > 0, Relaxed);
        self.queue.clear();
        if lost > 0 {
            let spooled =
                if kept > 0 { format!(" ({kept} of them kept for the next run)") } else { String::new() };
            log::warn!(
                "Telemetry shutdown deadline ({timeout:?}) expired while delivering: \
                 {lost} events not delivered{spooled}."
            );
        }
        false
    }

    /// Whether an event sampled at `rate` (below 1) is kept; one that is not
    /// is counted.
    pub(crate) fn keep(&self, rate: f64) -> bool {
        let kept = match &self.sample_state {
            Some(state) => event::kept(
                event::mix(state.fetch_add(event::GAMMA, Relaxed).wrapping_add(event::GAMMA)),
                rate,
            ),
            None => event::sampled(rate),
        };
        if !kept {
            self.counters.sampled_out();
        }
        kept
    }

    /// The level the user allows, which sending to the vendor's sinks is
    /// checked against.
    pub(crate) fn consent_level(&self) -> Level {
        self.allowance.consent()
    }

    /// The level the user's own settings give user-owned sinks.
    pub(crate) fn user_level(&self) -> Level {
        self.allowance.user()
    }

    /// The lowest consent level since the last call, for the counts
    /// drained with it.
    pub(crate) fn take_counter_consent(&self) -> Level {
        let lowest = self.counter_consent.swap(Level::Full as u8, Relaxed);
        // A change of consent after the swap lowers it again by itself.
        self.counter_consent.fetch_min(self.consent_level() as u8, Relaxed);
        Level::from_u8(lowest)
    }

    pub(crate) fn enqueue(self: &Arc<Self>, record: Record, properties: &Properties) {
        if properties.too_deep() {
            log::warn!("Telemetry event {:?} nests lists deeper than {MAX_DEPTH}: dropped.", record.name);
            self.counters.dropped(DropReason::Invalid, 1);
            return;
        }
        self.ensure_worker();
        match self.queue.push(record, properties) {
            Ok(()) => self.counters.captured(),
            // Captured while shutting down: counted in, then out, so that
            // `captured == sent + dropped` (less the queue-full drops) holds.
            Err(DropReason::Shutdown) => {
                self.counters.captured();
                self.counters.dropped(DropReason::Shutdown, 1);
            }
            Err(DropReason::Forked) => {
                // The queue's lock was held at a fork: later captures in this
                // child stop at the gate.
                self.counters.dropped(DropReason::Forked, 1);
                self.gate().store(Level::Off as u8, Relaxed);
            }
            Err(reason) => self.counters.dropped(reason, 1),
        }
    }

    #[inline]
    pub(crate) fn ensure_worker(self: &Arc<Self>) {
        if !self.worker_started.load(Relaxed) {
            self.start_worker();
        }
    }

    #[cold]
    pub(crate) fn start_worker(self: &Arc<Self>) {
        let mut sinks = lock(&self.sinks);
        if self.worker_started.load(Relaxed) {
            return;
        }
        let Some(taken) = sinks.take() else { return };
        let inner = Arc::clone(self);
        let spawned = sync::thread::Builder::new().name("telemetry-worker".into()).spawn({
            let main = self.worker_main;
            move || main(inner, taken)
        });
        if let Err(err) = spawned {
            log::warn!("Cannot start the telemetry thread ({err}): telemetry is off.");
            self.gate().store(Level::Off as u8, Relaxed);
            self.queue.worker_exited();
        }
        self.worker_started.store(true, Relaxed);
    }

    /// Makes a change of consent: `choose` records the choice (the explicit
    /// level, or the saved file), then consent is resolved again and
    /// applied everywhere. Changes are serialized, and each returns only
    /// once no byte its new state forbids can still be written.
    pub(crate) fn change_consent<E>(&self, choose: impl FnOnce() -> Result<(), E>) -> Result<(), E> {
        if self.forked() {
            // The choice is recorded (a saved one is for later runs); the
            // client itself stays off in a forked child.
            return choose();
        }
        let _changing = lock(&self.changing);
        choose()?;
        self.apply(self.resolver.resolve());
        // A write checked against the old level finishes before this
        // returns; every later one sees the new level.
        self.allowance.settle();
        Ok(())
    }

    /// Applies a resolved consent (see [`change_consent`](Inner::change_consent)).
    fn apply(&self, consent: Consent) {
        if self.shut_down.load(Relaxed) {
            return;
        }
        let level = compiled_level(consent.level);
        self.allowance.set_consent(level);
        self.counter_consent.fetch_min(level as u8, Relaxed);
        self.gate().store((level as u8).max(self.user_level() as u8), Relaxed);
        if self.shut_down.load(Relaxed) {
            // A shutdown ran between the check and the store: keep it closed.
            self.gate().store(Level::Off as u8, Relaxed);
        }
        if consent.level == Level::Off && self.user_level() == Level::Off {
            // Nothing captured before the user said no may leave the process:
            // neither queued events nor counts (counters are usage data).
            // With a user-owned sink they stay for that sink alone: each
            // carries the consent it was captured under, and the vendor's
            // sinks get nothing above the consent in force when sending.
            let n = self.queue.clear();
            self.counters.dropped(DropReason::ConsentWithdrawn, n);
            drop(self.aggregates.drain());
        }
        if consent.level == Level::Off && consent.source != ConsentSource::NoticePending {
            // What was not sent of reports by period is deleted too.
            self.reports.forget_pending(self.user_level() > Level::Off);
        }
        // A worker waiting to retry checks its batch against the new level
        // now, not when its wait ends.
        self.queue.consent_changed();
        log_decision(&consent, &self.resolver);
        *lock(&self.consent) = consent;
    }

    /// The spool, when it is on and there is a cache directory.
    pub(crate) fn spool(&self) -> Option<Spool> {
        let settings = self.settings.spool.clone()?;
        Some(Spool::new(self.cache_dir.as_ref()?.join(SPOOL_DIR), settings))
    }

    pub(crate) fn recent_path(&self) -> Option<PathBuf> {
        Some(self.data_dir.as_ref()?.join(RECENT_FILE))
    }

    /// Turns telemetry off for the rest of the run (the worker failed).
    pub(crate) fn disable(&self) {
        self.gate().store(Level::Off as u8, Relaxed);
        self.allowance.set_off();
    }

    /// What the events prepared now share: the install id (read, or
    /// created, here; worker only) and the standard properties.
    pub(crate) fn context(&self) -> EventContext {
        let (distinct_id, generation) = self.identity.distinct_id_and_generation();
        EventContext {
            distinct_id,
            generation,
            session_id: self.session_id.clone(),
            app_name: self.app_name.clone(),
            app_version: self.app_version.clone(),
            os: Cow::Borrowed(std::env::consts::OS),
            arch: Cow::Borrowed(std::env::consts::ARCH),
            os_version: self.os_version.get_or_init(platform::os_version).clone(),
            lib_version: Cow::Borrowed(LIB_VERSION),
            catalog_digest: self.catalog_digest.clone(),
            geoip_disable: self.disable_geoip,
            hash_key_source: Some({
                let identity = Arc::clone(&self.identity);
                Arc::new(move || identity.hash_key())
            }),
            hash_key: OnceLock::new(),
            report: None,
        }
    }
}

impl Resolver {
    pub(crate) fn resolve(&self) -> Consent {
        let consent = consent::resolve(&consent::Inputs {
            explicit: *lock(&self.explicit),
            env: &self.env,
            env_vars: &self.env_vars,
            persisted: self.consent_path.as_deref(),
            detect_ci: self.detect_ci,
            default: self.default,
        });
        if consent.source == ConsentSource::Default && self.notice_pending.load(Relaxed) {
            return Consent::new(Level::Off, ConsentSource::NoticePending);
        }
        consent
    }
}

/// With the `off` feature nothing is ever enabled, whatever was resolved.
pub(crate) fn compiled_level(level: Level) -> Level {
    if COMPILED_IN {
        level
    } else {
        Level::Off
    }
}

/// Tells the user what was decided and, when telemetry is on, the switch
/// that turns it off: the variable in use with the value that disables it
/// for that variable (`ANONYMIZED_TELEMETRY=false`, `APP_NO_TELEMETRY=1`),
/// and no variable at all when an explicit choice outranks every one.
pub(crate) fn log_decision(consent: &Consent, resolver: &Resolver) {
    if consent.level == Level::Off {
        log::debug!("Telemetry disabled ({}).", consent.source);
        return;
    }
    match consent::off_switch(consent, &resolver.env_vars, resolver.documented) {
        Some((name, value)) => log::info!("Anonymized telemetry enabled. Set {name}={value} to disable."),
        None => log::info!(
            "Anonymized telemetry enabled by the program's own setting \
             (environment variables do not change it in this run)."
        ),
    }
}
