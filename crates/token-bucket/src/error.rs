//! The typed errors of the crate: configuration mistakes and acquisition outcomes.

use std::fmt;
use std::time::Duration;

/// A bucket could not be built (or re-rated) because a parameter is out of range.
///
/// Every variant says which parameter to change; none of them is ever a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `capacity(..)` was never called.
    CapacityNotSet,
    /// `refill(..)` was never called.
    RefillNotSet,
    /// `capacity(0)`: a bucket must hold at least one token.
    ZeroCapacity,
    /// `refill(0, ..)`: a bucket that never refills is a counter, not a rate limit.
    ZeroRefillTokens,
    /// `refill(.., Duration::ZERO)`: the refill period must be positive.
    ZeroRefillPeriod,
    /// The refill rate is above one token per nanosecond, finer than any clock can pace.
    RateTooHigh {
        /// Tokens per period as given.
        tokens: u32,
        /// The period as given.
        every: Duration,
    },
    /// Refilling a full bucket would take longer than the supported span (about nine years).
    PeriodTooLong {
        /// Tokens per period as given.
        tokens: u32,
        /// The period as given.
        every: Duration,
    },
    /// `initial(..)` was larger than `capacity(..)`.
    InitialExceedsCapacity {
        /// The requested initial tokens.
        initial: u32,
        /// The bucket's capacity.
        capacity: u32,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CapacityNotSet => f.write_str("token bucket capacity not set: call .capacity(n) with n >= 1"),
            Self::RefillNotSet => {
                f.write_str("token bucket refill not set: call .refill(tokens, every), e.g. .refill(10, Duration::from_secs(1))")
            }
            Self::ZeroCapacity => f.write_str("token bucket capacity is 0: it must hold at least 1 token"),
            Self::ZeroRefillTokens => f.write_str("refill of 0 tokens: refill at least 1 token per period"),
            Self::ZeroRefillPeriod => f.write_str("refill period is zero: use a positive Duration"),
            Self::RateTooHigh { tokens, every } => write!(
                f,
                "refill of {tokens} tokens every {every:?} is faster than 1 token per nanosecond: use fewer tokens or a longer period"
            ),
            Self::PeriodTooLong { tokens, every } => write!(
                f,
                "refill of {tokens} tokens every {every:?} makes a full refill take longer than the supported ~9 years: use a shorter period or a smaller capacity"
            ),
            Self::InitialExceedsCapacity { initial, capacity } => {
                write!(f, "initial tokens {initial} exceed the capacity {capacity}: use initial <= capacity")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// A request for more tokens than the bucket can ever hold: waiting would never help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExceedsCapacity {
    /// Tokens requested.
    pub requested: u32,
    /// The bucket's capacity.
    pub capacity: u32,
}

impl fmt::Display for ExceedsCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requested {} tokens but the bucket holds at most {}: split the request or raise the capacity",
            self.requested, self.capacity
        )
    }
}

impl std::error::Error for ExceedsCapacity {}

/// Why [`TokenBucket::try_acquire`](crate::TokenBucket::try_acquire) did not grant the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough tokens now; the same request succeeds after `retry_after` if nobody else takes them.
    Insufficient {
        /// How long until the requested tokens will have accrued.
        retry_after: Duration,
    },
    /// More tokens than the capacity were requested; this request can never succeed.
    ExceedsCapacity {
        /// Tokens requested.
        requested: u32,
        /// The bucket's capacity.
        capacity: u32,
    },
}

impl TryAcquireError {
    /// The wait after which the request would pass, or `None` if it never can.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Insufficient { retry_after } => Some(*retry_after),
            Self::ExceedsCapacity { .. } => None,
        }
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Insufficient { retry_after } => {
                write!(f, "not enough tokens: retry after {retry_after:?}")
            }
            Self::ExceedsCapacity {
                requested,
                capacity,
            } => ExceedsCapacity {
                requested: *requested,
                capacity: *capacity,
            }
            .fmt(f),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl From<ExceedsCapacity> for TryAcquireError {
    fn from(e: ExceedsCapacity) -> Self {
        Self::ExceedsCapacity {
            requested: e.requested,
            capacity: e.capacity,
        }
    }
}

/// Why [`TokenBucket::acquire_within`](crate::TokenBucket::acquire_within) refused to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireWithinError {
    /// More tokens than the capacity were requested; waiting would never help.
    ExceedsCapacity(ExceedsCapacity),
    /// The predicted wait (behind the waiters already queued) is longer than the caller allows.
    /// Nothing was reserved: the caller can shed the request at once.
    WouldWait {
        /// The predicted wait for this request.
        predicted: Duration,
        /// The longest wait the caller accepted.
        max_wait: Duration,
    },
}

impl fmt::Display for AcquireWithinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExceedsCapacity(e) => e.fmt(f),
            Self::WouldWait {
                predicted,
                max_wait,
            } => write!(
                f,
                "the tokens would take {predicted:?} to arrive, longer than the allowed {max_wait:?}: shed the request or allow a longer wait"
            ),
        }
    }
}

impl std::error::Error for AcquireWithinError {}

impl From<ExceedsCapacity> for AcquireWithinError {
    fn from(e: ExceedsCapacity) -> Self {
        Self::ExceedsCapacity(e)
    }
}
