//! Counters of how checks were answered.

use crate::sync::{AtomicU64, Ordering};

/// How a Redis-backed limiter's checks have been answered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RedisLimiterMetrics {
    /// Script calls sent to Redis.
    pub round_trips: u64,
    /// Checks answered from a local lease, without a round trip.
    pub served_from_lease: u64,
    /// Tokens taken from Redis into local leases.
    pub leased_tokens: u64,
    /// Leased tokens thrown away unused because they grew older than the lease's max age
    /// (the price of lease mode: under-admission, never over).
    pub expired_lease_tokens: u64,
    /// Checks Redis could not answer (timeouts, connection and server errors).
    pub store_failures: u64,
    /// ... of which admitted by [`FailurePolicy::FailOpen`](crate::FailurePolicy::FailOpen).
    pub failed_open: u64,
    /// ... of which refused by [`FailurePolicy::FailClosed`](crate::FailurePolicy::FailClosed).
    pub failed_closed: u64,
    /// ... of which decided by the local [`FailurePolicy::Fallback`](crate::FailurePolicy::Fallback) limit.
    pub fell_back: u64,
}

/// The live counters behind [`RedisLimiterMetrics`]. Relaxed: each is an independent tally.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) round_trips: AtomicU64,
    pub(crate) served_from_lease: AtomicU64,
    pub(crate) leased_tokens: AtomicU64,
    pub(crate) expired_lease_tokens: AtomicU64,
    pub(crate) store_failures: AtomicU64,
    pub(crate) failed_open: AtomicU64,
    pub(crate) failed_closed: AtomicU64,
    pub(crate) fell_back: AtomicU64,
}

/// Adds `n` to a tally.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> RedisLimiterMetrics {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisLimiterMetrics {
            round_trips: read(&self.round_trips),
            served_from_lease: read(&self.served_from_lease),
            leased_tokens: read(&self.leased_tokens),
            expired_lease_tokens: read(&self.expired_lease_tokens),
            store_failures: read(&self.store_failures),
            failed_open: read(&self.failed_open),
            failed_closed: read(&self.failed_closed),
            fell_back: read(&self.fell_back),
        }
    }
}
