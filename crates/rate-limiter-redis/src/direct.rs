//! [`RedisRateLimiter`]: one named limit shared by every process on one Redis.

use std::num::NonZeroU32;

use tidewater_rate_limiter::{Decision, Quota};

use crate::error::{RedisLimitError, SetupError};
use crate::keyed::{RedisKeyedBuilder, RedisKeyedRateLimiter};
use crate::metrics::RedisLimiterMetrics;
use crate::policy::FailurePolicy;
use crate::store::RedisStore;

/// One limit (an upstream API's quota, say) shared by every replica: the direct
/// `tidewater_rate_limiter::RateLimiter` API over Redis, with the guarantees of
/// [`RedisKeyedRateLimiter`] for its one key, `name`.
///
/// ```no_run
/// use tidewater_rate_limiter::Quota;
/// use tidewater_rate_limiter_redis::{RedisRateLimiter, RedisStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let upstream = RedisRateLimiter::new("payments-api", Quota::per_second(50)?, store)?;
/// upstream.until_ready().await?; // every replica together: 50 per second
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct RedisRateLimiter {
    limiter: RedisKeyedRateLimiter<str>,
    key: String,
}

/// Configures a [`RedisRateLimiter`]; from [`RedisRateLimiter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisRateLimiterBuilder {
    name: String,
    keyed: RedisKeyedBuilder,
}

impl RedisRateLimiter {
    /// The limit `name` with `quota` on `store`: fail open, no lease.
    ///
    /// # Errors
    /// [`SetupError::QuotaTooLong`].
    pub fn new(name: &str, quota: Quota, store: RedisStore) -> Result<Self, SetupError> {
        Self::builder(name, quota, store).build()
    }

    /// Starts configuring the limit `name`.
    pub fn builder(name: &str, quota: Quota, store: RedisStore) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            name: name.to_owned(),
            keyed: RedisKeyedRateLimiter::builder(quota, store),
        }
    }

    /// Counts one request if the quota allows it now.
    ///
    /// # Errors
    /// [`RedisLimitError::RateLimited`] or, under [`FailurePolicy::FailClosed`],
    /// [`RedisLimitError::Unavailable`].
    pub async fn check(&self) -> Result<(), RedisLimitError> {
        self.limiter.check_key_n_prefixed(&self.key, 1).await
    }

    /// Counts `n` requests at once, all or nothing.
    ///
    /// # Errors
    /// As [`check`](Self::check), plus [`RedisLimitError::ExceedsLimit`].
    pub async fn check_n(&self, n: u32) -> Result<(), RedisLimitError> {
        self.limiter.check_key_n_prefixed(&self.key, n).await
    }

    /// Like [`check_n`](Self::check_n), answering with the full [`Decision`].
    ///
    /// # Errors
    /// [`RedisLimitError::ExceedsLimit`] or [`RedisLimitError::Unavailable`].
    pub async fn check_n_decision(&self, n: u32) -> Result<Decision, RedisLimitError> {
        self.limiter.decide(&self.key, n, true).await
    }

    /// Would `n` requests pass now? Counts nothing.
    ///
    /// # Errors
    /// As [`check_n`](Self::check_n).
    pub async fn peek_n(&self, n: u32) -> Result<(), RedisLimitError> {
        self.limiter.peek_key_n_prefixed(&self.key, n).await
    }

    /// Waits until one request passes, then counts it. Cancel-safe.
    ///
    /// # Errors
    /// [`RedisLimitError::Unavailable`] under [`FailurePolicy::FailClosed`].
    pub async fn until_ready(&self) -> Result<(), RedisLimitError> {
        self.limiter.until_key_n_ready_prefixed(&self.key, 1).await
    }

    /// Waits until `n` requests pass at once, then counts them. Cancel-safe.
    ///
    /// # Errors
    /// [`RedisLimitError::ExceedsLimit`] at once, or [`RedisLimitError::Unavailable`].
    pub async fn until_n_ready(&self, n: u32) -> Result<(), RedisLimitError> {
        self.limiter.until_key_n_ready_prefixed(&self.key, n).await
    }

    /// Replaces the quota for this limiter's later checks.
    ///
    /// # Errors
    /// [`SetupError::QuotaTooLong`]; the old quota stays.
    pub fn set_quota(&self, quota: Quota) -> Result<(), SetupError> {
        self.limiter.set_quota(quota)
    }

    /// The quota in force.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.limiter.quota()
    }

    /// How checks have been answered so far.
    #[must_use]
    pub fn metrics(&self) -> RedisLimiterMetrics {
        self.limiter.metrics()
    }
}

impl RedisRateLimiterBuilder {
    /// What checks answer when Redis cannot (default [`FailurePolicy::FailOpen`]).
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.keyed = self.keyed.on_failure(policy);
        self
    }

    /// Lease mode, as [`RedisKeyedBuilder::lease`].
    pub fn lease(mut self, size: NonZeroU32) -> Self {
        self.keyed = self.keyed.lease(size);
        self
    }

    /// The lease's max age, as [`RedisKeyedBuilder::lease_max_age`].
    pub fn lease_max_age(mut self, max_age: std::time::Duration) -> Self {
        self.keyed = self.keyed.lease_max_age(max_age);
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    /// As [`RedisKeyedBuilder::build`].
    pub fn build(self) -> Result<RedisRateLimiter, SetupError> {
        let limiter: RedisKeyedRateLimiter<str> = self.keyed.build()?;
        let key = limiter.store().key_of(&self.name);
        Ok(RedisRateLimiter { limiter, key })
    }
}
