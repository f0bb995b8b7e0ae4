//! The span of an instrumented call: its trace, its own id, its parent's,
//! and when it started. A call made inside another instrumented call on the
//! same thread is that call's child; the outermost starts a new trace.
//!
//! The ids travel with the call's record, after its packed properties (see
//! [`Records::push`](super::event::Records::push)), so that events without
//! a span carry nothing for them.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::random::random_u64;

/// The bytes a span takes after its record's properties.
pub(crate) const SPAN_BYTES: usize = 40;

/// A call's place in its trace, and when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanIds {
    /// 16 random bytes, shared by every span of the trace; never all zero.
    pub(crate) trace_id: [u8; 16],
    /// 8 random bytes; never all zero.
    pub(crate) span_id: [u8; 8],
    /// The enclosing call's span id; all zero for the outermost call.
    pub(crate) parent_span_id: [u8; 8],
    /// When the call started, in nanoseconds since the Unix epoch.
    pub(crate) start_ns: u64,
}

impl SpanIds {
    /// Whether the call had an enclosing instrumented call.
    pub(crate) fn has_parent(&self) -> bool {
        self.parent_span_id != [0; 8]
    }

    /// The packed form, as [`SpanIds::read`] reads it back.
    pub(crate) fn to_bytes(self) -> [u8; SPAN_BYTES] {
        let mut out = [0; SPAN_BYTES];
        out[..16].copy_from_slice(&self.trace_id);
        out[16..24].copy_from_slice(&self.span_id);
        out[24..32].copy_from_slice(&self.parent_span_id);
        out[32..].copy_from_slice(&self.start_ns.to_le_bytes());
        out
    }

    /// Reads what [`to_bytes`](SpanIds::to_bytes) wrote; `None` for
    /// anything else (no span).
    pub(crate) fn read(bytes: &[u8]) -> Option<SpanIds> {
        let bytes: &[u8; SPAN_BYTES] = bytes.try_into().ok()?;
        let mut ids = SpanIds { trace_id: [0; 16], span_id: [0; 8], parent_span_id: [0; 8], start_ns: 0 };
        ids.trace_id.copy_from_slice(&bytes[..16]);
        ids.span_id.copy_from_slice(&bytes[16..24]);
        ids.parent_span_id.copy_from_slice(&bytes[24..32]);
        ids.start_ns = u64::from_le_bytes(bytes[32..].try_into().ok()?);
        Some(ids)
    }
}

thread_local! {
    /// The instrumented call running on this thread: its trace and span id.
    static CURRENT: Cell<Option<([u8; 16], [u8; 8])>> = const { Cell::new(None) };
}

/// An instrumented call in progress on this thread: calls made until it is
/// dropped are its children. Dropping it (also while unwinding) makes the
/// enclosing call current again.
#[derive(Debug)]
pub(crate) struct Entered {
    pub(crate) ids: SpanIds,
    previous: Option<([u8; 16], [u8; 8])>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
    }
}

/// Starts a call's span now, as a child of the call running on this thread
/// (or of none), and makes it the current one until the guard is dropped.
pub(crate) fn enter() -> Entered {
    let ids = child(SystemTime::now());
    let previous =
        CURRENT.try_with(|current| current.replace(Some((ids.trace_id, ids.span_id)))).ok().flatten();
    Entered { ids, previous }
}

/// The span of a call that started at `started` as a child of the call
/// running on this thread, without making it current: for an `async` call,
/// whose body may run on any thread, between other tasks' calls.
pub(crate) fn child(started: SystemTime) -> SpanIds {
    let parent = CURRENT.try_with(Cell::get).ok().flatten();
    let (trace_id, parent_span_id) = match parent {
        Some((trace, span)) => (trace, span),
        None => (nonzero_16(), [0; 8]),
    };
    let since = started.duration_since(UNIX_EPOCH).unwrap_or_default();
    SpanIds { trace_id, span_id: nonzero_8(), parent_span_id, start_ns: nanos(since) }
}

fn nanos(since: Duration) -> u64 {
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

fn nonzero_8() -> [u8; 8] {
    (random_u64() | 1).to_le_bytes()
}

fn nonzero_16() -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&random_u64().to_le_bytes());
    id[8..].copy_from_slice(&(random_u64() | 1).to_le_bytes());
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_nest_on_a_thread_and_unwind_to_their_parent() {
        let outer = enter();
        assert!(!outer.ids.has_parent());
        let inner = enter();
        assert_eq!(inner.ids.trace_id, outer.ids.trace_id);
        assert_eq!(inner.ids.parent_span_id, outer.ids.span_id);
        assert_ne!(inner.ids.span_id, outer.ids.span_id);
        drop(inner);
        let sibling = enter();
        assert_eq!(sibling.ids.parent_span_id, outer.ids.span_id);
        drop(sibling);
        drop(outer);
        let next = enter();
        assert!(!next.ids.has_parent());
        assert_ne!(next.ids.trace_id, outer_trace_of_a_fresh_thread());
        let read = SpanIds::read(&next.ids.to_bytes()).unwrap();
        assert_eq!(read, next.ids);
        assert_eq!(SpanIds::read(&[0; 3]), None);
    }

    fn outer_trace_of_a_fresh_thread() -> [u8; 16] {
        std::thread::spawn(|| enter().ids.trace_id).join().unwrap()
    }
}
