//! Keeps delivered events in memory, for tests and previews.

use std::sync::{Arc, Mutex};

use super::{Batch, SendContext, Sink, SinkError};

/// Stores every delivered event as JSON in PostHog's shape, exactly as the
/// PostHog sink sends it.
/// Clones share the same storage: keep one clone, give the other to the
/// [`Config`](crate::Config).
///
/// ```
/// use telemetry_runtime::testing::MemorySink;
/// let memory = MemorySink::new();
/// assert!(memory.events().is_empty());
/// ```
#[derive(Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for MemorySink {
    /// How many events it holds, not the events.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner()).len();
        f.debug_struct("MemorySink").field("events", &events).finish()
    }
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> MemorySink {
        MemorySink::default()
    }

    /// The delivered events as raw JSON text, oldest first: the bytes the
    /// PostHog sink would send for each.
    pub fn raw(&self) -> Vec<String> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The delivered events, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.raw().iter().filter_map(|json| serde_json::from_str(json).ok()).collect()
    }

    /// Forgets what was delivered so far.
    pub fn clear(&self) {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl Sink for MemorySink {
    fn is_local(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        "memory"
    }

    fn send(&mut self, batch: &Batch, cx: &SendContext<'_>) -> Result<(), SinkError> {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        // The encoder writes UTF-8 only.
        super::each_json(batch, cx, |json| events.push(String::from_utf8_lossy(json).into_owned()));
        Ok(())
    }
}
