//! [`RedisKeyedRateLimiter`]: one quota per key, shared by every process on one Redis.

use std::fmt::Display;
use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use tidewater_rate_limiter::{Decision, ExceedsLimit, KeyedRateLimiter, Quota, RateLimited};

use crate::error::{RedisLimitError, SetupError, StoreFailure};
use crate::lease::{LeaseConfig, LeaseTable};
use crate::limits::Limits;
use crate::metrics::{Counters, RedisLimiterMetrics, bump};
use crate::policy::FailurePolicy;
use crate::store::{RedisStore, Take};

/// One GCRA quota per key, counted by Redis so that every replica of a service shares it.
///
/// The API of `tidewater_rate_limiter::KeyedRateLimiter`, asynchronous because each check
/// is a round trip: [`check_key`](Self::check_key), [`check_key_n`](Self::check_key_n),
/// [`peek_key_n`](Self::peek_key_n), [`until_key_ready`](Self::until_key_ready), the
/// [`Decision`] behind the `RateLimit-*` headers, and [`set_quota`](Self::set_quota).
/// Keys are written with their `Display` form after the store's prefix.
///
/// # Guarantees
/// - **One limit for all replicas.** Each check is one atomic script call on the Redis
///   server, on the server's clock: limiters in any number of processes sharing a Redis and
///   a prefix never admit more than the quota together (with lease mode, see below), and
///   client clock skew cannot change that.
/// - **Bounded Redis memory.** A key holds one short string that expires when its bucket is
///   full again.
/// - **No hang, no panic** when Redis is down or slow: after the store's timeout the
///   [`FailurePolicy`] answers.
/// - **Lease mode** (off by default, [`RedisKeyedBuilder::lease`]): a process takes up to
///   `size` tokens of a key per round trip and hands them out locally. Every admitted
///   request still spent a shared token, at most `max_age` earlier, so over any window all
///   processes admit at most `max_age / interval` more than the quota (`size` by default).
///
/// # Differences from the in-memory limiter
/// A quota change applies to each key at its next check, keeping how long the key needs to
/// refill rather than its token count; all replicas must be configured with the same quota
/// and prefix. A check that timed out may still have been counted by Redis (the limit
/// errs on the strict side). Waiters of one key are not queued: each retries after the
/// predicted wait.
///
/// ```no_run
/// use std::time::Duration;
/// use tidewater_rate_limiter::Quota;
/// use tidewater_rate_limiter_redis::{FailurePolicy, RedisKeyedRateLimiter, RedisStore};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::builder("redis://127.0.0.1:6379")
///     .timeout(Duration::from_millis(50))
///     .connect()
///     .await?;
/// let limiter = RedisKeyedRateLimiter::builder(Quota::per_second(100)?, store)
///     .on_failure(FailurePolicy::Fallback(Quota::per_second(10)?))
///     .build()?;
/// let decision = limiter.check_key_decision("203.0.113.7").await?;
/// for (name, value) in decision.headers() {
///     println!("{name}: {value}");
/// }
/// # Ok(()) }
/// ```
pub struct RedisKeyedRateLimiter<K: ?Sized = str> {
    store: RedisStore,
    quota: RwLock<(Quota, Limits)>,
    policy: Policy,
    lease: Option<LeaseTable>,
    counters: Counters,
    _key: PhantomData<fn(&K)>,
}

/// The failure policy, with the fallback limiter built.
enum Policy {
    Open,
    Closed,
    Fallback(Box<KeyedRateLimiter<String>>),
}

impl<K: ?Sized> std::fmt::Debug for RedisKeyedRateLimiter<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKeyedRateLimiter")
            .field("store", &self.store)
            .field("quota", &self.quota())
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// Configures a [`RedisKeyedRateLimiter`]; from [`RedisKeyedRateLimiter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisKeyedBuilder {
    quota: Quota,
    store: RedisStore,
    policy: FailurePolicy,
    lease: Option<LeaseConfig>,
}

impl RedisKeyedBuilder {
    /// What checks answer when Redis cannot (default [`FailurePolicy::FailOpen`]).
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Lease mode: take up to `size` tokens of a key per round trip and hand them out in
    /// this process, each at most one refill of `size` tokens old (see
    /// [`lease_max_age`](Self::lease_max_age)). Trades at most that many admissions above
    /// the quota in any window for up to `size` times fewer round trips. A [`Decision`]
    /// answered from a lease reports the tokens this process still holds as `remaining`.
    pub fn lease(mut self, size: NonZeroU32) -> Self {
        self.lease = Some(LeaseConfig {
            size: size.get(),
            max_age: self.lease.and_then(|l| l.max_age),
        });
        self
    }

    /// How long a leased token may wait to be used before it is thrown away (default: the
    /// time `size` tokens take to refill). The over-admission in any window is at most
    /// `min(max_age / interval, replicas × size)` per key; raise it for fast quotas, whose
    /// default max age (microseconds) is shorter than a round trip. Only with
    /// [`lease`](Self::lease).
    pub fn lease_max_age(mut self, max_age: Duration) -> Self {
        if let Some(lease) = &mut self.lease {
            lease.max_age = Some(max_age);
        }
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    /// [`SetupError::QuotaTooLong`] when the quota (or the fallback quota's key table) cannot
    /// be counted on the server, [`SetupError::Zero`] for a zero lease max age.
    pub fn build<K: Display + ?Sized>(self) -> Result<RedisKeyedRateLimiter<K>, SetupError> {
        let limits = Limits::of(&self.quota)?;
        if self.lease.and_then(|l| l.max_age) == Some(Duration::ZERO) {
            return Err(SetupError::Zero {
                setting: "lease max age",
            });
        }
        Ok(RedisKeyedRateLimiter {
            store: self.store,
            quota: RwLock::new((self.quota, limits)),
            policy: match self.policy {
                FailurePolicy::FailOpen => Policy::Open,
                FailurePolicy::FailClosed => Policy::Closed,
                FailurePolicy::Fallback(quota) => {
                    Policy::Fallback(Box::new(KeyedRateLimiter::new(quota)))
                }
            },
            lease: self.lease.map(LeaseTable::new),
            counters: Counters::default(),
            _key: PhantomData,
        })
    }
}

impl<K: Display + ?Sized> RedisKeyedRateLimiter<K> {
    /// A limiter for `quota` on `store` with the defaults: fail open, no lease.
    ///
    /// # Errors
    /// [`SetupError::QuotaTooLong`] when the quota's full refill is above about 104 days.
    pub fn with_store(quota: Quota, store: RedisStore) -> Result<Self, SetupError> {
        RedisKeyedRateLimiter::builder(quota, store).build()
    }
}

impl RedisKeyedRateLimiter {
    /// Starts configuring a limiter for `quota` on `store`.
    pub fn builder(quota: Quota, store: RedisStore) -> RedisKeyedBuilder {
        RedisKeyedBuilder {
            quota,
            store,
            policy: FailurePolicy::default(),
            lease: None,
        }
    }
}

impl<K: Display + ?Sized> RedisKeyedRateLimiter<K> {
    /// Counts one request for `key` if its quota allows it now.
    ///
    /// # Errors
    /// [`RedisLimitError::RateLimited`] with the wait, or [`RedisLimitError::Unavailable`] when Redis
    /// cannot answer and the policy is [`FailurePolicy::FailClosed`].
    pub async fn check_key(&self, key: &K) -> Result<(), RedisLimitError> {
        self.check_key_n(key, 1).await
    }

    /// Counts `n` requests for `key` at once, all or nothing. `n == 0` passes and counts
    /// nothing.
    ///
    /// # Errors
    /// As [`check_key`](Self::check_key), plus [`RedisLimitError::ExceedsLimit`] (without a round
    /// trip) when `n` is above the burst.
    pub async fn check_key_n(&self, key: &K, n: u32) -> Result<(), RedisLimitError> {
        self.check_key_n_prefixed(&self.store.key_of(&key), n).await
    }

    /// Like [`check_key`](Self::check_key), answering with the full [`Decision`].
    ///
    /// # Errors
    /// [`RedisLimitError::Unavailable`] under [`FailurePolicy::FailClosed`]; a refusal by the
    /// limit is a `Decision` with `allowed == false`.
    pub async fn check_key_decision(&self, key: &K) -> Result<Decision, RedisLimitError> {
        self.check_key_n_decision(key, 1).await
    }

    /// Like [`check_key_n`](Self::check_key_n), answering with the full [`Decision`].
    ///
    /// # Errors
    /// As [`check_key_decision`](Self::check_key_decision), plus
    /// [`RedisLimitError::ExceedsLimit`].
    pub async fn check_key_n_decision(&self, key: &K, n: u32) -> Result<Decision, RedisLimitError> {
        self.decide(&self.store.key_of(&key), n, true).await
    }

    /// Would `n` requests for `key` pass now? Counts nothing (one read-only round trip,
    /// none if this process's lease holds `n` tokens).
    ///
    /// # Errors
    /// As [`check_key_n`](Self::check_key_n).
    pub async fn peek_key_n(&self, key: &K, n: u32) -> Result<(), RedisLimitError> {
        self.peek_key_n_prefixed(&self.store.key_of(&key), n).await
    }

    /// Waits until one request for `key` passes, then counts it. Cancel-safe: nothing is
    /// reserved while waiting.
    ///
    /// # Errors
    /// [`RedisLimitError::Unavailable`] under [`FailurePolicy::FailClosed`] (at once, rather than
    /// waiting for Redis to return).
    pub async fn until_key_ready(&self, key: &K) -> Result<(), RedisLimitError> {
        self.until_key_n_ready(key, 1).await
    }

    /// Waits until `n` requests for `key` pass at once, then counts them. Cancel-safe.
    ///
    /// # Errors
    /// [`RedisLimitError::ExceedsLimit`] at once if `n` is above the burst, or
    /// [`RedisLimitError::Unavailable`].
    pub async fn until_key_n_ready(&self, key: &K, n: u32) -> Result<(), RedisLimitError> {
        self.until_key_n_ready_prefixed(&self.store.key_of(&key), n)
            .await
    }
}

impl<K: ?Sized> RedisKeyedRateLimiter<K> {
    /// Replaces the quota for every later check made through this limiter. Other replicas
    /// keep theirs until they are changed too.
    ///
    /// # Errors
    /// [`SetupError::QuotaTooLong`]; the old quota stays in force.
    pub fn set_quota(&self, quota: Quota) -> Result<(), SetupError> {
        let limits = Limits::of(&quota)?;
        *self.quota.write().unwrap_or_else(PoisonError::into_inner) = (quota, limits);
        Ok(())
    }

    /// The quota in force.
    #[must_use]
    pub fn quota(&self) -> Quota {
        self.quota.read().unwrap_or_else(PoisonError::into_inner).0
    }

    /// How checks have been answered so far.
    #[must_use]
    pub fn metrics(&self) -> RedisLimiterMetrics {
        self.counters.snapshot()
    }

    /// The store this limiter counts on.
    #[must_use]
    pub fn store(&self) -> &RedisStore {
        &self.store
    }

    fn limits(&self) -> Limits {
        self.quota.read().unwrap_or_else(PoisonError::into_inner).1
    }

    pub(crate) async fn check_key_n_prefixed(
        &self,
        key: &str,
        n: u32,
    ) -> Result<(), RedisLimitError> {
        refusal(self.decide(key, n, true).await?)
    }

    pub(crate) async fn peek_key_n_prefixed(
        &self,
        key: &str,
        n: u32,
    ) -> Result<(), RedisLimitError> {
        refusal(self.decide(key, n, false).await?)
    }

    pub(crate) async fn until_key_n_ready_prefixed(
        &self,
        key: &str,
        n: u32,
    ) -> Result<(), RedisLimitError> {
        loop {
            match refusal(self.decide(key, n, true).await?) {
                Err(RedisLimitError::RateLimited(r)) => tokio::time::sleep(r.retry_after).await,
                other => return other,
            }
        }
    }

    /// The whole decision for `n` tokens of `key` (prefixed); `write == false` only looks.
    pub(crate) async fn decide(
        &self,
        key: &str,
        n: u32,
        write: bool,
    ) -> Result<Decision, RedisLimitError> {
        let limits = self.limits();
        if n > limits.capacity {
            return Err(RedisLimitError::ExceedsLimit(ExceedsLimit {
                requested: n,
                limit: limits.capacity,
            }));
        }
        // Paused-time friendly: tokio's clock, handed to the table as a std instant.
        let now = tokio::time::Instant::now().into_std();
        let max_age = self
            .lease
            .as_ref()
            .map(|l| (now, l.max_age(limits.interval())));
        if let (Some(lease), Some(max_age)) = (&self.lease, max_age)
            && n > 0
            && let Some(left) = lease.take(key, n, max_age, !write, &self.counters)
        {
            return Ok(Decision {
                allowed: true,
                limit: limits.capacity,
                remaining: left,
                reset_after: limits
                    .interval()
                    .saturating_mul(limits.capacity - left.min(limits.capacity)),
                retry_after: None,
            });
        }
        // `n == 0` counts nothing, so it leases nothing either.
        let want = match &self.lease {
            Some(lease) if write && n > 0 => lease.size().max(n).min(limits.capacity),
            _ => n,
        };
        bump(&self.counters.round_trips, 1);
        match self
            .store
            .run(
                key,
                limits,
                Take {
                    need: n,
                    want,
                    write,
                },
            )
            .await
        {
            Ok(reply) => {
                let leased = reply.granted.saturating_sub(n);
                if let (Some(lease), Some(max_age)) = (&self.lease, max_age) {
                    lease.deposit(key, leased, max_age, &self.counters);
                }
                Ok(Decision {
                    allowed: reply.allowed,
                    limit: limits.capacity,
                    remaining: reply.remaining.saturating_add(leased),
                    reset_after: reply.full_after,
                    retry_after: (!reply.allowed).then_some(reply.retry_after),
                })
            }
            Err(failure) => self.on_failure(key, n, write, limits, failure),
        }
    }

    fn on_failure(
        &self,
        key: &str,
        n: u32,
        write: bool,
        limits: Limits,
        failure: StoreFailure,
    ) -> Result<Decision, RedisLimitError> {
        bump(&self.counters.store_failures, 1);
        match &self.policy {
            Policy::Open => {
                bump(&self.counters.failed_open, 1);
                Ok(admitted_unmeasured(limits, n))
            }
            Policy::Closed => {
                bump(&self.counters.failed_closed, 1);
                Err(RedisLimitError::Unavailable(failure))
            }
            Policy::Fallback(local) => {
                bump(&self.counters.fell_back, 1);
                let local_burst = local.quota().burst();
                if n > local_burst {
                    return Err(RedisLimitError::ExceedsLimit(ExceedsLimit {
                        requested: n,
                        limit: local_burst,
                    }));
                }
                let key = key.to_owned();
                if write {
                    return Ok(local.check_key_n_decision(&key, n));
                }
                Ok(match local.peek_key_n(&key, n) {
                    Ok(()) => admitted_unmeasured(limits, n),
                    Err(refused) => Decision {
                        allowed: false,
                        limit: limits.capacity,
                        remaining: 0,
                        reset_after: Duration::ZERO,
                        retry_after: refused.retry_after(),
                    },
                })
            }
        }
    }
}

/// An admission decided without the shared bucket's state (fail open, or a local fallback
/// peek): reported as from a full bucket.
fn admitted_unmeasured(limits: Limits, n: u32) -> Decision {
    Decision {
        allowed: true,
        limit: limits.capacity,
        remaining: limits.capacity - n,
        reset_after: Duration::ZERO,
        retry_after: None,
    }
}

/// A decision as a plain check's answer.
fn refusal(decision: Decision) -> Result<(), RedisLimitError> {
    match (decision.allowed, decision.retry_after) {
        (true, _) => Ok(()),
        (false, Some(retry_after)) => {
            Err(RedisLimitError::RateLimited(RateLimited { retry_after }))
        }
        (false, None) => Err(RedisLimitError::RateLimited(RateLimited {
            retry_after: Duration::ZERO,
        })),
    }
}
