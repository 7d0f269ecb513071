//! [`AdaptiveLimiter`]: a concurrency limit that finds its own level by AIMD.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tidewater_token_bucket::{Clock, DefaultClock};

use crate::concurrency::{LimitError, Permits, validate};

/// A concurrency limit that moves itself from observed outcomes (additive increase,
/// multiplicative decrease), between a floor and a ceiling.
///
/// - Each [`success`](AdaptivePermit::success) faster than the latency threshold counts
///   towards an increase: after `limit` of them (about one round of work at the current
///   level) the limit grows by `increase_by`.
/// - A [`dropped`](AdaptivePermit::dropped) outcome (overload, timeout, rejected by the
///   backend) or a success slower than the threshold multiplies the limit by `backoff`
///   (at least one less), down to the floor. Outcomes of permits taken before the last
///   decrease are not counted again, so one burst of failures backs off once.
/// - A permit dropped without an outcome is neutral.
///
/// Permits are FIFO-fair and cancel-safe like [`ConcurrencyLimiter`](crate::ConcurrencyLimiter)'s;
/// when the limit falls, in-flight work drains to it (no new permit above it is issued).
///
/// ```
/// use std::time::Duration;
/// use tidewater_rate_limiter::AdaptiveLimiter;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tidewater_rate_limiter::AdaptiveConfigError> {
/// let limiter = AdaptiveLimiter::builder()
///     .initial(4)
///     .floor(1)
///     .ceiling(64)
///     .latency_threshold(Duration::from_millis(250))
///     .build()?;
/// let permit = limiter.acquire().await;
/// // ... call the backend ...
/// permit.dropped(); // it answered 503: back off
/// assert_eq!(limiter.limit(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AdaptiveLimiter<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
}

#[derive(Debug)]
struct Shared<C> {
    permits: Permits,
    aimd: Mutex<Aimd>,
    clock: C,
}

#[derive(Debug)]
struct Aimd {
    limit: usize,
    floor: usize,
    ceiling: usize,
    increase_by: usize,
    backoff: f64,
    latency_threshold: Option<u64>,
    successes: usize,
    /// Bumped on every decrease; permits remember the epoch they were taken in.
    epoch: u64,
}

impl Aimd {
    /// Applies one outcome; returns the new limit if it changed.
    fn observe(&mut self, taken_in: u64, ok: bool) -> Option<usize> {
        if ok {
            self.successes += 1;
            if self.successes >= self.limit && self.limit < self.ceiling {
                self.successes = 0;
                self.limit = self
                    .limit
                    .saturating_add(self.increase_by)
                    .min(self.ceiling);
                return Some(self.limit);
            }
            None
        } else {
            if taken_in != self.epoch || self.limit == self.floor {
                return None;
            }
            self.successes = 0;
            self.epoch += 1;
            // The limit is far below 2^52, so the float round trip is exact enough.
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let scaled = (self.limit as f64 * self.backoff) as usize;
            self.limit = scaled.min(self.limit - 1).max(self.floor);
            Some(self.limit)
        }
    }
}

/// Why an [`AdaptiveLimiter`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum AdaptiveConfigError {
    /// A bound (floor, ceiling or initial) is zero or too large.
    Limit(LimitError),
    /// The bounds are not `floor <= initial <= ceiling`.
    Bounds {
        /// The floor.
        floor: usize,
        /// The initial limit.
        initial: usize,
        /// The ceiling.
        ceiling: usize,
    },
    /// `backoff` must be a finite factor strictly between 0 and 1.
    Backoff(f64),
    /// `increase_by` of zero would never grow the limit.
    ZeroIncrease,
}

impl fmt::Display for AdaptiveConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Limit(e) => e.fmt(f),
            Self::Bounds {
                floor,
                initial,
                ceiling,
            } => write!(
                f,
                "adaptive limit bounds must satisfy floor <= initial <= ceiling, got {floor} <= {initial} <= {ceiling}"
            ),
            Self::Backoff(b) => write!(f, "backoff {b} must be strictly between 0 and 1, e.g. 0.5"),
            Self::ZeroIncrease => {
                f.write_str("increase_by is 0: the limit could never grow; use at least 1")
            }
        }
    }
}

impl std::error::Error for AdaptiveConfigError {}

impl From<LimitError> for AdaptiveConfigError {
    fn from(e: LimitError) -> Self {
        Self::Limit(e)
    }
}

/// Configures an [`AdaptiveLimiter`]; from [`AdaptiveLimiter::builder`].
///
/// Defaults: initial 10, floor 1, ceiling 1000, increase by 1, backoff 0.5, no latency
/// threshold, the default clock.
#[derive(Debug, Clone)]
#[must_use]
pub struct AdaptiveBuilder<C = DefaultClock> {
    initial: usize,
    floor: usize,
    ceiling: usize,
    increase_by: usize,
    backoff: f64,
    latency_threshold: Option<Duration>,
    clock: C,
}

impl AdaptiveLimiter<DefaultClock> {
    /// Starts configuring an adaptive limiter.
    pub fn builder() -> AdaptiveBuilder {
        AdaptiveBuilder {
            initial: 10,
            floor: 1,
            ceiling: 1000,
            increase_by: 1,
            backoff: 0.5,
            latency_threshold: None,
            clock: DefaultClock::default(),
        }
    }
}

impl<C: Clock> AdaptiveBuilder<C> {
    /// The limit to start from.
    pub fn initial(mut self, limit: usize) -> Self {
        self.initial = limit;
        self
    }

    /// The limit never goes below this (at least 1).
    pub fn floor(mut self, limit: usize) -> Self {
        self.floor = limit;
        self
    }

    /// The limit never goes above this.
    pub fn ceiling(mut self, limit: usize) -> Self {
        self.ceiling = limit;
        self
    }

    /// How much one round of successes raises the limit.
    pub fn increase_by(mut self, step: usize) -> Self {
        self.increase_by = step;
        self
    }

    /// The factor applied on overload, strictly between 0 and 1.
    pub fn backoff(mut self, factor: f64) -> Self {
        self.backoff = factor;
        self
    }

    /// Successes slower than this count as overload.
    pub fn latency_threshold(mut self, threshold: Duration) -> Self {
        self.latency_threshold = Some(threshold);
        self
    }

    /// The clock that measures latency (a manual clock in tests).
    pub fn clock<C2: Clock>(self, clock: C2) -> AdaptiveBuilder<C2> {
        AdaptiveBuilder {
            initial: self.initial,
            floor: self.floor,
            ceiling: self.ceiling,
            increase_by: self.increase_by,
            backoff: self.backoff,
            latency_threshold: self.latency_threshold,
            clock,
        }
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// An [`AdaptiveConfigError`] naming the parameter to fix.
    pub fn build(self) -> Result<AdaptiveLimiter<C>, AdaptiveConfigError> {
        let (floor, initial, ceiling) = (
            validate(self.floor)?,
            validate(self.initial)?,
            validate(self.ceiling)?,
        );
        if !(floor <= initial && initial <= ceiling) {
            return Err(AdaptiveConfigError::Bounds {
                floor,
                initial,
                ceiling,
            });
        }
        if !(self.backoff > 0.0 && self.backoff < 1.0) {
            return Err(AdaptiveConfigError::Backoff(self.backoff));
        }
        if self.increase_by == 0 {
            return Err(AdaptiveConfigError::ZeroIncrease);
        }
        Ok(AdaptiveLimiter {
            shared: Arc::new(Shared {
                permits: Permits::new(initial),
                aimd: Mutex::new(Aimd {
                    limit: initial,
                    floor,
                    ceiling,
                    increase_by: self.increase_by,
                    backoff: self.backoff,
                    latency_threshold: self
                        .latency_threshold
                        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                    successes: 0,
                    epoch: 0,
                }),
                clock: self.clock,
            }),
        })
    }
}

impl<C: Clock> AdaptiveLimiter<C> {
    /// Waits for a permit (FIFO). Cancel-safe.
    pub async fn acquire(&self) -> AdaptivePermit<C> {
        self.shared.permits.acquire().await;
        self.permit()
    }

    /// A permit if one is free now.
    #[must_use]
    pub fn try_acquire(&self) -> Option<AdaptivePermit<C>> {
        self.shared.permits.try_acquire().then(|| self.permit())
    }

    fn permit(&self) -> AdaptivePermit<C> {
        let epoch = self.lock().epoch;
        AdaptivePermit {
            shared: Arc::clone(&self.shared),
            started: self.shared.clock.now(),
            epoch,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aimd> {
        self.shared
            .aimd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current limit.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.shared.permits.limit()
    }

    /// Permits free now.
    #[must_use]
    pub fn available(&self) -> usize {
        self.shared.permits.available()
    }

    /// Operations holding a permit now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.shared.permits.in_flight()
    }
}

/// A permit of an [`AdaptiveLimiter`]: report how the operation went, or drop it to
/// report nothing. Released in every case.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct AdaptivePermit<C: Clock = DefaultClock> {
    shared: Arc<Shared<C>>,
    started: u64,
    epoch: u64,
}

impl<C: Clock> AdaptivePermit<C> {
    /// The operation succeeded: counts towards raising the limit (or, if slower than the
    /// latency threshold, as overload).
    pub fn success(self) {
        let latency = self.shared.clock.now().saturating_sub(self.started);
        let slow = self.aimd().latency_threshold.is_some_and(|t| latency > t);
        self.observe(!slow);
    }

    /// The operation failed from overload (timeout, 503, connection refused): lowers the
    /// limit.
    pub fn dropped(self) {
        self.observe(false);
    }

    fn aimd(&self) -> std::sync::MutexGuard<'_, Aimd> {
        self.shared
            .aimd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn observe(&self, ok: bool) {
        let mut aimd = self.aimd();
        if let Some(limit) = aimd.observe(self.epoch, ok) {
            // Under the controller's lock, so limit changes apply in the order decided.
            self.shared.permits.set_limit(limit);
        }
    }
}

impl<C: Clock> Drop for AdaptivePermit<C> {
    fn drop(&mut self) {
        self.shared.permits.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aimd(limit: usize) -> Aimd {
        Aimd {
            limit,
            floor: 2,
            ceiling: 6,
            increase_by: 1,
            backoff: 0.5,
            latency_threshold: None,
            successes: 0,
            epoch: 0,
        }
    }

    #[test]
    fn increases_after_a_round_and_stops_at_the_ceiling() {
        let mut a = aimd(5);
        for _ in 0..4 {
            assert_eq!(a.observe(0, true), None);
        }
        assert_eq!(a.observe(0, true), Some(6));
        for _ in 0..10 {
            assert_eq!(a.observe(0, true), None);
        }
    }

    #[test]
    fn backs_off_once_per_burst_and_stops_at_the_floor() {
        let mut a = aimd(6);
        assert_eq!(a.observe(0, false), Some(3));
        assert_eq!(a.observe(0, false), None, "same burst");
        assert_eq!(a.observe(1, false), Some(2));
        assert_eq!(a.observe(2, false), None, "floor");
    }
}
