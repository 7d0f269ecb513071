//! Errors: every refusal says why and, where a job was refused, hands it back.

use std::fmt;

/// A pool could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `workers(0)`: a pool needs at least one worker.
    ZeroWorkers,
    /// `queue_capacity(0)`: the queue needs at least one slot.
    ZeroQueueCapacity,
    /// `workers(n)` with `n` above [`MAX_WORKERS`](crate::MAX_WORKERS).
    TooManyWorkers {
        /// The count asked for.
        workers: usize,
    },
    /// `queue_capacity(n)` with `n` above [`MAX_QUEUE_CAPACITY`](crate::MAX_QUEUE_CAPACITY):
    /// the slots are allocated up front.
    QueueCapacityTooLarge {
        /// The capacity asked for.
        capacity: usize,
    },
    /// An async pool was built outside a tokio runtime and without `.runtime(handle)`.
    NoRuntime,
    /// The operating system refused to start a worker thread.
    SpawnThread(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWorkers => {
                f.write_str("a pool needs at least one worker; pass workers(n) with n >= 1")
            }
            Self::ZeroQueueCapacity => {
                f.write_str("the queue needs at least one slot; pass queue_capacity(n) with n >= 1")
            }
            Self::TooManyWorkers { workers } => write!(
                f,
                "{workers} workers is more than the {} a pool accepts; size the pool to the \
                 jobs that may run at once",
                crate::MAX_WORKERS
            ),
            Self::QueueCapacityTooLarge { capacity } => write!(
                f,
                "a queue of {capacity} slots is more than the {} a pool accepts (slots are \
                 allocated up front); bound the backlog lower and let submit wait",
                crate::MAX_QUEUE_CAPACITY
            ),
            Self::NoRuntime => f.write_str(
                "no tokio runtime: build the async pool inside a runtime or pass .runtime(handle)",
            ),
            Self::SpawnThread(error) => write!(f, "could not start a worker thread: {error}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::SpawnThread(error) => Some(error),
            _ => None,
        }
    }
}

/// The pool was shut down (or its drain token fired): it accepts no new jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolClosed;

impl fmt::Display for PoolClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the pool is shut down and accepts no new jobs")
    }
}

impl std::error::Error for PoolClosed {}

/// A job refused by `try_submit` / `try_execute`, handed back to the caller.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySubmitError<J> {
    /// Every queue slot is taken; retry later, wait with `submit`, or shed the job.
    Full(J),
    /// The pool is shut down.
    Closed(J),
}

impl<J> TrySubmitError<J> {
    /// The job that was refused.
    pub fn into_inner(self) -> J {
        match self {
            Self::Full(job) | Self::Closed(job) => job,
        }
    }

    /// Whether the refusal was because the queue was full (as opposed to closed).
    #[must_use]
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<J> fmt::Debug for TrySubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<J> fmt::Display for TrySubmitError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str(
                "the pool's queue is full; the job was handed back (retry, wait with submit, or shed it)",
            ),
            Self::Closed(_) => {
                f.write_str("the pool is shut down; the job was handed back")
            }
        }
    }
}

impl<J> std::error::Error for TrySubmitError<J> {}

/// A job refused by `submit_timeout` / `execute_timeout`, handed back to the caller.
#[derive(Clone, PartialEq, Eq)]
pub enum SubmitTimeoutError<J> {
    /// No queue slot freed up within the timeout.
    Timeout(J),
    /// The pool is shut down.
    Closed(J),
}

impl<J> SubmitTimeoutError<J> {
    /// The job that was refused.
    pub fn into_inner(self) -> J {
        match self {
            Self::Timeout(job) | Self::Closed(job) => job,
        }
    }
}

impl<J> fmt::Debug for SubmitTimeoutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<J> fmt::Display for SubmitTimeoutError<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => {
                f.write_str("no queue slot freed up within the timeout; the job was handed back")
            }
            Self::Closed(_) => f.write_str("the pool is shut down; the job was handed back"),
        }
    }
}

impl<J> std::error::Error for SubmitTimeoutError<J> {}
