//! Aggregated counters: a thousand tool calls become one event per interval.
//!
//! Increments only touch memory (a short lock that the worker takes just to
//! swap the list out); the worker turns each series into one event whose
//! properties are the labels plus `count`.

use crate::sync::{lock, lock_unless_forked, Mutex};

/// One counter series: a name and a set of labels.
pub(crate) struct Series {
    pub(crate) name: &'static str,
    pub(crate) labels: Box<[(&'static str, &'static str)]>,
    pub(crate) count: u64,
}

pub(crate) struct Aggregates {
    // A list, not a map: programs have a handful of series, and a slice
    // comparison finds one without allocating a key.
    series: Mutex<Vec<Series>>,
    /// The process that made it: in a child forked from it, a count never
    /// waits for a lock held at the fork.
    pid: u32,
}

impl Default for Aggregates {
    fn default() -> Aggregates {
        Aggregates { series: Mutex::default(), pid: std::process::id() }
    }
}

impl Aggregates {
    pub(crate) fn add(&self, name: &'static str, labels: &[(&'static str, &'static str)], n: u64) {
        // In a child forked while the lock was held, the count is dropped.
        let Some(mut series) = lock_unless_forked(&self.series, self.pid) else { return };
        match series.iter_mut().find(|s| s.name == name && *s.labels == *labels) {
            Some(existing) => existing.count = existing.count.saturating_add(n),
            None => series.push(Series { name, labels: labels.into(), count: n }),
        }
    }

    /// Takes every series counted so far.
    pub(crate) fn drain(&self) -> Vec<Series> {
        std::mem::take(&mut *lock(&self.series))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_kept_apart_by_labels_and_summed() {
        let aggregates = Aggregates::default();
        for _ in 0..1000 {
            aggregates.add("tool_calls", &[("status", "ok")], 1);
        }
        aggregates.add("tool_calls", &[("status", "error")], 2);
        aggregates.add("runs", &[], 1);
        let drained = aggregates.drain();
        assert_eq!(drained.len(), 3);
        assert_eq!(drained[0].count, 1000);
        assert_eq!(drained[1].count, 2);
        assert!(aggregates.drain().is_empty());
    }
}
