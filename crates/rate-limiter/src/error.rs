//! The typed outcomes of a check: limited for now, never possible, or out of key room.

use std::fmt;
use std::time::Duration;

/// A request was refused for now; the same request passes after `retry_after` if nobody
/// else takes the capacity first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimited {
    /// How long to wait before the request would pass.
    pub retry_after: Duration,
}

impl fmt::Display for RateLimited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limited: retry after {:?}", self.retry_after)
    }
}

impl std::error::Error for RateLimited {}

/// A request for more than the quota's burst: it can never pass, however long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExceedsLimit {
    /// Cells requested.
    pub requested: u32,
    /// The most the quota ever allows at once.
    pub limit: u32,
}

impl fmt::Display for ExceedsLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requested {} at once but the quota allows at most {}: split the request or raise the burst",
            self.requested, self.limit
        )
    }
}

impl std::error::Error for ExceedsLimit {}

/// Why [`check_n`](crate::RateLimiter::check_n) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckError {
    /// Not now; retry later.
    RateLimited(RateLimited),
    /// Never: `n` is above the burst.
    ExceedsLimit(ExceedsLimit),
}

impl CheckError {
    /// The wait after which the request would pass, or `None` if it never can.
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(r) => Some(r.retry_after),
            Self::ExceedsLimit(_) => None,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimited(e) => e.fmt(f),
            Self::ExceedsLimit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CheckError {}

impl From<RateLimited> for CheckError {
    fn from(e: RateLimited) -> Self {
        Self::RateLimited(e)
    }
}

impl From<ExceedsLimit> for CheckError {
    fn from(e: ExceedsLimit) -> Self {
        Self::ExceedsLimit(e)
    }
}

/// Why a [`KeyedRateLimiter`](crate::KeyedRateLimiter) check refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyedError {
    /// This key is over its quota for now; retry later.
    RateLimited(RateLimited),
    /// Never: `n` is above the burst.
    ExceedsLimit(ExceedsLimit),
    /// The limiter already tracks `max_keys` keys that are not yet free to forget, and is
    /// configured to refuse new keys ([`WhenFull::Reject`](crate::WhenFull::Reject)).
    TooManyKeys {
        /// The configured cap.
        max_keys: usize,
    },
}

impl KeyedError {
    /// The wait after which the request would pass, if waiting helps: `None` when it
    /// never can, or when the key table is full (no wait can be predicted).
    #[must_use]
    pub const fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(r) => Some(r.retry_after),
            Self::ExceedsLimit(_) | Self::TooManyKeys { .. } => None,
        }
    }
}

impl fmt::Display for KeyedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimited(e) => e.fmt(f),
            Self::ExceedsLimit(e) => e.fmt(f),
            Self::TooManyKeys { max_keys } => write!(
                f,
                "the limiter already tracks its maximum of {max_keys} active keys: raise max_keys or use WhenFull::EvictOldest"
            ),
        }
    }
}

impl std::error::Error for KeyedError {}

impl From<CheckError> for KeyedError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::RateLimited(r) => Self::RateLimited(r),
            CheckError::ExceedsLimit(x) => Self::ExceedsLimit(x),
        }
    }
}
