//! When to retry a failed request: exponential backoff with jitter, with the
//! server's `Retry-After` as a minimum.

use std::time::Duration;

use crate::model::event::random_u64;

/// The retry policy of the HTTP sinks (see [`HttpOptions`](super::HttpOptions)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) max_retries: u32,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    pub(crate) max_retry_after: Duration,
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
    /// The number of retries.
    pub(crate) fn retries(&self) -> u32 {
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
        let b =
            Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1), ..Backoff::default() };
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
        let b = Backoff {
            base: Duration::MAX,
            cap: Duration::MAX,
            max_retry_after: Duration::MAX,
            ..Backoff::default()
        };
        for retry in [0, 1, 31, 32, 63, 64, u32::MAX] {
            let delay = b.delay(retry, Some(Duration::MAX)).unwrap();
            assert!(delay >= Duration::MAX / 2, "{delay:?}");
        }
        let none = Backoff { base: Duration::ZERO, cap: Duration::ZERO, ..Backoff::default() };
        assert_eq!(none.delay(u32::MAX, None), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_a_minimum_within_the_limit() {
        let b = Backoff { base: Duration::from_millis(10), ..Backoff::default() };
        assert_eq!(b.delay(0, Some(Duration::from_secs(2))), Some(Duration::from_secs(2)));
        assert_eq!(b.delay(0, Some(Duration::from_secs(61))), None);
    }
}
