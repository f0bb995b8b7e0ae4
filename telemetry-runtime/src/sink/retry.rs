//! When to retry a failed request: exponential backoff with jitter, with the
//! server's `Retry-After` as a minimum.

use std::time::Duration;

use crate::model::event::random_u64;

/// The retry policy of the HTTP sinks.
///
/// The n-th retry waits a random time between half and all of
/// `min(cap, base * 2^n)`, and never less than the server's `Retry-After`.
/// A `Retry-After` longer than `max_retry_after` gives up instead of holding
/// the worker that long. A `Retry-After` is read as seconds or an HTTP date,
/// and as at most a day whatever it says; one that is neither is ignored.
///
/// ```
/// use std::time::Duration;
/// use telemetry_runtime::sink::Backoff;
/// let backoff = Backoff::default().max_retries(5).base(Duration::from_millis(50));
/// assert_eq!(backoff.retries(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    max_retries: u32,
    base: Duration,
    cap: Duration,
    max_retry_after: Duration,
}

impl Default for Backoff {
    /// 3 retries (four requests in all), from 500 ms up to 30 s; a
    /// `Retry-After` of up to 60 s is honoured.
    fn default() -> Backoff {
        Backoff {
            max_retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// Retries after the first attempt (0 disables retrying).
    pub fn max_retries(mut self, retries: u32) -> Backoff {
        self.max_retries = retries;
        self
    }

    /// The delay before the first retry, before jitter.
    pub fn base(mut self, base: Duration) -> Backoff {
        self.base = base;
        self
    }

    /// The longest computed delay.
    pub fn cap(mut self, cap: Duration) -> Backoff {
        self.cap = cap;
        self
    }

    /// The longest `Retry-After` the sink waits for; beyond it, it gives up.
    pub fn max_retry_after(mut self, limit: Duration) -> Backoff {
        self.max_retry_after = limit;
        self
    }

    /// The number of retries.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The wait before retry number `retry` (0-based), or `None` when the
    /// server asks for a longer wait than this policy allows.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let exponential = self.base.saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX)).min(self.cap);
        let half = exponential / 2;
        // A cap of years (Duration::MAX) has more nanoseconds than a u64:
        // the jitter is then drawn from the first 584 years.
        let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).saturating_add(1);
        let jitter = Duration::from_nanos(random_u64() % span);
        let delay = half.saturating_add(jitter);
        match retry_after {
            Some(after) if after > self.max_retry_after => None,
            Some(after) => Some(delay.max(after)),
            None => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_jittered_and_capped() {
        let b = Backoff::default().base(Duration::from_millis(100)).cap(Duration::from_secs(1));
        for _ in 0..200 {
            let d0 = b.delay(0, None).unwrap();
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100), "{d0:?}");
            let d2 = b.delay(2, None).unwrap();
            assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(400), "{d2:?}");
            let d40 = b.delay(40, None).unwrap();
            assert!(d40 >= Duration::from_millis(500) && d40 <= Duration::from_secs(1), "{d40:?}");
        }
        let distinct: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3, None)).collect();
        assert!(distinct.len() > 1, "jitter must vary the delay");
    }

    #[test]
    fn extreme_policies_do_not_overflow() {
        let b = Backoff::default().base(Duration::MAX).cap(Duration::MAX).max_retry_after(Duration::MAX);
        for retry in [0, 1, 31, 32, 63, 64, u32::MAX] {
            let delay = b.delay(retry, Some(Duration::MAX)).unwrap();
            assert!(delay >= Duration::MAX / 2, "{delay:?}");
        }
        let none = Backoff::default().base(Duration::ZERO).cap(Duration::ZERO);
        assert_eq!(none.delay(u32::MAX, None), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_a_minimum_within_the_limit() {
        let b = Backoff::default().base(Duration::from_millis(10));
        assert_eq!(b.delay(0, Some(Duration::from_secs(2))), Some(Duration::from_secs(2)));
        assert_eq!(b.delay(0, Some(Duration::from_secs(61))), None);
    }
}
