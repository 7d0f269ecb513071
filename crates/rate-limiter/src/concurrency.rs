//! [`ConcurrencyLimiter`]: at most N operations in flight, FIFO-fair and cancel-safe.

use std::fmt;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::limit::{LimitCore, Pool};

/// The most permits a concurrency limit can have (tokio's semaphore bound).
pub const MAX_CONCURRENCY: usize = Semaphore::MAX_PERMITS;

/// A concurrency limit out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitError {
    /// A limit of zero would never admit anything.
    Zero,
    /// Above [`MAX_CONCURRENCY`].
    TooLarge {
        /// The limit asked for.
        requested: usize,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Zero => f.write_str("concurrency limit of 0 would admit nothing: use at least 1"),
            Self::TooLarge { requested } => {
                write!(
                    f,
                    "concurrency limit {requested} is above the maximum {MAX_CONCURRENCY}"
                )
            }
        }
    }
}

impl std::error::Error for LimitError {}

pub(crate) fn validate(limit: usize) -> Result<usize, LimitError> {
    match limit {
        0 => Err(LimitError::Zero),
        n if n > MAX_CONCURRENCY => Err(LimitError::TooLarge { requested: n }),
        n => Ok(n),
    }
}

/// The permits (tokio's FIFO, cancel-safe semaphore) and their accounting.
#[derive(Debug)]
pub(crate) struct Permits {
    semaphore: Semaphore,
    core: LimitCore,
}

impl Pool for Semaphore {
    #[inline]
    fn add(&self, n: usize) {
        if n > 0 {
            self.add_permits(n);
        }
    }

    #[inline]
    fn try_take(&self) -> bool {
        self.try_acquire()
            .map(tokio::sync::SemaphorePermit::forget)
            .is_ok()
    }
}

impl Permits {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            semaphore: Semaphore::new(limit),
            core: LimitCore::new(limit),
        }
    }

    /// Waits for a permit in FIFO order. Cancel-safe (tokio's guarantee): a dropped wait
    /// holds nothing.
    ///
    /// A free permit is taken at once, without building tokio's queued acquire: that
    /// never overtakes a waiter, because tokio hands released permits to queued waiters
    /// first and shows none as free while anyone waits.
    #[inline]
    pub(crate) async fn acquire(&self) {
        if !self.try_acquire() {
            self.acquire_queued().await;
        }
    }

    async fn acquire_queued(&self) {
        match self.semaphore.acquire().await {
            Ok(permit) => permit.forget(),
            // The semaphore is never closed; wait forever rather than admit past the limit.
            Err(_) => std::future::pending().await,
        }
    }

    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        self.semaphore.try_take()
    }

    #[inline]
    pub(crate) fn release(&self) {
        self.core.release(&self.semaphore);
    }

    pub(crate) fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    pub(crate) fn limit(&self) -> usize {
        self.core.limit()
    }

    pub(crate) fn in_flight(&self) -> usize {
        (self.core.limit() + self.core.debt()).saturating_sub(self.available())
    }

    pub(crate) fn set_limit(&self, limit: usize) {
        self.core.set_limit(limit, &self.semaphore);
    }
}

/// At most `limit` operations in flight; the rest wait in FIFO order.
///
/// # Guarantees
/// - **Bounded**: never more than the limit in flight (after [`set_limit`](Self::set_limit)
///   lowers it, in-flight work drains down to the new limit: nothing is preempted, no new
///   permit is issued above it).
/// - **Fair**: waiters get permits in the order they called [`acquire`](Self::acquire).
/// - **Cancel-safe**: dropping an `acquire` future before it completes holds nothing and
///   leaks nothing; a [`Permit`] releases on drop, including on panic unwinding.
///
/// Clones share the same limit.
///
/// ```
/// use tidewater_rate_limiter::ConcurrencyLimiter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tidewater_rate_limiter::LimitError> {
/// let limiter = ConcurrencyLimiter::new(2)?;
/// let a = limiter.acquire().await;
/// let _b = limiter.acquire().await;
/// assert!(limiter.try_acquire().is_none()); // two in flight: full
/// drop(a);
/// assert_eq!(limiter.available(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ConcurrencyLimiter {
    permits: Arc<Permits>,
}

impl ConcurrencyLimiter {
    /// A limiter admitting at most `limit` at once.
    ///
    /// # Errors
    /// [`LimitError::Zero`] or [`LimitError::TooLarge`].
    pub fn new(limit: usize) -> Result<Self, LimitError> {
        Ok(Self {
            permits: Arc::new(Permits::new(validate(limit)?)),
        })
    }

    /// Waits for a permit (FIFO). Cancel-safe.
    pub async fn acquire(&self) -> Permit<'_> {
        self.permits.acquire().await;
        Permit {
            permits: &self.permits,
        }
    }

    /// Like [`acquire`](Self::acquire), returning a permit that owns a handle to the
    /// limiter (`'static`, to move into a spawned task).
    pub async fn acquire_owned(&self) -> OwnedPermit {
        self.permits.acquire().await;
        OwnedPermit {
            permits: Arc::clone(&self.permits),
        }
    }

    /// A permit if one is free now. Never overtakes queued waiters.
    #[must_use]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.permits.try_acquire().then(|| Permit {
            permits: &self.permits,
        })
    }

    /// An owned permit if one is free now.
    #[must_use]
    pub fn try_acquire_owned(&self) -> Option<OwnedPermit> {
        self.permits.try_acquire().then(|| OwnedPermit {
            permits: Arc::clone(&self.permits),
        })
    }

    /// Permits free now.
    #[must_use]
    pub fn available(&self) -> usize {
        self.permits.available()
    }

    /// Operations holding a permit now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.permits.in_flight()
    }

    /// The current limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.permits.limit()
    }

    /// Changes the limit at run time. Raising it admits waiters at once; lowering it
    /// withdraws idle permits at once and in-use ones as they are released.
    ///
    /// # Errors
    /// [`LimitError`] for zero or too large; the limit is unchanged then.
    pub fn set_limit(&self, limit: usize) -> Result<(), LimitError> {
        self.permits.set_limit(validate(limit)?);
        Ok(())
    }
}

/// One unit of a [`ConcurrencyLimiter`]; released when dropped.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit<'a> {
    permits: &'a Permits,
}

impl Drop for Permit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.permits.release();
    }
}

/// A [`Permit`] that owns a handle to its limiter; released when dropped.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedPermit {
    permits: Arc<Permits>,
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        self.permits.release();
    }
}
