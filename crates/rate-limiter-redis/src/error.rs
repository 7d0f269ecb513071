//! What can go wrong: a limit, a store failure, or a setup mistake, each typed.

use std::fmt;
use std::time::Duration;

use tidewater_rate_limiter::{ExceedsLimit, RateLimited};

/// Why Redis could not answer a check. Which policy applied is up to the limiter's
/// [`FailurePolicy`](crate::FailurePolicy); this says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// No answer within the per-call timeout. The script may still have run on the server
    /// (a token spent without an admission: the limit errs on the strict side).
    Timeout {
        /// The configured per-call timeout.
        after: Duration,
    },
    /// The connection to Redis is down, refused or was dropped mid-call.
    Connection {
        /// The client's description.
        message: String,
    },
    /// Redis answered with an error (out of memory, a read-only replica, a key holding
    /// something else, ...).
    Server {
        /// The server's error, as the client reports it.
        message: String,
    },
}

impl StoreFailure {
    pub(crate) fn from_redis(error: &redis::RedisError) -> Self {
        let message = error.to_string();
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            Self::Connection { message }
        } else {
            Self::Server { message }
        }
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { after } => {
                write!(
                    f,
                    "Redis did not answer within {after:?} (the per-call timeout)"
                )
            }
            Self::Connection { message } => write!(f, "Redis is unreachable: {message}"),
            Self::Server { message } => write!(f, "Redis answered with an error: {message}"),
        }
    }
}

impl std::error::Error for StoreFailure {}

/// Why a check of a Redis-backed limiter refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisLimitError {
    /// Over the quota for now; retry later.
    RateLimited(RateLimited),
    /// Never: more than the burst was asked for at once.
    ExceedsLimit(ExceedsLimit),
    /// Redis could not answer and the policy is
    /// [`FailClosed`](crate::FailurePolicy::FailClosed).
    Unavailable(StoreFailure),
}

impl RedisLimitError {
    /// The wait after which the request would pass, if the limit said so: `None` when it
    /// never can, or when the store could not answer.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(r) => Some(r.retry_after),
            Self::ExceedsLimit(_) | Self::Unavailable(_) => None,
        }
    }
}

impl fmt::Display for RedisLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RateLimited(e) => e.fmt(f),
            Self::ExceedsLimit(e) => e.fmt(f),
            Self::Unavailable(e) => write!(f, "refused because the policy is FailClosed: {e}"),
        }
    }
}

impl std::error::Error for RedisLimitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unavailable(e) => Some(e),
            _ => None,
        }
    }
}

/// A store or limiter could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupError {
    /// The connection URL did not parse.
    InvalidUrl {
        /// The client's description of the problem.
        message: String,
    },
    /// The first connection failed (use
    /// [`RedisStoreBuilder::connect_lazy`](crate::RedisStoreBuilder::connect_lazy) to start
    /// while Redis is down).
    Unreachable(StoreFailure),
    /// The quota's full refill (burst × interval) is longer than the server script counts
    /// exactly (2^53 ns, about 104 days).
    QuotaTooLong {
        /// The quota's full refill.
        refill: Duration,
    },
    /// A zero timeout or lease size, which could never be satisfied.
    Zero {
        /// Which setting.
        setting: &'static str,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl { message } => write!(f, "invalid Redis URL: {message}"),
            Self::Unreachable(e) => write!(f, "cannot connect: {e}"),
            Self::QuotaTooLong { refill } => write!(
                f,
                "the quota refills its burst in {refill:?}, longer than the Redis store's \
                 limit of about 104 days: lower the burst or raise the rate"
            ),
            Self::Zero { setting } => write!(f, "{setting} must be greater than zero"),
        }
    }
}

impl std::error::Error for SetupError {}
