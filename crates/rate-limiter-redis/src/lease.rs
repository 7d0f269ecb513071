//! Lease mode: tokens taken from Redis in a batch and handed out in this process.
//!
//! # The bound
//! Every request admitted from a lease spent a token of the shared Redis bucket at most
//! `max_age` earlier. So over any window of length `W`, all processes together admit at
//! most what the quota allows over `W + max_age`: at most `max_age / interval` requests
//! more than without leases. Separately, no more than `size` tokens per process are ever
//! held, so the excess is also at most `replicas × size`. By default `max_age` is `size`
//! intervals: at most `size` more, however many replicas there are. A longer `max_age`
//! (for fast quotas, whose interval is microseconds) lets leases live long enough to be
//! used, for an excess of at most `min(max_age / interval, replicas × size)` per key.
//! The other side of the trade: tokens a process
//! leased but did not use within `max_age` are thrown away (counted in
//! [`RedisLimiterMetrics::expired_lease_tokens`](crate::RedisLimiterMetrics)), so a lightly
//! used key may be admitted slightly less than its quota.

use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

use crate::metrics::{Counters, bump};

/// Above this many leased keys, a deposit first forgets expired leases.
const PRUNE_ABOVE: usize = 4096;

/// Lease mode's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseConfig {
    pub(crate) size: u32,
    /// `None`: `size` emission intervals of the quota in force.
    pub(crate) max_age: Option<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u32,
    /// When the oldest token held was taken from Redis.
    taken_at: Instant,
}

/// Per-key leases. An entry exists only while it holds tokens younger than `max_age`
/// (plus expired entries not yet pruned, at most [`PRUNE_ABOVE`] of them).
#[derive(Debug)]
pub(crate) struct LeaseTable {
    config: LeaseConfig,
    leases: DashMap<String, Lease>,
}

impl LeaseTable {
    pub(crate) fn new(config: LeaseConfig) -> Self {
        Self {
            config,
            leases: DashMap::new(),
        }
    }

    pub(crate) fn size(&self) -> u32 {
        self.config.size
    }

    pub(crate) fn max_age(&self, interval: Duration) -> Duration {
        self.config
            .max_age
            .unwrap_or_else(|| interval.saturating_mul(self.config.size))
    }

    /// Takes `n` tokens of `key`'s lease if it holds that many young enough ones, and
    /// answers how many it still holds then. `peek` only looks.
    pub(crate) fn take(
        &self,
        key: &str,
        n: u32,
        max_age: Duration,
        peek: bool,
        counters: &Counters,
    ) -> Option<u32> {
        let now = Instant::now();
        let mut lease = self.leases.get_mut(key)?;
        if now.duration_since(lease.taken_at) > max_age {
            // Emptied under the entry's lock, removed only if still empty: a deposit racing
            // in between keeps its fresh tokens.
            bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
            lease.tokens = 0;
            drop(lease);
            self.leases.remove_if(key, |_, l| l.tokens == 0);
            return None;
        }
        if lease.tokens < n {
            return None;
        }
        if peek {
            return Some(lease.tokens);
        }
        lease.tokens -= n;
        let left = lease.tokens;
        drop(lease);
        if left == 0 {
            // Removed only if no other task deposited in between.
            self.leases.remove_if(key, |_, l| l.tokens == 0);
        }
        bump(&counters.served_from_lease, 1);
        Some(left)
    }

    /// Keeps `tokens` freshly taken from Redis for later checks of `key`.
    pub(crate) fn deposit(&self, key: &str, tokens: u32, max_age: Duration, counters: &Counters) {
        if tokens == 0 {
            return;
        }
        bump(&counters.leased_tokens, u64::from(tokens));
        let now = Instant::now();
        if self.leases.len() > PRUNE_ABOVE {
            self.prune(now, max_age, counters);
        }
        let mut lease = self.leases.entry(key.to_owned()).or_insert(Lease {
            tokens: 0,
            taken_at: now,
        });
        if lease.tokens == 0 || now.duration_since(lease.taken_at) > max_age {
            bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
            *lease = Lease {
                tokens: 0,
                taken_at: now,
            };
        }
        // The entry keeps the age of its oldest token, so no token outlives max_age.
        lease.tokens = lease.tokens.saturating_add(tokens);
    }

    fn prune(&self, now: Instant, max_age: Duration, counters: &Counters) {
        self.leases.retain(|_, lease| {
            let young = now.duration_since(lease.taken_at) <= max_age;
            if !young {
                bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
            }
            young
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(1);

    fn table() -> (LeaseTable, Counters) {
        let table = LeaseTable::new(LeaseConfig {
            size: 10,
            max_age: Some(AGE),
        });
        (table, Counters::default())
    }

    #[tokio::test(start_paused = true)]
    async fn hands_out_what_was_deposited_and_no_more() {
        let (table, counters) = table();
        assert_eq!(
            table.take("k", 1, AGE, false, &counters),
            None,
            "nothing leased yet"
        );
        table.deposit("k", 3, AGE, &counters);
        assert_eq!(
            table.take("k", 2, AGE, true, &counters),
            Some(3),
            "a peek takes nothing"
        );
        assert_eq!(table.take("k", 2, AGE, false, &counters), Some(1));
        assert_eq!(
            table.take("k", 2, AGE, false, &counters),
            None,
            "1 left, 2 asked"
        );
        assert_eq!(table.take("k", 1, AGE, false, &counters), Some(0));
        assert!(table.leases.is_empty(), "an empty lease is forgotten");
        let m = counters.snapshot();
        assert_eq!((m.leased_tokens, m.served_from_lease), (3, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_older_than_max_age_are_thrown_away_and_counted() {
        let (table, counters) = table();
        table.deposit("k", 5, AGE, &counters);
        tokio::time::advance(AGE / 2).await;
        // A later deposit keeps the age of the oldest token held.
        table.deposit("k", 5, AGE, &counters);
        tokio::time::advance(AGE / 2 + Duration::from_millis(1)).await;
        assert_eq!(table.take("k", 1, AGE, false, &counters), None);
        assert_eq!(counters.snapshot().expired_lease_tokens, 10);
        assert!(table.leases.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deposit_onto_an_expired_lease_starts_a_fresh_one() {
        let (table, counters) = table();
        table.deposit("k", 4, AGE, &counters);
        tokio::time::advance(AGE * 2).await;
        table.deposit("k", 2, AGE, &counters);
        assert_eq!(counters.snapshot().expired_lease_tokens, 4);
        assert_eq!(table.take("k", 2, AGE, false, &counters), Some(0));
    }
}
