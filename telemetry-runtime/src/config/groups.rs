//! The groups of settings a [`Config`](super::Config) changes through a
//! closure: environment variables, directories, the first-run notice, and
//! delivery.

use std::path::PathBuf;
use std::time::Duration;

use crate::local::consent::Polarity;
use crate::pipeline::shared::Settings;
use crate::pipeline::spool::SpoolSettings;

/// The environment variables that decide consent (see [`Config::env`](crate::Config::env)).
///
/// Each is read as a level (`off`, `usage`, `full`, and the usual
/// `0`/`1`/`false`/`true`, `local`); the first one set decides, the main
/// variable first, then the legacy ones in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVars {
    /// The main variable (default `<APP>_TELEMETRY`: the app name
    /// upper-cased, with `-` and `.` as `_`).
    pub main: String,
    /// Variables an earlier version of the application honoured, read
    /// after the main one, each with what its "true" means.
    pub legacy: Vec<(String, Polarity)>,
    /// The variable the program's own documentation tells users to set,
    /// when it is not the main one: for a tool whose users know
    /// `ANONYMIZED_TELEMETRY=false`, the notice and log lines then say
    /// "Set ANONYMIZED_TELEMETRY=false to disable" rather than naming the
    /// main variable, unless another variable decided (that one is named).
    /// It must be one of the variables read, with a polarity that can turn
    /// telemetry off.
    pub documented: Option<String>,
    /// Whether a CI environment turns telemetry off (default `true`).
    pub detect_ci: bool,
}

/// Where the library keeps its files (see [`Config::dirs`](crate::Config::dirs)); `None` is the
/// platform's directory joined with the app name. A path converts into
/// `Dirs` with all three in it (the files' names do not collide).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirs {
    /// The install id, the key of hashed values, the recorded version and
    /// the spool (default: the platform cache directory).
    pub cache: Option<PathBuf>,
    /// The saved consent choice (default: the platform config directory).
    pub config: Option<PathBuf>,
    /// Local-only events, the record of recent deliveries and the counts
    /// and reports of routes that report by period (default: the platform
    /// data directory).
    pub data: Option<PathBuf>,
}

impl<P: Into<PathBuf>> From<P> for Dirs {
    fn from(dir: P) -> Dirs {
        let dir = dir.into();
        Dirs { cache: Some(dir.clone()), config: Some(dir.clone()), data: Some(dir) }
    }
}

/// The first-run notice (see [`Config::notice`](crate::Config::notice)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Whether telemetry that is on by default first shows a notice and
    /// sends nothing in that run (default `true`). Turn it off only if the
    /// program tells its users in another way before its first run.
    pub enabled: bool,
    /// When stderr is not a terminal (a script, a pipe), neither show the
    /// notice nor send anything until a run on a terminal has shown it
    /// (default `false`: the notice goes to stderr wherever it points).
    pub requires_terminal: bool,
    /// How users reach the telemetry subcommands (for example
    /// `"mytool telemetry"`); the notice tells them about `catalog` and
    /// `off`. A run of those commands themselves (`mytool telemetry off`,
    /// also `mytool --no-telemetry telemetry status`: the words after the
    /// program's name come first among its arguments that are not options)
    /// does not show the notice, which would tell the user to run what they
    /// are running, and sends nothing: the notice stays due for the next
    /// run, unless the command saved a choice (`off`, `on`, ...), which
    /// needs none.
    pub commands: Option<String>,
    /// The notice's text, in place of the library's.
    pub text: Option<String>,
}

/// Which events are kept, and how they are queued, batched and delivered,
/// or printed or kept on this machine instead (see
/// [`Config::delivery`](crate::Config::delivery)).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Events kept in memory before new ones are dropped and counted as
    /// [`DropReason::QueueFull`](crate::DropReason::QueueFull) (default
    /// 10,000). The queue is what absorbs a burst: the worker sends while
    /// callers capture, but a capture never waits for it. A program that
    /// captures more than this faster than its endpoint takes them should
    /// raise it (each queued event holds its record, 48 bytes, and its
    /// packed properties, typically 100-300 bytes), or aggregate with
    /// counters; `BENCHMARKS.md` ("A burst, with an endpoint that answers") has what a
    /// tight loop delivers.
    pub queue_capacity: usize,
    /// The most bytes the queued events' properties may hold (default
    /// 16 MiB), so that memory is bounded by size as well as by count: ten
    /// thousand events each carrying a 100 KB opt-in text would otherwise
    /// hold a gigabyte. With the defaults it never binds before the count
    /// for events averaging under 1.6 KiB. Memory held for events is at
    /// most about twice this (the queue, and one take of the worker while
    /// it sends), plus the encoding of one request.
    pub queue_bytes: usize,
    /// Events per batch (default 100). A full batch is sent at once,
    /// without waiting for the flush interval.
    pub batch_size: usize,
    /// The most events one request carries when more than a batch is
    /// waiting (default 1,000; never fewer than `batch_size`): after a
    /// burst, or when the endpoint was slow, the worker sends what waits in
    /// as few requests as this allows. HTTP sinks still split requests to
    /// stay within their body size limit.
    pub max_batch_size: usize,
    /// The longest an event waits before its batch is sent (default 5 s).
    pub flush_interval: Duration,
    /// How long the guard's drop, [`exit`](crate::exit) and the last
    /// handle's drop may spend delivering what is left (default 2 s).
    pub shutdown_timeout: Duration,
    /// The largest serialized event sent; larger ones are dropped with a
    /// warning (default 900 KiB, under PostHog's 1 MB).
    pub max_event_bytes: usize,
    /// How many delivered events are kept, for the user to read, in
    /// `telemetry_recent.jsonl` in the data directory (default 100; 0
    /// keeps none).
    pub recent_deliveries: usize,
    /// Keeps every batch on disk until it is delivered, so that events a
    /// short-lived program could not send before exiting (or before the
    /// shutdown deadline) are sent by its next run, oldest first (default
    /// off). The spool lives in `telemetry_spool` in the cache directory
    /// (files 0600). When a later run has consent off, it is deleted
    /// unsent.
    ///
    /// A spooled batch is sent again only to the sink it was written for,
    /// recognised by what it sends to and its route (never by its name),
    /// through that route and the consent in force then; a batch whose
    /// sink is no longer configured is deleted and counted as
    /// [`DropReason::Undeliverable`](crate::DropReason::Undeliverable).
    /// Each file is claimed by one process before it is sent. A crash
    /// between delivery and deletion sends the batch again on the next
    /// run, with the same event uuids, which receivers such as PostHog
    /// de-duplicate, and so does a request whose answer never came:
    /// delivery is at least once, and exactly once wherever the library
    /// knows what was delivered.
    pub spool: bool,
    /// The spool's total size in bytes; the oldest batches go first
    /// (default 10 MiB).
    pub spool_max_bytes: u64,
    /// The age after which a spooled batch is deleted unsent (default 7
    /// days).
    pub spool_max_age: Duration,
    /// The share of events kept, in `[0, 1]` (default 1: every event).
    ///
    /// Each event (derived or declared with [`event!`](crate::event)) is
    /// kept with this probability, times the event's own sample rate; a
    /// kept event carries `$sample_rate` (the product) so that counts can
    /// be scaled back up, and a sampled-out one is counted in
    /// [`Stats::sampled_out`](crate::Stats::sampled_out). Counters are not
    /// sampled: they already cost one event per series and interval.
    ///
    /// Users and operators can set it too: `<APP>_TELEMETRY_SAMPLE_RATE=0.1`
    /// (the app name upper-cased, as in the main variable's default name)
    /// outranks this value; a value that is not a number in `[0, 1]` is
    /// logged and ignored.
    pub sample_rate: f64,
    /// Makes sampling reproducible: the keep-or-drop decisions are drawn
    /// from a generator seeded with this, so the same sequence of captures
    /// keeps the same events in every run (for tests, benchmarks and
    /// replayed workloads). Without a seed (the default) each decision is
    /// drawn from a per-thread generator seeded by the operating system.
    /// Decisions are made per event, on the caller's thread, never from
    /// the install id (which only the worker reads, from disk); with
    /// several threads capturing, the seeded sequence is shared in the
    /// order the captures reach it.
    pub sample_seed: Option<u64>,
    /// Debug mode: each event is printed to stderr as the exact JSON that
    /// would be sent, and nothing is sent (default off). Users can also
    /// turn it on with `<APP>_TELEMETRY_DEBUG=1`, or the main variable's
    /// name with `_DEBUG` when [`EnvVars::main`] renames it.
    pub debug: bool,
    /// Local-only mode: events go only to `telemetry_events.jsonl` in the
    /// data directory, where the user can read them; nothing leaves the
    /// machine (default off). Users can also choose it with
    /// `<APP>_TELEMETRY=local`.
    pub local_only: bool,
}

impl Delivery {
    /// The worker's settings.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            queue_capacity: self.queue_capacity,
            queue_bytes: self.queue_bytes,
            batch_size: self.batch_size,
            max_batch_size: self.max_batch_size,
            flush_interval: self.flush_interval,
            shutdown_timeout: self.shutdown_timeout,
            max_event_bytes: self.max_event_bytes,
            recent_deliveries: self.recent_deliveries,
            spool: self
                .spool
                .then_some(SpoolSettings { max_bytes: self.spool_max_bytes, max_age: self.spool_max_age }),
        }
    }
}
