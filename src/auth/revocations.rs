//! Access tokens revoked before they expire, so that HTTP requests see a revocation within
//! moments as sockets do.
//!
//! An access token is a signed JWT: checking one needs no database, and so, alone, it stays
//! good until its `exp` after the account is suspended, deleted, demoted or its password
//! changed. Every replica keeps, per customer, the time of their last revocation (from the
//! `PrincipalRevoked` events services publish, which reach every replica over the bus), and
//! [`RevokedSessions::is_revoked`] refuses a token issued before it. An entry is kept only as
//! long as a token issued before it could live (`auth.access_ttl_secs` plus the leeway).
//!
//! Times are milliseconds (tokens carry `iat_ms`; older ones count from their whole-second
//! `iat`), so a sign-in just after a password change is not caught by it. The list is in
//! memory: a replica that restarts forgets it and relies on the tokens' expiry alone (15
//! minutes by default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::events::{Event, EventBus, Key, Kind, Subscription, Topic};

pub struct RevokedSessions {
    /// Customer id -> their last revocation (ms since the epoch).
    at: Mutex<HashMap<i64, i64>>,
    /// Every principal's revocations, read without waiting: on each check (so a revocation
    /// published by this replica counts for its very next request) and every second.
    feed: Mutex<Option<Subscription>>,
    keep_ms: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RevokedSessions {
    /// Entries are kept `keep_secs` (the longest an access token lives, with leeway).
    pub fn new(keep_secs: i64) -> Self {
        Self {
            at: Mutex::new(HashMap::new()),
            feed: Mutex::new(None),
            keep_ms: keep_secs.saturating_mul(1000),
        }
    }

    /// Records that `customer`'s tokens issued before `at` (ms) are revoked.
    pub fn revoke(&self, customer: i64, at: i64) {
        let mut map = lock(&self.at);
        let horizon = at - self.keep_ms;
        map.retain(|_, t| *t >= horizon);
        let entry = map.entry(customer).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Whether a token of `customer` issued at `issued` (ms) was revoked since.
    pub fn is_revoked(&self, customer: i64, issued: i64) -> bool {
        self.drain();
        lock(&self.at).get(&customer).is_some_and(|at| issued < *at)
    }

    /// Follows every customer revocation published on `bus` from now on.
    pub fn follow(self: &Arc<Self>, bus: &dyn EventBus) {
        *lock(&self.feed) = Some(bus.subscribe(Topic::new(Kind::PrincipalRevoked, Key::All)));
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticks.tick().await;
                match this.upgrade() {
                    Some(list) if list.drain() => {}
                    _ => break,
                }
            }
        });
    }

    /// Records the revocations waiting in the feed; false once the bus closed.
    fn drain(&self) -> bool {
        let mut feed = lock(&self.feed);
        let Some(sub) = feed.as_mut() else {
            return false;
        };
        loop {
            match sub.try_recv() {
                Ok(Some(event)) => {
                    if let Event::PrincipalRevoked(r) = event.as_ref() {
                        if let Some(id) = crate::auth::principal::customer_of_key(&r.principal) {
                            self.revoke(id, r.at.timestamp_millis());
                        }
                    }
                }
                Ok(None) => return true,
                Err(()) => {
                    *feed = None;
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_before_a_revocation_are_refused_and_old_entries_go() {
        let list = RevokedSessions::new(100);
        list.revoke(7, 1_000_000);
        assert!(list.is_revoked(7, 999_999));
        assert!(!list.is_revoked(7, 1_000_000));
        assert!(!list.is_revoked(7, 1_000_001));
        assert!(!list.is_revoked(8, 1));
        // An earlier revocation arriving late does not move the mark back.
        list.revoke(7, 900_000);
        assert!(list.is_revoked(7, 950_000));
        // Past the longest token life (100 s), the entry is dropped.
        list.revoke(8, 1_200_000);
        assert!(!list.is_revoked(7, 999_999));
        assert!(list.is_revoked(8, 1_199_999));
    }
}
