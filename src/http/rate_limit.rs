//! Per-principal rate limiting: a token bucket per key (user, agent host, or client address
//! for anonymous callers), refilled at `rate_per_second` up to `rate_burst`. Every operation
//! takes a token, whatever the transport: each operation of an HTTP batch, each operation a
//! WebSocket starts (see `http::exec`). Buckets idle long enough to be full again are
//! forgotten, so memory follows the active callers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate_per_second: f64, burst: f64) -> Self {
        Self {
            rate: rate_per_second.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`; `Err(wait)` says how long until one is available.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_n_at(key, 1, Instant::now())
    }

    /// Takes `n` tokens for `key` (one per operation of a batch), all or none; `Err(wait)`
    /// says how long until they are available (never less than until one is).
    pub fn check_n(&self, key: &str, n: usize) -> Result<(), Duration> {
        self.check_n_at(key, n, Instant::now())
    }

    #[cfg(test)]
    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.check_n_at(key, 1, now)
    }

    fn check_n_at(&self, key: &str, n: usize, now: Instant) -> Result<(), Duration> {
        // A batch larger than the burst could never pass; it costs the whole burst instead.
        let cost = (n.max(1) as f64).min(self.burst);
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() > 10_000 {
            let full_after = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, b| now.duration_since(b.at) < full_after);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((cost - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let limiter = RateLimiter::new(2.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(limiter.check_at("b", t0).is_ok(), "keys are independent");
        assert!(limiter
            .check_at("a", t0 + Duration::from_millis(500))
            .is_ok());
        assert!(limiter
            .check_at("a", t0 + Duration::from_millis(500))
            .is_err());
    }

    #[test]
    fn a_batch_takes_one_token_per_operation_or_none() {
        let limiter = RateLimiter::new(1.0, 5.0);
        let t0 = Instant::now();
        assert!(limiter.check_n_at("a", 3, t0).is_ok());
        let wait = limiter.check_n_at("a", 3, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1), "one more token is needed");
        assert!(limiter.check_n_at("a", 2, t0).is_ok(), "nothing was taken");
        assert!(limiter.check_n_at("a", 1, t0).is_err());
    }
}
