//! Capped exponential backoff with jitter.
//!
//! The nominal delay starts at `initial` and doubles after every failure up to `max`; the
//! delay actually waited is drawn uniformly from `[nominal / 2, nominal]` so that many agents
//! cut off by the same outage do not come back in lockstep. A success resets it.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Nominal delay of the next failure.
    next: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Self {
            initial,
            max,
            next: initial,
            failures: 0,
        }
    }

    /// Records a failure; returns how long to wait before retrying.
    pub fn fail(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        jitter(nominal, fastrand::f64())
    }

    /// Records a success.
    pub fn reset(&mut self) {
        self.next = self.initial;
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The nominal delay the next failure will wait (before jitter).
    pub fn nominal(&self) -> Duration {
        self.next
    }
}

/// `nominal * (0.5 + r / 2)` for `r` in `[0, 1)`.
fn jitter(nominal: Duration, r: f64) -> Duration {
    nominal.mul_f64(0.5 + r.clamp(0.0, 1.0) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut nominals = Vec::new();
        for _ in 0..10 {
            nominals.push(b.nominal().as_secs());
            let d = b.fail();
            assert!(d <= Duration::from_secs(60));
        }
        assert_eq!(nominals, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
        assert_eq!(b.failures(), 10);
    }

    #[test]
    fn waits_stay_within_jitter_bounds() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..200 {
            let nominal = b.nominal();
            let d = b.fail();
            assert!(d >= nominal / 2 && d <= nominal, "{d:?} vs {nominal:?}");
        }
        assert_eq!(jitter(Duration::from_secs(8), 0.0), Duration::from_secs(4));
        assert_eq!(jitter(Duration::from_secs(8), 1.0), Duration::from_secs(8));
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for _ in 0..5 {
            b.fail();
        }
        assert_eq!(b.nominal(), Duration::from_secs(1));
        b.reset();
        assert_eq!(b.nominal(), Duration::from_millis(100));
        assert_eq!(b.failures(), 0);
    }
}
