//! [`TokenBucket`]: the public handle over the lock-free state and the wait queue.

use std::time::Duration;

use crate::acquire::{Acquire, AcquireWithin};
use crate::blocking;
use crate::builder::Builder;
use crate::cell::MAX_TIME;
use crate::clock::{Clock, DefaultClock};
use crate::error::{ConfigError, ExceedsCapacity, TryAcquireError};
use crate::gcra::{Denial, Gcra, Grant};
use crate::queue::WaitQueue;
use crate::state::BucketState;
use crate::sync::Arc;
use crate::waiter::Waiter;

/// Everything the handles share.
#[derive(Debug)]
pub(crate) struct Shared<C> {
    pub(crate) state: BucketState,
    pub(crate) queue: WaitQueue,
    clock: C,
    /// The clock reading at build time: the bucket's timeline starts at zero there, so
    /// a clock whose readings are near `u64::MAX` never overflows the arithmetic.
    origin: u64,
}

impl<C: Clock> Shared<C> {
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now().saturating_sub(self.origin).min(MAX_TIME)
    }
}

/// A token bucket: `capacity` tokens of burst, refilled continuously at a fixed rate.
///
/// The state is one atomic word updated by compare-and-swap (the GCRA algorithm): no
/// mutex on the hot path, no background task, no allocation per call. Clones are cheap
/// handles to the same bucket.
///
/// # Guarantees
/// - **Never over-grants**: over any interval of length `t`, at most
///   `capacity + t / interval` tokens are granted, whatever the interleaving
///   (model-checked with loom).
/// - **FIFO-fair waiting**: [`acquire`](Self::acquire), [`acquire_within`](Self::acquire_within)
///   and [`acquire_blocking`](Self::acquire_blocking) are served in arrival order; a later
///   small request never overtakes an earlier large one, and [`try_acquire`](Self::try_acquire)
///   never takes tokens while anyone waits.
/// - **Cancel-safe**: dropping a waiting future returns the tokens it had reserved and
///   passes its turn on; nothing leaks, nobody behind it is starved.
/// - **Bounded**: long idle periods never accrue more than `capacity`.
/// - **No panics on input**: bad parameters are a [`ConfigError`], `n > capacity` is an
///   error, `n == 0` always succeeds at once.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use tidewater_token_bucket::{TokenBucket, TryAcquireError};
///
/// // Bursts of up to 5 requests, 10 requests per second sustained.
/// let bucket = TokenBucket::builder()
///     .capacity(5)
///     .refill(10, Duration::from_secs(1))
///     .build()?;
///
/// assert!(bucket.try_acquire(5).is_ok());
/// match bucket.try_acquire(1) {
///     Err(TryAcquireError::Insufficient { retry_after }) => {
///         assert!(retry_after <= Duration::from_millis(100));
///     }
///     other => panic!("expected a denial, got {other:?}"),
/// }
/// # Ok::<(), tidewater_token_bucket::ConfigError>(())
/// ```
///
/// Waiting asynchronously (FIFO, cancel-safe):
/// ```
/// # use std::time::Duration;
/// # use tidewater_token_bucket::TokenBucket;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let bucket = TokenBucket::builder()
///     .capacity(2)
///     .refill(100, Duration::from_secs(1))
///     .build()?;
/// for _ in 0..4 {
///     bucket.acquire(1).await?; // the last two wait about 10 ms each
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TokenBucket<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
}

impl<C: Clock> Clone for TokenBucket<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// A consistent snapshot of a bucket, for headers and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketStatus {
    /// Whole tokens available now.
    pub available: u32,
    /// The most tokens the bucket holds.
    pub capacity: u32,
    /// How long until the bucket is full again.
    pub full_after: Duration,
    /// Acquirers currently waiting.
    pub waiting: usize,
}

impl TokenBucket<DefaultClock> {
    /// Starts configuring a bucket; `capacity` and `refill` are required.
    pub fn builder() -> Builder<DefaultClock> {
        Builder::new()
    }
}

impl<C: Clock> TokenBucket<C> {
    pub(crate) fn from_parts(gcra: Gcra, initial: u32, clock: C) -> Self {
        let origin = clock.now();
        let state = BucketState::new(gcra, initial);
        Self {
            shared: Arc::new(Shared {
                state,
                queue: WaitQueue::default(),
                clock,
                origin,
            }),
        }
    }

    #[cfg(all(test, tidewater_loom))]
    pub(crate) fn shared(&self) -> &Shared<C> {
        &self.shared
    }

    /// Takes `n` tokens if they are available now; never waits.
    ///
    /// `n == 0` always succeeds. While waiters are queued this returns `Insufficient`
    /// with the predicted wait behind them, so it never overtakes a waiter.
    ///
    /// # Errors
    /// [`TryAcquireError::Insufficient`] with the time after which the request would
    /// pass, or [`TryAcquireError::ExceedsCapacity`] if it never can.
    #[inline(always)]
    pub fn try_acquire(&self, n: u32) -> Result<(), TryAcquireError> {
        let shared = &*self.shared;
        let now = shared.now();
        if !shared.queue.is_empty() {
            return self.try_acquire_behind_waiters(now, n);
        }
        match shared.state.try_take(now, n) {
            Ok(()) => Ok(()),
            Err(Denial::Insufficient { retry_after_nanos }) => Err(TryAcquireError::Insufficient {
                retry_after: Duration::from_nanos(retry_after_nanos),
            }),
            Err(Denial::ExceedsCapacity) => Err(self.exceeds(n)),
        }
    }

    /// `try_acquire` while others wait: only `n == 0` passes; the rest learn their wait.
    #[cold]
    #[inline(never)]
    fn try_acquire_behind_waiters(&self, now: u64, n: u32) -> Result<(), TryAcquireError> {
        if n == 0 {
            Ok(())
        } else {
            Err(self.behind_waiters(now, n))
        }
    }

    /// Like [`try_acquire`](Self::try_acquire), and on success also reports what is left:
    /// `(remaining tokens, time until full)` — what `RateLimit-*` headers need.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn try_acquire_status(&self, n: u32) -> Result<(u32, Duration), TryAcquireError> {
        let shared = &*self.shared;
        let now = shared.now();
        if !shared.queue.is_empty() && n > 0 {
            return Err(self.behind_waiters(now, n));
        }
        match shared.state.try_acquire(now, n) {
            Ok(grant) => Ok(status_of(grant)),
            Err(denial) => Err(self.denial(denial, n)),
        }
    }

    /// Would `n` tokens be granted now? Answers like [`try_acquire`](Self::try_acquire)
    /// but consumes nothing ("when may I go?").
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn peek(&self, n: u32) -> Result<(), TryAcquireError> {
        let shared = &*self.shared;
        let now = shared.now();
        if !shared.queue.is_empty() && n > 0 {
            return Err(self.behind_waiters(now, n));
        }
        shared
            .state
            .peek(now, n)
            .map(|_| ())
            .map_err(|d| self.denial(d, n))
    }

    /// Waits until `n` tokens are granted, in FIFO order with other waiters.
    ///
    /// Waits on tokio's timer (one timer for the whole queue: only the head sleeps).
    /// Cancel-safe: dropping the future returns what it reserved. `n == 0` completes at once.
    ///
    /// # Errors
    /// [`ExceedsCapacity`] at once when `n` exceeds the capacity.
    pub fn acquire(&self, n: u32) -> Acquire<'_, C> {
        Acquire::new(Waiter::new(&self.shared, n, None))
    }

    /// Like [`acquire`](Self::acquire), but refuses at once (reserving nothing) when the
    /// predicted wait behind the current queue is longer than `max_wait`: shed load
    /// instead of queueing it.
    ///
    /// # Errors
    /// [`AcquireWithinError::WouldWait`](crate::AcquireWithinError::WouldWait) with the
    /// predicted wait, or `ExceedsCapacity`.
    pub fn acquire_within(&self, n: u32, max_wait: Duration) -> AcquireWithin<'_, C> {
        let max_nanos = u64::try_from(max_wait.as_nanos()).unwrap_or(u64::MAX);
        AcquireWithin::new(Waiter::new(&self.shared, n, Some(max_nanos)), max_wait)
    }

    /// Blocks the calling thread until `n` tokens are granted, in the same FIFO queue as
    /// the async waiters. For synchronous code; do not call it on an async runtime thread.
    ///
    /// # Errors
    /// [`ExceedsCapacity`] at once when `n` exceeds the capacity.
    pub fn acquire_blocking(&self, n: u32) -> Result<(), ExceedsCapacity> {
        blocking::wait(Waiter::new(&self.shared, n, None))
    }

    /// Whole tokens available now.
    #[must_use]
    pub fn available(&self) -> u32 {
        let shared = &*self.shared;
        let now = shared.now();
        let (gcra, tat) = shared.state.snapshot(now);
        gcra.available(tat, now)
    }

    /// The most tokens the bucket holds.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.shared.state.capacity()
    }

    /// The current interval between two tokens.
    #[must_use]
    pub fn interval(&self) -> Duration {
        let shared = &*self.shared;
        shared.state.snapshot(shared.now()).0.interval()
    }

    /// Tokens, capacity, time until full and number of waiters, read at one instant.
    #[must_use]
    pub fn status(&self) -> BucketStatus {
        let shared = &*self.shared;
        let now = shared.now();
        let (gcra, tat) = shared.state.snapshot(now);
        BucketStatus {
            available: gcra.available(tat, now),
            capacity: gcra.capacity(),
            full_after: Duration::from_nanos(gcra.full_after_nanos(tat, now)),
            waiting: shared.queue.len(),
        }
    }

    /// Changes the refill rate to `tokens` per `every`, atomically: the tokens in the
    /// bucket (or the debt of a waiter's reservation) carry over exactly, none lost or
    /// invented. Waiters re-time themselves to the new rate.
    ///
    /// # Errors
    /// The same [`ConfigError`]s as [`Builder::refill`]; the old rate then stays.
    pub fn set_refill(&self, tokens: u32, every: Duration) -> Result<(), ConfigError> {
        self.set_limits(self.capacity(), tokens, every)
    }

    /// Changes capacity and refill rate together, atomically. The balance carries over,
    /// clamped to the new capacity; a waiter asking for more than the new capacity gets
    /// [`ExceedsCapacity`] instead of waiting forever.
    ///
    /// # Errors
    /// The same [`ConfigError`]s as the builder; the old limits then stay.
    pub fn set_limits(
        &self,
        capacity: u32,
        tokens: u32,
        every: Duration,
    ) -> Result<(), ConfigError> {
        let gcra = Gcra::new(capacity, tokens, every)?;
        let shared = &*self.shared;
        shared.state.set(shared.now(), gcra);
        shared.queue.wake_all();
        Ok(())
    }

    /// The bucket's clock.
    #[must_use]
    pub fn clock(&self) -> &C {
        &self.shared.clock
    }

    #[cold]
    #[inline(never)]
    fn behind_waiters(&self, now: u64, n: u32) -> TryAcquireError {
        if n > self.capacity() {
            return self.denial(Denial::ExceedsCapacity, n);
        }
        let wait = self.shared.queue.predicted_wait(&self.shared.state, now, n);
        TryAcquireError::Insufficient {
            retry_after: Duration::from_nanos(wait),
        }
    }

    #[cold]
    #[inline(never)]
    fn exceeds(&self, n: u32) -> TryAcquireError {
        TryAcquireError::ExceedsCapacity {
            requested: n,
            capacity: self.capacity(),
        }
    }

    #[inline]
    fn denial(&self, denial: Denial, n: u32) -> TryAcquireError {
        match denial {
            Denial::Insufficient { retry_after_nanos } => TryAcquireError::Insufficient {
                retry_after: Duration::from_nanos(retry_after_nanos),
            },
            Denial::ExceedsCapacity => TryAcquireError::ExceedsCapacity {
                requested: n,
                capacity: self.capacity(),
            },
        }
    }
}

fn status_of(grant: Grant) -> (u32, Duration) {
    (
        grant.remaining,
        Duration::from_nanos(grant.full_after_nanos),
    )
}
