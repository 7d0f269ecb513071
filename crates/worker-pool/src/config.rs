//! The settings both pools share, and the state every pool is built around.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::admission::Core;
use crate::error::BuildError;
use crate::stats::{Metrics, Stats};

/// Queue slots when the builder is not told otherwise.
pub(crate) const DEFAULT_QUEUE_CAPACITY: usize = 1024;

/// The largest queue `build` accepts. The queue's slots are allocated up front, so a
/// capacity near `usize::MAX` would abort the process on allocation instead of failing;
/// 2^24 slots (about 256 MiB of slots on 64-bit targets) is far beyond any useful backlog.
pub const MAX_QUEUE_CAPACITY: usize = 1 << 24;

/// The most workers `build` accepts: each blocking worker is an OS thread and each async
/// worker a long-lived task, so a count beyond this is a mistake, not a sizing choice.
pub const MAX_WORKERS: usize = 1 << 16;

/// How long a worker holding the search token may go without checking in (it does as it
/// starts a job, at most every quarter of this) before submits wake a sleeping worker in spite
/// of it: far longer than the quick jobs a streak is made of, short enough that a job queued
/// while the holder is stuck in a long poll waits little longer than a wake-up takes.
const CHECK_IN_LIMIT: Duration = Duration::from_micros(100);

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) name: String,
}

impl Config {
    pub(crate) fn new(default_name: &str) -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            name: default_name.to_owned(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        match (self.workers, self.queue_capacity) {
            (0, _) => Err(BuildError::ZeroWorkers),
            (_, 0) => Err(BuildError::ZeroQueueCapacity),
            (workers, _) if workers > MAX_WORKERS => Err(BuildError::TooManyWorkers { workers }),
            (_, capacity) if capacity > MAX_QUEUE_CAPACITY => {
                Err(BuildError::QueueCapacityTooLarge { capacity })
            }
            _ => Ok(()),
        }
    }
}

/// Builds a pool: [`WorkerPoolBuilder`](crate::WorkerPoolBuilder) from
/// [`WorkerPool::builder`](crate::WorkerPool::builder), or
/// [`BlockingPoolBuilder`](crate::BlockingPoolBuilder) from
/// [`BlockingPool::builder`](crate::BlockingPool::builder). The settings here are common to
/// both; `O` holds the ones only one kind of pool has.
#[derive(Debug, Clone)]
#[must_use = "call .build() to create the pool"]
pub struct PoolBuilder<O> {
    pub(crate) config: Config,
    pub(crate) options: O,
}

impl<O> PoolBuilder<O> {
    pub(crate) fn with(default_name: &str, options: O) -> Self {
        Self {
            config: Config::new(default_name),
            options,
        }
    }

    /// Number of workers, i.e. jobs running at once (default: the number of CPUs). Zero, or
    /// more than [`MAX_WORKERS`], is refused by `build` with a [`BuildError`].
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Queue slots: jobs admitted but not yet started (default 1024). Zero, or more than
    /// [`MAX_QUEUE_CAPACITY`], is refused by `build` with a [`BuildError`].
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// A name for diagnostics: `Debug` output, and the blocking pool's thread names
    /// `{name}-{index}` (default `"worker-pool"` / `"blocking-pool"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }
}

/// A job in the queue with the time it was admitted (for the queue-wait metric): a stamp of
/// the pool's clock, `stats.clock()`.
pub(crate) struct Queued<J> {
    pub(crate) job: J,
    pub(crate) at: u64,
}

/// What the pool handle and its workers share.
pub(crate) struct Shared<J> {
    pub(crate) core: Core<Queued<J>>,
    pub(crate) stats: Stats,
    pub(crate) name: String,
    pub(crate) workers: usize,
}

impl<J> fmt::Debug for Shared<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("workers", &self.workers)
            .field("queue_capacity", &self.core.capacity())
            .field("queued", &self.core.reserved())
            .field("closed", &self.core.is_closed())
            .finish()
    }
}

impl<J> Shared<J> {
    pub(crate) fn new(config: &Config) -> Self {
        let stats = Stats::new(config.workers);
        Self {
            core: Core::new(config.queue_capacity, config.workers)
                .with_check_in_limit(stats.clock().ticks(CHECK_IN_LIMIT)),
            stats,
            name: config.name.clone(),
            workers: config.workers,
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        self.stats
            .metrics(self.core.capacity(), self.core.reserved())
    }

    /// Cancels every job still queued (the shutdown deadline passed). Each dropped job resolves
    /// its handle as cancelled.
    pub(crate) fn cancel_queued(&self) {
        while let Some(queued) = self.core.try_pop() {
            // A job's drop runs user code; a panic there must not stop the drain.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(queued)));
            self.stats.cancelled_in_queue();
        }
    }
}
