//! Time sources. The bucket reads time only through [`Clock`], so every rule of the
//! algorithm can be driven by a [`ManualClock`] in tests and loom models.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source, in nanoseconds from an arbitrary fixed origin.
///
/// Implementations must never go backwards by design; if one does (a manual clock set
/// back), the bucket treats the earlier reading as "no time passed", never as a refill.
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds elapsed since this clock's origin.
    fn now(&self) -> u64;
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `std::time::Instant`, measured from the moment the clock was created (about 18 ns a read).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> u64 {
        saturating_nanos(self.origin.elapsed())
    }
}

/// The CPU's time-stamp counter, calibrated against the monotonic clock by `quanta`
/// (about half the cost of `Instant::now()`); falls back to the OS clock where no
/// reliable counter exists.
#[cfg(feature = "quanta")]
#[derive(Debug, Clone)]
pub struct QuantaClock {
    clock: quanta::Clock,
    origin: u64,
}

#[cfg(feature = "quanta")]
impl QuantaClock {
    /// A clock whose origin is now.
    #[must_use]
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let origin = clock.raw();
        Self { clock, origin }
    }
}

#[cfg(feature = "quanta")]
impl Default for QuantaClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "quanta")]
impl Clock for QuantaClock {
    #[inline]
    fn now(&self) -> u64 {
        self.clock.delta_as_nanos(self.origin, self.clock.raw())
    }
}

/// The clock a bucket uses unless told otherwise: [`QuantaClock`] with the default
/// `quanta` feature, [`MonotonicClock`] without it.
#[cfg(feature = "quanta")]
pub type DefaultClock = QuantaClock;

/// The clock a bucket uses unless told otherwise: [`QuantaClock`] with the default
/// `quanta` feature, [`MonotonicClock`] without it.
#[cfg(not(feature = "quanta"))]
pub type DefaultClock = MonotonicClock;

/// A clock that moves only when told to: deterministic tests of anything time-based.
///
/// Clones share one time, so a test keeps a clone and advances the bucket's clock.
///
/// ```
/// use std::time::Duration;
/// use tidewater_token_bucket::{ManualClock, TokenBucket};
///
/// let clock = ManualClock::new();
/// let bucket = TokenBucket::builder()
///     .capacity(1)
///     .refill(1, Duration::from_secs(1))
///     .clock(clock.clone())
///     .build()?;
/// assert!(bucket.try_acquire(1).is_ok());
/// assert!(bucket.try_acquire(1).is_err());
/// clock.advance(Duration::from_secs(1));
/// assert!(bucket.try_acquire(1).is_ok());
/// # Ok::<(), tidewater_token_bucket::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock at the given reading (for example near `u64::MAX`, to test overflow).
    #[must_use]
    pub fn starting_at(nanos: u64) -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(nanos)),
        }
    }

    /// Moves time forward; saturates at `u64::MAX` instead of wrapping.
    pub fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        // fetch_update never fails here: the closure always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(by))
            });
    }

    /// Sets the reading outright (moving it back is allowed and reads as "no time passed").
    pub fn set(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// Follows tokio's clock, so a bucket paces correctly under `#[tokio::test(start_paused = true)]`
/// and `tokio::time::advance`: async tests of waiting become deterministic.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose origin is tokio's now.
    #[must_use]
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> u64 {
        saturating_nanos(self.origin.elapsed())
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> u64 {
        (**self).now()
    }
}
