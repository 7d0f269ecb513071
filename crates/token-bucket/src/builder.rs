//! [`Builder`]: validated construction of a [`TokenBucket`].

use std::time::Duration;

use crate::bucket::TokenBucket;
use crate::clock::{Clock, DefaultClock};
use crate::error::ConfigError;
use crate::gcra::Gcra;

/// Configures a [`TokenBucket`]; from [`TokenBucket::builder`].
///
/// `capacity` and `refill` are required; `initial` defaults to a full bucket and `clock`
/// to [`DefaultClock`]. Nothing is validated until [`build`](Self::build), which returns
/// a [`ConfigError`] instead of panicking.
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder<C> {
    capacity: Option<u32>,
    refill: Option<(u32, Duration)>,
    initial: Option<u32>,
    clock: C,
}

impl Builder<DefaultClock> {
    pub(crate) fn new() -> Self {
        Self {
            capacity: None,
            refill: None,
            initial: None,
            clock: DefaultClock::default(),
        }
    }
}

impl<C: Clock> Builder<C> {
    /// The most tokens the bucket holds: its burst size. Must be at least 1.
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Refill `tokens` every `every`, continuously (one token every `every / tokens`),
    /// not in steps.
    pub fn refill(mut self, tokens: u32, every: Duration) -> Self {
        self.refill = Some((tokens, every));
        self
    }

    /// Tokens in the bucket at the start (default: full). At most the capacity.
    pub fn initial(mut self, tokens: u32) -> Self {
        self.initial = Some(tokens);
        self
    }

    /// The time source, e.g. a [`ManualClock`](crate::ManualClock) in tests or a
    /// [`TokioClock`](crate::TokioClock) to follow tokio's paused time.
    pub fn clock<C2: Clock>(self, clock: C2) -> Builder<C2> {
        Builder {
            capacity: self.capacity,
            refill: self.refill,
            initial: self.initial,
            clock,
        }
    }

    /// Validates the configuration and builds the bucket.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the parameter to fix.
    pub fn build(self) -> Result<TokenBucket<C>, ConfigError> {
        let capacity = self.capacity.ok_or(ConfigError::CapacityNotSet)?;
        let (tokens, every) = self.refill.ok_or(ConfigError::RefillNotSet)?;
        let gcra = Gcra::new(capacity, tokens, every)?;
        let initial = self.initial.unwrap_or(capacity);
        if initial > capacity {
            return Err(ConfigError::InitialExceedsCapacity { initial, capacity });
        }
        Ok(TokenBucket::from_parts(gcra, initial, self.clock))
    }
}
