//! [`KeyedRateLimiter`]: one quota per key (client IP, user, API token), with memory
//! bounded without any call from the user.

mod store;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::num::NonZeroUsize;
use std::sync::PoisonError;
use std::time::Duration;

use tidewater_token_bucket::{Clock, DefaultClock, Denial, Gcra, Grant, SharedRate};

pub use store::WhenFull;
use store::{MemoryStore, Store};

use crate::decision::Decision;
use crate::error::{ExceedsLimit, KeyedError, RateLimited};
use crate::quota::Quota;

/// The last instant of a cell's timeline (60 bits of nanoseconds, about 36 years).
const MAX_TIME: u64 = (1 << 60) - 1;
/// How long a key's full bucket is kept after it refilled, unless configured.
const DEFAULT_HORIZON: Duration = Duration::from_secs(10);

/// One GCRA quota per key, in 8 bytes of state per key.
///
/// # Memory bounds
/// - **Idle keys go away by themselves.** A key whose bucket has been full for the idle
///   horizon (default 10 s) is indistinguishable from a key never seen, so it is dropped:
///   each shard keeps two generations of keys and drops the older one wholesale once it is
///   certain to hold only such keys (inserts drive this; no background task, no call to
///   [`retain_recent`](Self::retain_recent) needed, and no sweep of the map under a lock).
///   An idle key is gone at most `2 × (refill time of the burst + horizon)` after its
///   last use, as soon as later inserts reach its shard.
/// - **An optional hard cap**: [`max_keys`](KeyedBuilder::max_keys) keys at most, ever;
///   beyond it new keys are refused ([`WhenFull::Reject`]) or the least recently used
///   generation gives up a key ([`WhenFull::EvictOldest`]).
/// - About 16 bytes of table entry per key plus the key (a `u64` key costs about 25–35
///   bytes in all, depending on the table's load); see `docs/rate-limiter.md`.
///
/// # Other guarantees
/// Checks of one key are linearizable (one CAS on the key's cell); a key's first check
/// sees a full bucket; [`set_quota`](Self::set_quota) is atomic for every key (each keeps
/// its token balance, clamped to the new burst).
///
/// ```
/// use tidewater_rate_limiter::{KeyedRateLimiter, Quota};
///
/// let limiter = KeyedRateLimiter::<&str>::new(Quota::per_second(1)?);
/// assert!(limiter.check_key(&"alice").is_ok());
/// assert!(limiter.check_key(&"alice").is_err()); // alice waits...
/// assert!(limiter.check_key(&"bob").is_ok()); // ...bob does not
/// assert_eq!(limiter.len(), 2);
/// # Ok::<(), tidewater_rate_limiter::QuotaError>(())
/// ```
pub struct KeyedRateLimiter<K, C: Clock = DefaultClock, S = RandomState> {
    store: MemoryStore<K, S>,
    rate: SharedRate,
    clock: C,
    origin: u64,
    quota: std::sync::Mutex<Quota>,
}

impl<K, C: Clock, S> std::fmt::Debug for KeyedRateLimiter<K, C, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("rate", &self.rate)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Configures a [`KeyedRateLimiter`]; from [`KeyedRateLimiter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyedBuilder<C = DefaultClock, S = RandomState> {
    quota: Quota,
    horizon: Duration,
    max_keys: Option<(NonZeroUsize, WhenFull)>,
    shards: usize,
    clock: C,
    hasher: S,
}

impl<K: Hash + Eq + Clone> KeyedRateLimiter<K> {
    /// A keyed limiter for `quota` with the defaults: 10 s idle horizon, no key cap.
    #[must_use]
    pub fn new(quota: Quota) -> Self {
        Self::builder(quota).build()
    }

    /// Starts configuring a keyed limiter for `quota`.
    pub fn builder(quota: Quota) -> KeyedBuilder {
        KeyedBuilder {
            quota,
            horizon: DEFAULT_HORIZON,
            max_keys: None,
            shards: std::thread::available_parallelism().map_or(4, NonZeroUsize::get) * 8,
            clock: DefaultClock::default(),
            hasher: RandomState::new(),
        }
    }
}

impl<C: Clock, S: BuildHasher + Clone> KeyedBuilder<C, S> {
    /// How long a key whose bucket is full again is still kept (default 10 s). Zero drops
    /// keys as soon as they are free to forget; longer keeps returning keys from being
    /// re-inserted. The memory bound grows with it.
    pub fn idle_horizon(mut self, horizon: Duration) -> Self {
        self.horizon = horizon;
        self
    }

    /// Never track more than `max_keys` keys; `when_full` says what a new key gets then.
    pub fn max_keys(mut self, max_keys: NonZeroUsize, when_full: WhenFull) -> Self {
        self.max_keys = Some((max_keys, when_full));
        self
    }

    /// The number of lock shards (rounded up to a power of two, at most 4096; default
    /// eight per CPU).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// The time source (a [`ManualClock`](tidewater_token_bucket::ManualClock) in tests).
    pub fn clock<C2: Clock>(self, clock: C2) -> KeyedBuilder<C2, S> {
        KeyedBuilder {
            quota: self.quota,
            horizon: self.horizon,
            max_keys: self.max_keys,
            shards: self.shards,
            clock,
            hasher: self.hasher,
        }
    }

    /// The hasher of the key tables (default: randomly seeded `SipHash`, flood-resistant).
    pub fn hasher<S2: BuildHasher + Clone>(self, hasher: S2) -> KeyedBuilder<C, S2> {
        KeyedBuilder {
            quota: self.quota,
            horizon: self.horizon,
            max_keys: self.max_keys,
            shards: self.shards,
            clock: self.clock,
            hasher,
        }
    }

    /// Builds the limiter.
    pub fn build<K: Hash + Eq + Clone>(self) -> KeyedRateLimiter<K, C, S> {
        let gcra = gcra_of(&self.quota);
        let horizon = u64::try_from(self.horizon.as_nanos()).unwrap_or(u64::MAX);
        let (max_keys, when_full) = self
            .max_keys
            .map_or((None, WhenFull::Reject), |(m, w)| (Some(m), w));
        KeyedRateLimiter {
            store: MemoryStore::new(&self.hasher, self.shards, horizon, max_keys, when_full),
            rate: SharedRate::new(gcra),
            origin: self.clock.now(),
            clock: self.clock,
            quota: std::sync::Mutex::new(self.quota),
        }
    }
}

/// A [`Quota`] is validated against these very parameters when it is built.
fn gcra_of(quota: &Quota) -> Gcra {
    quota.gcra().unwrap_or_else(|_| {
        unreachable!("a Quota is validated against the GCRA parameters when it is built")
    })
}

impl<K: Hash + Eq + Clone, C: Clock, S: BuildHasher + Clone> KeyedRateLimiter<K, C, S> {
    #[inline]
    fn now(&self) -> u64 {
        self.clock.now().saturating_sub(self.origin).min(MAX_TIME)
    }

    /// Counts one request for `key` if its quota allows it now.
    ///
    /// # Errors
    /// [`KeyedError::RateLimited`] with the wait, or [`KeyedError::TooManyKeys`] for a new
    /// key when the cap is reached and configured to refuse.
    #[inline]
    pub fn check_key(&self, key: &K) -> Result<(), KeyedError> {
        self.check_key_n(key, 1)
    }

    /// Counts `n` requests for `key` at once, all or nothing. `n == 0` always passes (and
    /// still registers the key).
    ///
    /// # Errors
    /// As [`check_key`](Self::check_key), plus [`KeyedError::ExceedsLimit`] when `n` is
    /// above the burst.
    #[inline]
    pub fn check_key_n(&self, key: &K, n: u32) -> Result<(), KeyedError> {
        let clock = || self.now();
        match self
            .store
            .with_cell(key, self.now(), &clock, &self.rate, |cell, now| {
                cell.try_take(&self.rate, now, n)
            }) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(denial)) => Err(self.denial(denial, n)),
            Err(store::Full) => Err(self.too_many_keys()),
        }
    }

    /// Like [`check_key`](Self::check_key), answering with the full [`Decision`].
    #[must_use]
    pub fn check_key_decision(&self, key: &K) -> Decision {
        self.check_key_n_decision(key, 1)
    }

    /// Like [`check_key_n`](Self::check_key_n), answering with the full [`Decision`].
    #[must_use]
    pub fn check_key_n_decision(&self, key: &K, n: u32) -> Decision {
        let clock = || self.now();
        let outcome = self
            .store
            .with_cell(key, self.now(), &clock, &self.rate, |cell, now| {
                cell.try_acquire(&self.rate, now, n)
                    .map_err(|d| (d, cell.snapshot(&self.rate, now), now))
            });
        match outcome {
            Ok(Ok(grant)) => self.granted(grant),
            Ok(Err((denial, (gcra, tat), now))) => Decision {
                allowed: false,
                limit: gcra.capacity(),
                remaining: gcra.available(tat, now),
                reset_after: Duration::from_nanos(gcra.full_after_nanos(tat, now)),
                retry_after: self.denial(denial, n).retry_after(),
            },
            Err(store::Full) => Decision {
                allowed: false,
                limit: self.rate.current().capacity(),
                remaining: 0,
                reset_after: Duration::ZERO,
                retry_after: None,
            },
        }
    }

    /// Would `n` requests for `key` pass now? Counts nothing and creates no entry.
    ///
    /// # Errors
    /// As [`check_key_n`](Self::check_key_n) (never `TooManyKeys`).
    pub fn peek_key_n(&self, key: &K, n: u32) -> Result<(), KeyedError> {
        let now = self.now();
        let answer = self.store.peek_cell(key, |cell| match cell {
            Some(cell) => cell.peek(&self.rate, now, n),
            None => {
                let gcra = self.rate.current();
                gcra.decide(gcra.tat_with_tokens(now, u32::MAX), now, n)
            }
        });
        answer.map(|_| ()).map_err(|d| self.denial(d, n))
    }

    /// Waits until one request for `key` passes, then counts it.
    ///
    /// Cancel-safe: nothing is reserved while waiting, so dropping the future leaves no
    /// trace. Waiters of one key are not queued: each retries after the predicted wait.
    ///
    /// # Errors
    /// [`KeyedError::TooManyKeys`] when the key cannot be tracked (cap reached, `Reject`).
    pub async fn until_key_ready(&self, key: &K) -> Result<(), KeyedError> {
        self.until_key_n_ready(key, 1).await
    }

    /// Waits until `n` requests for `key` pass at once, then counts them. Cancel-safe.
    ///
    /// # Errors
    /// [`KeyedError::ExceedsLimit`] at once if `n` is above the burst, or
    /// [`KeyedError::TooManyKeys`].
    pub async fn until_key_n_ready(&self, key: &K, n: u32) -> Result<(), KeyedError> {
        loop {
            match self.check_key_n(key, n) {
                Err(KeyedError::RateLimited(r)) => tokio::time::sleep(r.retry_after).await,
                other => return other,
            }
        }
    }

    /// Keys tracked now (approximate while other threads insert).
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key whose bucket has been full for at least the idle horizon, now,
    /// and gives the freed table memory back. Never needed for bounded memory (that is
    /// automatic); useful to shrink at once after a spike. Locks one shard at a time.
    pub fn retain_recent(&self) {
        self.store.retain_recent(&|| self.now(), &self.rate);
    }

    /// Replaces the quota of every key at run time, atomically: each key keeps its token
    /// balance (clamped to the new burst), so a change never grants fresh bursts. Visits
    /// every key once (one shard at a time) to keep its state readable across changes.
    pub fn set_quota(&self, quota: Quota) {
        let mut current = self.quota.lock().unwrap_or_else(PoisonError::into_inner);
        let gcra = gcra_of(&quota);
        let now = self.now();
        let old = self.rate.current();
        self.store
            .rate_changing(now, old.tolerance_nanos(), gcra.tolerance_nanos());
        self.rate.set(gcra);
        self.store.migrate_all(now, &self.rate);
        *current = quota;
    }

    /// The quota in force.
    #[must_use]
    pub fn quota(&self) -> Quota {
        *self.quota.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn granted(&self, grant: Grant) -> Decision {
        Decision {
            allowed: true,
            limit: self.rate.current().capacity(),
            remaining: grant.remaining,
            reset_after: Duration::from_nanos(grant.full_after_nanos),
            retry_after: None,
        }
    }

    fn denial(&self, denial: Denial, n: u32) -> KeyedError {
        match denial {
            Denial::Insufficient { retry_after_nanos } => KeyedError::RateLimited(RateLimited {
                retry_after: Duration::from_nanos(retry_after_nanos),
            }),
            Denial::ExceedsCapacity => KeyedError::ExceedsLimit(ExceedsLimit {
                requested: n,
                limit: self.rate.current().capacity(),
            }),
        }
    }

    fn too_many_keys(&self) -> KeyedError {
        KeyedError::TooManyKeys {
            max_keys: self.store.max_keys().map_or(usize::MAX, NonZeroUsize::get),
        }
    }
}
