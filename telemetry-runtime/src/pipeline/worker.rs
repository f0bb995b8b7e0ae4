//! The one background thread: takes events from the queue, prepares them
//! (install id, uuid, the level each sink sees them at) and hands each sink
//! a batch of views, which the sink encodes its own way.

use std::borrow::Cow;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use crate::model::event::{event_uuid, Record, RecordKind, Records};
use crate::model::stats::DropReason;
use crate::model::time::deadline_after;
use crate::model::view::{Prepared, Queued};
use crate::pipeline::recent::Recent;
use crate::pipeline::report::{Outcome, Stamp, Tally};
use crate::pipeline::route::Route;
use crate::pipeline::shared::{Inner, SinkRoute};
use crate::pipeline::spool::{Claim, Spool, WaitingFile};
use crate::sink::{Batch, SendContext, Sink};
use crate::sync::lock;
use crate::{Level, Properties, Value};

/// What the worker sends with, and the records it keeps of what it sent.
struct Outlet {
    sinks: Vec<Box<dyn Sink>>,
    /// Whether each sink keeps data on this machine, asked once.
    local: Vec<bool>,
    recent: Recent,
    spool: Option<Spool>,
    /// What was counted for reports by period and is not written yet.
    tally: Tally,
}

pub(crate) fn run(inner: Arc<Inner>, sinks: Vec<Box<dyn Sink>>) {
    // However this thread ends, waiters are released.
    let _exit = ExitGuard(&inner);
    let local = inner.sink_routes.iter().map(|sink| sink.local).collect();
    let mut outlet = Outlet {
        sinks,
        local,
        recent: Recent::new(
            inner.recent_path(),
            inner.settings.recent_deliveries,
            inner.identity.generation(),
        ),
        spool: inner.spool(),
        tally: Tally::default(),
    };
    let mut records = Records::default();
    if catch_unwind(AssertUnwindSafe(|| replay(&inner, &mut outlet))).is_err() {
        log::error!("Replaying the telemetry spool failed; it is left for a later run.");
    }
    if catch_unwind(AssertUnwindSafe(|| send_reports(&inner, &mut outlet))).is_err() {
        log::error!("Sending the telemetry reports by period failed; they are left for a later run.");
    }
    let mut interval_end = deadline_after(inner.settings.flush_interval);
    loop {
        let taken = inner.queue.take(interval_end, &mut records);
        let interval_over = Instant::now() >= interval_end;
        if interval_over {
            interval_end = deadline_after(inner.settings.flush_interval);
        }
        let taken_count = records.len();
        let delivered = catch_unwind(AssertUnwindSafe(|| {
            if interval_over && !taken.stopping {
                // Batches an outage left behind get another chance.
                replay(&inner, &mut outlet);
            }
            if inner.reports.counts_events() {
                outlet.tally.under(inner.identity.generation());
                inner.reports.tally_events(&mut outlet.tally, &records, inner.user_level());
            }
            if interval_over || taken.flushing || taken.stopping {
                add_counter_records(&inner, &mut outlet.tally, &mut records);
                write_reports(&inner, &mut outlet.tally);
            }
            if interval_over && !taken.stopping {
                send_reports(&inner, &mut outlet);
            }
            if !records.is_empty() {
                deliver(&inner, &mut outlet, &mut records);
            }
        }));
        if delivered.is_err() {
            // Sink panics are caught closer to the sink; this is the
            // worker's own failure. Telemetry turns off rather than limp on.
            log::error!("The telemetry worker failed: telemetry is off for the rest of this run.");
            // What this round took is counted lost, with what is still queued.
            inner.counters.dropped(DropReason::SinkError, taken_count + inner.queue.clear());
            inner.disable();
            break;
        }
        if interval_over || taken.flushing || taken.stopping {
            outlet.recent.save(&inner.files_lock, &inner.identity);
        }
        inner.queue.flush_done(taken.flush_generation);
        if taken.stopping {
            break;
        }
    }
}

struct ExitGuard<'a>(&'a Inner);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.queue.worker_exited();
    }
}

/// Sends what the spool holds, oldest first, until a batch has to stay
/// (the endpoint is still out of reach: the rest waits for the next try).
/// Each batch goes only to the sink whose identity and route it was written
/// with, through that route and the consent in force now.
fn replay(inner: &Inner, outlet: &mut Outlet) {
    let Some(spool) = outlet.spool.clone() else { return };
    let (mut old_files, mut old_events) = (0, 0);
    for path in spool.waiting() {
        // Claimed and read with the identity generation they belong to,
        // under the lock a reset takes: a reset from here on makes them stale.
        let taken = {
            let _files = lock(&inner.files_lock);
            spool.take(&path, inner.identity.generation())
        };
        let spooled = match taken {
            // Another process claimed it first.
            None | Some(WaitingFile::Corrupt) => continue,
            Some(WaitingFile::Expired(events)) => {
                inner.counters.dropped(DropReason::Undeliverable, events);
                continue;
            }
            Some(WaitingFile::OldFormat(events)) => {
                inner.counters.dropped(DropReason::Undeliverable, events);
                old_files += 1;
                old_events += events;
                continue;
            }
            Some(WaitingFile::Batch(spooled)) => spooled,
        };
        let index = inner
            .sink_routes
            .iter()
            .position(|sink| sink.id == spooled.sink && sink.route == spooled.route)
            .filter(|index| !outlet.local[*index]);
        let Some(index) = index else {
            log::warn!(
                "Spooled telemetry for a sink that is no longer configured (identity {}): {} events \
                 deleted unsent.",
                spooled.sink,
                spooled.events.len()
            );
            inner.counters.dropped(DropReason::Undeliverable, spooled.events.len());
            spool.remove(spooled.claim);
            continue;
        };
        // The route's filter and level cap hold on a replay as on the first
        // try; consent and the identity generation are checked when sent.
        let route = &inner.sink_routes[index].route;
        let mut events = Vec::with_capacity(spooled.events.len());
        for event in spooled.events {
            inner.counters.captured();
            let Some(view) = event.view() else { continue };
            if !route.admits(view.name(), view.is_counter()) {
                inner.counters.dropped(DropReason::Undeliverable, 1);
            } else if !route.caps_at(view.required_level()) {
                inner.counters.dropped(DropReason::ConsentWithdrawn, 1);
            } else {
                events.push(event);
            }
        }
        if events.is_empty() {
            spool.remove(spooled.claim);
            continue;
        }
        if !send_batch(inner, outlet, index, Batch { events }, Some(spooled.claim)) {
            break;
        }
    }
    if old_files > 0 {
        log::warn!(
            "{old_files} spooled telemetry batches ({old_events} events) of an earlier format were deleted \
             unsent: they do not say which sink and route they were for."
        );
    }
}

/// Prepares `records` (leaving them empty) and sends each sink the events
/// its route admits, in batches, each at the level that sink sees it.
///
/// A vendor sink gets each event at most at the consent level in force and
/// the one the event was captured under; a user-owned sink at the level the
/// user's own settings give it.
fn deliver(inner: &Inner, outlet: &mut Outlet, records: &mut Records) {
    let consent = inner.consent_level();
    let user = inner.user_level();
    // Events only allowed at a level neither the consent (at most the one
    // they were captured under) nor the user's own settings give any more
    // are dropped; the others are sent without what the lowered level
    // excludes.
    let reach = |r: &Record| consent.min(r.consent).max(user);
    let withdrawn = records.iter().filter(|(r, _)| r.min_level > reach(r)).count();
    inner.counters.dropped(DropReason::ConsentWithdrawn, withdrawn);
    if records.len() == withdrawn {
        // Nothing to send: the id file is not even read (or created).
        records.clear();
        return;
    }
    let context = Arc::new(inner.context());
    let levels: Vec<Level> =
        inner.sink_routes.iter().map(|sink| sink.route.level_under(consent, user)).collect();
    // What is waiting goes in as few requests as the limit allows. The
    // records move, uncopied, into one `Prepared` the round's batches share;
    // their buffers come back for the next round once every batch is done
    // with them (the record of recent deliveries keeps copies of its own).
    let request_size = inner.settings.batch_size.max(inner.settings.max_batch_size);
    let batch_capacity = request_size.min(records.len());
    let mut pending: Vec<Vec<Queued>> = levels.iter().map(|_| Vec::with_capacity(batch_capacity)).collect();
    let mut uuids: Vec<Uuid> = Vec::with_capacity(batch_capacity);
    let prepared = Arc::new(Prepared { records: std::mem::take(records), context });
    for (number, chunk) in prepared.records.chunks(request_size).enumerate() {
        let first = number * request_size;
        // Drawn once per event, so that every sink gets the same uuid.
        uuids.clear();
        uuids.extend(chunk.iter().map(|record| event_uuid(record.since_epoch())));
        for (index, level) in levels.iter().enumerate() {
            let route = &inner.sink_routes[index].route;
            for (at, (record, uuid)) in (first..).zip(chunk.iter().zip(&uuids)) {
                pending[index].extend(entry(route, *level, &prepared, at, record, *uuid));
            }
            while pending[index].len() >= request_size {
                // A batch of exactly the size (every chunk, when the route
                // admits all) goes as it is, and the next one starts in a
                // buffer of that size: no copy, no growth.
                let batch = if pending[index].len() == request_size {
                    std::mem::replace(&mut pending[index], Vec::with_capacity(batch_capacity))
                } else {
                    pending[index].drain(..request_size).collect()
                };
                send_to_sink(inner, outlet, index, batch);
            }
        }
    }
    for (index, rest) in pending.into_iter().enumerate() {
        if !rest.is_empty() {
            send_to_sink(inner, outlet, index, rest);
        }
    }
    // Every batch is done with: the buffers are reused, once the record of
    // recent deliveries has copied out what it keeps of them.
    outlet.recent.settle();
    if let Ok(prepared) = Arc::try_unwrap(prepared) {
        *records = prepared.records;
        records.clear();
    }
}

/// The entry of `record` (event `at` of `prepared`, with its `uuid`) in the
/// batch of the sink whose `route` sees events at `level`; `None` when the
/// route does not take it.
fn entry(
    route: &Route,
    level: Level,
    prepared: &Arc<Prepared>,
    at: usize,
    record: &Record,
    uuid: Uuid,
) -> Option<Queued> {
    // A vendor sink sees an event at most at the consent level it was
    // captured under.
    let shown = if route.is_user_owned() { level } else { level.min(record.consent) };
    if level == Level::Off || record.min_level > shown || !route.admits(&record.name, record.is_counter()) {
        return None;
    }
    Some(Queued {
        prepared: Arc::clone(prepared),
        index: at,
        uuid,
        shown,
        // What it takes to send it so: the event's own level and that of
        // the fields it holds.
        needs: record.properties_level.min(shown).max(record.min_level),
    })
}

/// What shutdown's deadline leaves undelivered, kept in the spool for the
/// next run: what is queued and the counts not drained yet, each remote
/// sink's share, as the worker would have sent it. Runs on the thread that
/// shuts down, while the worker is still held in a request. Returns how
/// many events were kept.
///
/// Whether the spool is on or not, the queued events are counted for the
/// routes that report by period, as the worker counts what it takes from
/// the queue, and the counts are drained: made events, they are captured,
/// so that those not kept are counted as dropped for the deadline like the
/// queued events, and what those routes counted is added to their files,
/// which are this machine's.
pub(crate) fn keep_undelivered(inner: &Inner) -> usize {
    let mut records = Records::default();
    inner.queue.take_now(&mut records);
    let mut tally = Tally::default();
    if inner.reports.counts_events() {
        tally.under(inner.identity.generation());
        inner.reports.tally_events(&mut tally, &records, inner.user_level());
    }
    add_counter_records(inner, &mut tally, &mut records);
    write_reports(inner, &mut tally);
    let Some(spool) = inner.spool() else { return 0 };
    let (consent, user) = (inner.consent_level(), inner.user_level());
    if records.is_empty() || (consent == Level::Off && user == Level::Off) {
        return 0;
    }
    let uuids: Vec<Uuid> = records.iter().map(|(record, _)| event_uuid(record.since_epoch())).collect();
    let prepared = Arc::new(Prepared { records, context: Arc::new(inner.context()) });
    let mut kept = vec![false; uuids.len()];
    for sink in inner.sink_routes.iter().filter(|sink| !sink.local) {
        let level = sink.route.level_under(consent, user);
        let batch: Vec<Queued> = (prepared.records.iter().zip(&uuids).enumerate())
            .filter_map(|(at, ((record, _), uuid))| entry(&sink.route, level, &prepared, at, record, *uuid))
            .collect();
        let batch = Batch { events: batch };
        // Under the lock a reset takes, and only while the id is current.
        let _files = lock(&inner.files_lock);
        if batch.is_empty() || !is_current(inner, &batch) {
            continue;
        }
        // Written, then given back at once: no one sends it in this run.
        if let Some(claim) = spool.write(&sink.id, &sink.route, &batch.events) {
            spool.release(claim);
            for event in &batch.events {
                kept[event.index] = true;
            }
        }
    }
    kept.into_iter().filter(|kept| *kept).count()
}

/// Spools a batch for a remote sink (when the spool is on), then sends it.
fn send_to_sink(inner: &Inner, outlet: &mut Outlet, index: usize, events: Vec<Queued>) {
    let batch = Batch { events };
    let spooled = match (&outlet.spool, outlet.local[index]) {
        (Some(spool), false) => {
            let sink = &inner.sink_routes[index];
            // Under the lock a reset takes, and only while the batch's id
            // is current: a batch of a reset id is never written.
            let _files = lock(&inner.files_lock);
            is_current(inner, &batch).then(|| spool.write(&sink.id, &sink.route, &batch.events)).flatten()
        }
        _ => None,
    };
    send_batch(inner, outlet, index, batch, spooled);
}

/// Whether the batch's install id was not reset since it was prepared (the
/// events of a batch share one).
fn is_current(inner: &Inner, batch: &Batch) -> bool {
    batch.events.first().is_none_or(|event| event.generation() == inner.identity.generation())
}

/// Sends one batch to sink `index`; a spooled copy is deleted unless the
/// sink may succeed on a later try, and then holds only what is left to
/// send. Returns whether the batch is done with.
fn send_batch(
    inner: &Inner,
    outlet: &mut Outlet,
    index: usize,
    batch: Batch,
    spooled: Option<Claim>,
) -> bool {
    let sent = send_to(inner, outlet.sinks[index].as_mut(), index, outlet.local[index], &batch);
    if let (Some(spool), Some(claim)) = (&outlet.spool, spooled) {
        // Under the lock a reset takes: what it made stale is not kept.
        let _files = lock(&inner.files_lock);
        match &sent {
            _ if !is_current(inner, &batch) => spool.remove(claim),
            Sent::Later(Some(left)) if left.len() < batch.len() => {
                let left: HashSet<&Uuid> = left.iter().collect();
                let rest: Vec<Queued> =
                    batch.events.iter().filter(|e| left.contains(&e.uuid)).cloned().collect();
                spool.keep_only(claim, &rest);
            }
            Sent::Later(_) => spool.release(claim),
            Sent::Whole | Sent::Partly => spool.remove(claim),
        }
    }
    match sent {
        Sent::Whole if !outlet.local[index] => {
            outlet.recent.record(batch, inner.identity.generation());
            true
        }
        Sent::Later(_) => false,
        _ => true,
    }
}

/// How a batch went to one sink.
enum Sent {
    /// Every event delivered.
    Whole,
    /// Some or all events were given up on for good.
    Partly,
    /// Some events may get through on a later run (shutdown's deadline came
    /// first, or the endpoint could not be reached): these, when the sink
    /// said which (the others were delivered or given up on for good).
    Later(Option<Vec<Uuid>>),
}

/// Adds one event per counter series (its labels and the count since last
/// time) for the routes that get counters as they are counted, and the
/// counts to the tally of routes that report by period.
fn add_counter_records(inner: &Inner, tally: &mut Tally, records: &mut Records) {
    // Taken before the counts: a count is never newer than the consent
    // level it is sent under.
    let consent = inner.take_counter_consent();
    let drained = inner.aggregates.drain();
    tally.under(inner.identity.generation());
    inner.reports.tally_series(tally, &drained, consent, inner.user_level());
    for series in drained {
        if !inner.sink_routes.iter().any(|sink| sink.route.admits(series.name, true)) {
            // Only counted for reports by period (or for no sink at all).
            continue;
        }
        let mut properties = Properties::with_capacity(series.labels.len() + 1);
        for (label, value) in series.labels.iter() {
            properties.insert(label, *value);
        }
        properties.push("count", Level::Usage, &Value::UInt(series.count));
        inner.counters.captured();
        let mut record = Record::new(Cow::Borrowed(series.name));
        record.kind = RecordKind::Counter;
        record.consent = consent;
        // A few labels and a count: far below the 4 GiB a record can hold.
        records.push(record, &properties);
    }
}

/// Adds what was counted for reports by period to their files.
fn write_reports(inner: &Inner, tally: &mut Tally) {
    if inner.reports.is_empty() {
        return;
    }
    let stamp = Stamp {
        app_name: inner.app_name.clone(),
        app_version: inner.app_version.clone(),
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        os_version: inner.os_version.get_or_init(crate::local::platform::os_version).clone(),
        lib_version: crate::model::view::LIB_VERSION.to_owned(),
        catalog_digest: inner.catalog_digest.clone(),
    };
    // Read under the reports' lock, which turning consent off and a reset
    // take too: counts are written only while both still allow them.
    let allowed =
        |route: &Route| route.level_under(inner.consent_level(), inner.user_level()) >= Level::Usage;
    inner.reports.write(tally, &stamp, &allowed, &|| inner.identity.generation());
}

/// Sends the reports by period whose period is over and that no other
/// process sends, each through its route's sink, at the consent in force.
fn send_reports(inner: &Inner, outlet: &mut Outlet) {
    if inner.reports.is_empty() {
        return;
    }
    let (consent, user) = (inner.consent_level(), inner.user_level());
    let allowed = |route: &Route| route.level_under(consent, user) >= Level::Usage;
    for due in inner.reports.take_due(&mut outlet.tally, &inner.identity, &allowed) {
        inner.counters.captured();
        let outcome = match send_to(
            inner,
            outlet.sinks[due.index].as_mut(),
            due.index,
            outlet.local[due.index],
            &due.batch,
        ) {
            Sent::Whole => Outcome::Sent,
            Sent::Later(_) => Outcome::Later,
            Sent::Partly => Outcome::Refused,
        };
        inner.reports.settle(&mut outlet.tally, due, outcome);
    }
}

/// Sends one batch to sink `index`, checked against the level that governs
/// it: the consent for a vendor sink, the user's own settings for a
/// user-owned one.
fn send_to(inner: &Inner, sink: &mut dyn Sink, index: usize, local: bool, batch: &Batch) -> Sent {
    let SinkRoute { name, route, .. } = &inner.sink_routes[index];
    let cx = SendContext {
        pace: &inner.queue,
        allowance: &inner.allowance,
        user_owned: route.is_user_owned(),
        identity: &inner.identity,
        counters: &inner.counters,
        max_event_bytes: inner.settings.max_event_bytes,
        dropped: Default::default(),
        retry_later: Default::default(),
        later: Default::default(),
        later_named: Default::default(),
        dropped_events: Default::default(),
        spans: route.sends_spans(),
        user_resource: route.is_user_owned().then_some(&inner.otel_resource[..]),
    };
    // A local sink (a file, stderr, memory) writes the batch at once: it
    // does so whole under the write barrier, so a consent change or a
    // reset that returned has either seen it written or it sees their
    // state. A remote sink's transport checks each write to the socket.
    let _hold = local.then(|| inner.allowance.hold());
    if !cx.may_send() {
        cx.dropped_these(cx.stop_reason(), batch.events.iter().map(|e| e.uuid));
        return if cx.retry_later.get() { Sent::Later(cx.kept_for_later()) } else { Sent::Partly };
    }
    // Consent may have been lowered, or the identity reset, since the batch
    // was prepared.
    let filtered;
    let batch = match cx.retain_sendable(&batch.events, |e| (e.needs, e.generation())) {
        Cow::Borrowed(_) => batch,
        Cow::Owned(events) => {
            filtered = Batch { events };
            &filtered
        }
    };
    let already_dropped = cx.dropped.get();
    if batch.is_empty() {
        return Sent::Partly;
    }
    log_events(name, batch);
    let outcome = catch_unwind(AssertUnwindSafe(|| sink.send(batch, &cx)));
    let sink_dropped = cx.dropped.get() - already_dropped;
    // The events the sink did not give up on one by one: delivered when it
    // returns `Ok`, lost for the error's reason otherwise.
    let rest = batch.len() - sink_dropped.min(batch.len());
    match outcome {
        Ok(Ok(())) => inner.counters.sent(rest),
        Ok(Err(err)) => {
            let why = crate::error::Chain(&err);
            log::warn!("Telemetry sink {name} could not deliver {rest} events: {why}");
            cx.dropped(err.reason(), rest);
        }
        Err(_) => {
            log::error!("Telemetry sink {name} panicked; {rest} events dropped.");
            inner.counters.failed();
            cx.dropped(DropReason::SinkError, rest);
        }
    }
    if cx.retry_later.get() {
        Sent::Later(cx.kept_for_later())
    } else if cx.dropped.get() == 0 {
        Sent::Whole
    } else {
        Sent::Partly
    }
}

/// One debug line per event handed to a sink, under
/// [`EVENTS_LOG_TARGET`](crate::EVENTS_LOG_TARGET): its name and its JSON
/// (PostHog's shape, with what this sink is given). Nothing is formatted
/// unless the host's logger enables that target at debug level.
fn log_events(sink: &str, batch: &Batch) {
    if log::log_enabled!(target: crate::EVENTS_LOG_TARGET, log::Level::Debug) {
        let mut json = crate::model::encode::PostHogJson::default();
        let mut out = Vec::new();
        for event in batch.events() {
            out.clear();
            json.event(&mut out, &event);
            let text = String::from_utf8_lossy(&out);
            log::debug!(target: crate::EVENTS_LOG_TARGET, "Sending {} to {sink}: {text}", event.name());
        }
    }
}
