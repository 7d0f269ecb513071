//! What a check answers when Redis cannot.

use tidewater_rate_limiter::Quota;

/// What a check answers when Redis is unreachable, too slow (the store's per-call
/// timeout) or answers with an error. Whatever the policy, a check never panics and never
/// waits longer than the timeout; [`RedisLimiterMetrics`](crate::RedisLimiterMetrics)
/// counts each policy's use, and the connection keeps reconnecting in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Admit the request (availability first: a Redis outage does not become your outage).
    /// The default, as in most gateway rate limiters.
    #[default]
    FailOpen,
    /// Refuse the request with [`RedisLimitError::Unavailable`](crate::RedisLimitError::Unavailable),
    /// which carries the [`StoreFailure`](crate::StoreFailure).
    FailClosed,
    /// Count the request against a limit kept in this process's memory (a
    /// `tidewater_rate_limiter::KeyedRateLimiter`, same keys) with this quota, typically the
    /// shared quota divided by the number of replicas. Its state is separate from Redis's:
    /// when Redis is back, the shared limit takes over again where Redis left it.
    Fallback(Quota),
}
