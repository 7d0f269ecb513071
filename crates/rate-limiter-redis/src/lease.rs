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

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use crate::metrics::{Counters, bump};
use crate::sync::Mutex;

/// Lock shards of the lease table: enough that tasks checking different keys rarely meet.
const SHARDS: usize = 16;
/// Above this many leased keys in one shard, a deposit there first forgets expired leases.
const PRUNE_ABOVE: usize = 256;

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

/// Per-key leases in sharded maps. An entry exists only while it holds tokens (expired
/// ones are dropped when next touched, or pruned once a shard grows), so memory is bounded
/// by the keys leased within `max_age`. Every token deposited is, at any moment, exactly
/// one of: held, served, or counted expired (the loom models check this conservation).
#[derive(Debug)]
pub(crate) struct LeaseTable {
    config: LeaseConfig,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<String, Lease>>]>,
}

impl LeaseTable {
    pub(crate) fn new(config: LeaseConfig) -> Self {
        Self {
            config,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
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

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Lease>> {
        // Truncation is fine: only the low bits pick a shard.
        #[allow(clippy::cast_possible_truncation)]
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        &self.shards[index]
    }

    /// Takes `n` tokens of `key`'s lease if it holds that many no older than `max_age` at
    /// `now`, and answers how many it still holds then. `peek` only looks.
    pub(crate) fn take(
        &self,
        key: &str,
        n: u32,
        (now, max_age): (Instant, Duration),
        peek: bool,
        counters: &Counters,
    ) -> Option<u32> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let lease = shard.get_mut(key)?;
        if now.saturating_duration_since(lease.taken_at) > max_age {
            bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
            shard.remove(key);
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
        if left == 0 {
            shard.remove(key);
        }
        bump(&counters.served_from_lease, 1);
        Some(left)
    }

    /// Keeps `tokens` freshly taken from Redis at `now` for later checks of `key`.
    pub(crate) fn deposit(
        &self,
        key: &str,
        tokens: u32,
        (now, max_age): (Instant, Duration),
        counters: &Counters,
    ) {
        if tokens == 0 {
            return;
        }
        bump(&counters.leased_tokens, u64::from(tokens));
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() > PRUNE_ABOVE {
            shard.retain(|_, lease| {
                let young = now.saturating_duration_since(lease.taken_at) <= max_age;
                if !young {
                    bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
                }
                young
            });
        }
        match shard.get_mut(key) {
            Some(lease) if now.saturating_duration_since(lease.taken_at) <= max_age => {
                // The entry keeps the age of its oldest token, so no token outlives max_age.
                // Deposits can arrive out of order (a round trip that started earlier may
                // finish later), so this one's tokens may be the oldest.
                lease.tokens = lease.tokens.saturating_add(tokens);
                lease.taken_at = lease.taken_at.min(now);
            }
            stale => {
                if let Some(lease) = stale {
                    bump(&counters.expired_lease_tokens, u64::from(lease.tokens));
                }
                shard.insert(
                    key.to_owned(),
                    Lease {
                        tokens,
                        taken_at: now,
                    },
                );
            }
        }
    }

    /// Tokens held for `key` now, expired or not (for the models and tests).
    #[cfg(test)]
    pub(crate) fn held(&self, key: &str) -> u32 {
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(key).map_or(0, |lease| lease.tokens)
    }
}

#[cfg(all(test, not(tidewater_loom)))]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(1);

    fn table() -> (LeaseTable, Counters, Instant) {
        let table = LeaseTable::new(LeaseConfig {
            size: 10,
            max_age: Some(AGE),
        });
        (table, Counters::default(), Instant::now())
    }

    #[test]
    fn hands_out_what_was_deposited_and_no_more() {
        let (table, counters, t0) = table();
        let at = (t0, AGE);
        assert_eq!(
            table.take("k", 1, at, false, &counters),
            None,
            "nothing leased yet"
        );
        table.deposit("k", 3, at, &counters);
        assert_eq!(
            table.take("k", 2, at, true, &counters),
            Some(3),
            "a peek takes nothing"
        );
        assert_eq!(table.take("k", 2, at, false, &counters), Some(1));
        assert_eq!(
            table.take("k", 2, at, false, &counters),
            None,
            "1 left, 2 asked"
        );
        assert_eq!(table.take("k", 1, at, false, &counters), Some(0));
        assert_eq!(table.held("k"), 0, "an empty lease is forgotten");
        let m = counters.snapshot();
        assert_eq!((m.leased_tokens, m.served_from_lease), (3, 2));
    }

    #[test]
    fn tokens_older_than_max_age_are_thrown_away_and_counted() {
        let (table, counters, t0) = table();
        table.deposit("k", 5, (t0, AGE), &counters);
        // A later deposit keeps the age of the oldest token held.
        table.deposit("k", 5, (t0 + AGE / 2, AGE), &counters);
        let late = t0 + AGE + Duration::from_millis(1);
        assert_eq!(table.take("k", 1, (late, AGE), false, &counters), None);
        assert_eq!(counters.snapshot().expired_lease_tokens, 10);
        assert_eq!(table.held("k"), 0);
    }

    #[test]
    fn a_deposit_that_arrives_late_keeps_its_own_age() {
        let (table, counters, t0) = table();
        // Two round trips for "k": the one started at t0 finishes after the one started
        // half a max age later, so its (older) tokens are deposited second.
        table.deposit("k", 1, (t0 + AGE / 2, AGE), &counters);
        table.deposit("k", 1, (t0, AGE), &counters);
        // Just past max age of the older token: the entry may not serve both any more.
        let late = (t0 + AGE + Duration::from_millis(1), AGE);
        assert_eq!(table.take("k", 2, late, false, &counters), None);
        assert_eq!(counters.snapshot().expired_lease_tokens, 2);
    }

    #[test]
    fn a_deposit_onto_an_expired_lease_starts_a_fresh_one() {
        let (table, counters, t0) = table();
        table.deposit("k", 4, (t0, AGE), &counters);
        let later = (t0 + AGE * 2, AGE);
        table.deposit("k", 2, later, &counters);
        assert_eq!(counters.snapshot().expired_lease_tokens, 4);
        assert_eq!(table.take("k", 2, later, false, &counters), Some(0));
    }

    #[test]
    fn a_crowded_shard_forgets_expired_leases() {
        let (table, counters, t0) = table();
        for i in 0..8000 {
            table.deposit(&format!("k{i}"), 1, (t0, AGE), &counters);
        }
        let later = (t0 + AGE * 2, AGE);
        table.deposit("fresh", 1, later, &counters);
        let held: usize = table
            .shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum();
        assert!(held < 8000, "{held} leases kept after all but one expired");
        assert!(counters.snapshot().expired_lease_tokens > 0);
    }
}
