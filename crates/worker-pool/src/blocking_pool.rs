//! `BlockingPool`: dedicated OS threads running closures from a bounded queue.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::admission::{Permit, Refusal};
use crate::config::{PoolBuilder, Queued, Shared};
use crate::error::{BuildError, PoolClosed, SubmitTimeoutError, TrySubmitError};
use crate::job::{JobCell, JobError, JobHandle, Outcome, panic_message};
use crate::park::Parker;
use crate::stamp::Clock;
use crate::stats::{Metrics, PoolReport};

/// A closure and its result cell in one allocation, seen by the worker through this trait.
trait RunBlocking: Send + Sync {
    fn run(&self) -> Outcome;
    /// `run` when nothing else refers to the job (its handle is gone): no handle can read the
    /// value or abort the job, so the value is dropped at once, with no locking or waking.
    fn run_alone(&mut self) -> Outcome;
    fn cancel_if_pending(&self);
}

impl<T, F> RunBlocking for JobCell<T, F>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    fn run(&self) -> Outcome {
        if !self.begin() {
            return Outcome::Cancelled;
        }
        let Some(closure) = self.take_payload() else {
            return Outcome::Cancelled;
        };
        match catch_unwind(AssertUnwindSafe(closure)) {
            Ok(value) => {
                self.resolve(Ok(value));
                Outcome::Completed
            }
            Err(payload) => {
                self.resolve(Err(JobError::Panicked(panic_message(&*payload))));
                Outcome::Panicked
            }
        }
    }

    fn run_alone(&mut self) -> Outcome {
        let Some(closure) = self.payload_mut().take() else {
            // Taken by an abort, which resolved the handle before it went away.
            return Outcome::Cancelled;
        };
        match catch_unwind(AssertUnwindSafe(closure)) {
            // The value's destructor is user code too.
            Ok(value) => match catch_unwind(AssertUnwindSafe(move || drop(value))) {
                Ok(()) => Outcome::Completed,
                Err(_) => Outcome::Panicked,
            },
            Err(_) => Outcome::Panicked,
        }
    }

    fn cancel_if_pending(&self) {
        JobCell::cancel_if_pending(self);
    }
}

/// A queued closure; dropping it unrun resolves its handle as cancelled.
struct BlockingJob {
    cell: Arc<dyn RunBlocking>,
    /// A worker ran it: its handle is resolved (or gone).
    ran: bool,
}

impl BlockingJob {
    fn run(&mut self) -> Outcome {
        self.ran = true;
        // Handles are never cloned, so a job nothing else refers to has no handle left.
        match Arc::get_mut(&mut self.cell) {
            Some(alone) => alone.run_alone(),
            None => self.cell.run(),
        }
    }
}

impl Drop for BlockingJob {
    fn drop(&mut self) {
        if !self.ran {
            self.cell.cancel_if_pending();
        }
    }
}

type BlockingShared = Shared<BlockingJob>;

/// Closes intake when the last [`BlockingPool`] clone is dropped.
struct Owner(Arc<BlockingShared>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.core.close();
    }
}

/// A bounded pool of dedicated threads for CPU-bound or blocking closures.
///
/// Same contract as [`WorkerPool`](crate::WorkerPool), for closures instead of futures:
/// - at most `workers` closures run at once, each on its own long-lived thread;
/// - at most `queue_capacity` wait; [`execute`](Self::execute) blocks the calling thread for
///   a slot, [`execute_async`](Self::execute_async) waits asynchronously,
///   [`try_execute`](Self::try_execute) hands the closure back when full,
///   [`execute_timeout`](Self::execute_timeout) waits at most a given time;
/// - jobs start in admission order;
/// - a panicking closure resolves its handle to [`JobError::Panicked`] and its thread keeps
///   serving (unlike `rayon::spawn`, which aborts the process);
/// - each job costs one allocation (closure and result cell together);
/// - idle threads sleep (no spinning) and are woken one at a time, only when a job arrives and
///   no other worker is awake to take it.
///
/// Handles work from both worlds: `.await` them or call [`JobHandle::wait`]. No runtime is
/// needed, except for [`shutdown_async`](Self::shutdown_async) (tokio's time driver).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tidewater_worker_pool::BlockingPool;
///
/// let pool = BlockingPool::builder().workers(2).queue_capacity(16).build().unwrap();
/// let handle = pool.execute(|| (1..=10u64).product::<u64>()).unwrap();
/// assert_eq!(handle.wait(), Ok(3_628_800));
///
/// let report = pool.shutdown(Duration::from_secs(1));
/// assert_eq!(report.completed, 1);
/// ```
#[derive(Clone)]
pub struct BlockingPool {
    owner: Arc<Owner>,
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared().fmt(f)
    }
}

/// Builds a [`BlockingPool`]; from [`BlockingPool::builder`]. The common settings are on
/// [`PoolBuilder`].
pub type BlockingPoolBuilder = PoolBuilder<BlockingOptions>;

/// The settings only a [`BlockingPool`] has; set them through [`BlockingPoolBuilder`].
#[derive(Debug, Clone, Default)]
pub struct BlockingOptions {
    stack_size: Option<usize>,
}

impl BlockingPoolBuilder {
    /// Stack size of each worker thread in bytes (default: the platform's).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.options.stack_size = Some(bytes);
        self
    }

    /// Starts the threads.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`], [`BuildError::ZeroQueueCapacity`], or
    /// [`BuildError::SpawnThread`] if the OS refuses a thread (the threads already started
    /// are shut down).
    pub fn build(self) -> Result<BlockingPool, BuildError> {
        self.config.validate()?;
        let shared = Arc::new(Shared::new(&self.config));
        for id in 0..self.config.workers {
            let mut builder = thread::Builder::new().name(format!("{}-{id}", self.config.name));
            if let Some(bytes) = self.options.stack_size {
                builder = builder.stack_size(bytes);
            }
            let for_thread = shared.clone();
            if let Err(error) = builder.spawn(move || worker(&for_thread, id)) {
                shared.core.close();
                // Threads that never started still count as exited, so the drain completes.
                for _ in id..self.config.workers {
                    shared.core.worker_exited();
                }
                return Err(BuildError::SpawnThread(error));
            }
        }
        Ok(BlockingPool {
            owner: Arc::new(Owner(shared)),
        })
    }
}

impl BlockingPool {
    /// A builder with the defaults: one thread per CPU, 1024 queue slots.
    pub fn builder() -> BlockingPoolBuilder {
        PoolBuilder::with("blocking-pool", BlockingOptions::default())
    }

    fn shared(&self) -> &BlockingShared {
        &self.owner.0
    }

    fn push<F, T>(&self, permit: Permit<'_, Queued<BlockingJob>>, job: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let cell = Arc::new(JobCell::new(Some(job)));
        let handle = JobHandle::new(cell.clone());
        self.shared().stats.accepted();
        let at = self.shared().stats.clock().stamp();
        permit.push_at(
            Queued {
                job: BlockingJob { cell, ran: false },
                at,
            },
            at,
        );
        handle
    }

    /// Queues `job`, blocking the calling thread while the queue is full. From async code use
    /// [`execute_async`](Self::execute_async).
    ///
    /// # Errors
    /// [`PoolClosed`] once the pool is shut down (the closure is dropped; use
    /// [`try_execute`](Self::try_execute) to get it back).
    pub fn execute<F, T>(&self, job: F) -> Result<JobHandle<T>, PoolClosed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let reserved = match shared.core.try_reserve() {
            Err(Refusal::Full) => match shared
                .core
                .reserve_soon(|round| submit_backoff(round, None))
            {
                Some(reserved) => reserved,
                None => Parker::new().block_on(shared.core.reserve()),
            },
            other => other,
        };
        match reserved {
            Ok(permit) => Ok(self.push(permit, job)),
            Err(_) => {
                shared.stats.rejected();
                Err(PoolClosed)
            }
        }
    }

    /// Queues `job`, waiting asynchronously while the queue is full.
    ///
    /// Cancel safe: if the future is dropped before it resolves, the closure was not queued.
    ///
    /// # Errors
    /// [`PoolClosed`] once the pool is shut down.
    pub async fn execute_async<F, T>(&self, job: F) -> Result<JobHandle<T>, PoolClosed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        match shared.core.reserve().await {
            Ok(permit) => Ok(self.push(permit, job)),
            Err(_) => {
                shared.stats.rejected();
                Err(PoolClosed)
            }
        }
    }

    /// Queues `job` if a slot is free right now.
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], each holding the closure.
    pub fn try_execute<F, T>(&self, job: F) -> Result<JobHandle<T>, TrySubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        match shared.core.try_reserve() {
            Ok(permit) => Ok(self.push(permit, job)),
            Err(refusal) => {
                shared.stats.rejected();
                Err(match refusal {
                    Refusal::Full => TrySubmitError::Full(job),
                    Refusal::Closed => TrySubmitError::Closed(job),
                })
            }
        }
    }

    /// Queues `job`, blocking the calling thread at most `timeout` for a slot (zero: no wait;
    /// [`Duration::MAX`]: no limit).
    ///
    /// # Errors
    /// [`SubmitTimeoutError::Timeout`] or [`SubmitTimeoutError::Closed`], each holding the
    /// closure.
    pub fn execute_timeout<F, T>(
        &self,
        job: F,
        timeout: Duration,
    ) -> Result<JobHandle<T>, SubmitTimeoutError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = self.shared();
        let reserved = match shared.core.try_reserve() {
            Err(Refusal::Full) => {
                let deadline = Instant::now().checked_add(timeout);
                let backoff = |round| submit_backoff(round, deadline);
                shared
                    .core
                    .reserve_soon(backoff)
                    .or_else(|| Parker::new().block_on_until(shared.core.reserve(), deadline))
            }
            other => Some(other),
        };
        let refusal = match reserved {
            Some(Ok(permit)) => return Ok(self.push(permit, job)),
            Some(Err(_)) => SubmitTimeoutError::Closed(job),
            None => SubmitTimeoutError::Timeout(job),
        };
        shared.stats.rejected();
        Err(refusal)
    }

    /// Counters and gauges right now.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        self.shared().metrics()
    }

    /// Whether intake is closed.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.shared().core.is_closed()
    }

    /// Stops intake and blocks until queued and running closures finish, for at most `grace`.
    /// Then closures still queued are cancelled (their handles resolve to
    /// [`JobError::Cancelled`]) and closures still running are reported as `abandoned`: a
    /// thread cannot be interrupted, so they run on and their handles resolve when they end.
    /// A submitter handed a freed slot but not yet back to use it at the deadline is refused,
    /// so no submit succeeds after the report without being in it.
    ///
    /// From async code use [`shutdown_async`](Self::shutdown_async).
    #[must_use = "the report says what was cancelled or abandoned"]
    pub fn shutdown(&self, grace: Duration) -> PoolReport {
        let shared = self.shared();
        shared.core.close();
        let deadline = Instant::now().checked_add(grace);
        let in_time = Parker::new()
            .block_on_until(shared.core.drained(), deadline)
            .is_some();
        self.finish_shutdown(in_time)
    }

    /// [`shutdown`](Self::shutdown) for async callers: waits without blocking the executor
    /// thread. Needs a tokio runtime with the time driver.
    ///
    /// Cancel safe: dropping the future leaves intake closed and the drain going.
    pub async fn shutdown_async(&self, grace: Duration) -> PoolReport {
        let shared = self.shared();
        shared.core.close();
        let in_time = tokio::time::timeout(grace, shared.core.drained())
            .await
            .is_ok();
        self.finish_shutdown(in_time)
    }

    /// Waits for `token` to be cancelled, then runs [`shutdown_async(grace)`](Self::shutdown_async).
    pub async fn shutdown_on(&self, token: CancellationToken, grace: Duration) -> PoolReport {
        token.cancelled().await;
        self.shutdown_async(grace).await
    }

    fn finish_shutdown(&self, in_time: bool) -> PoolReport {
        let shared = self.shared();
        if !in_time {
            // Takes back slots granted to submitters that have not claimed them; the slots
            // still reserved then belong to submits queueing their job right now, without
            // waiting. Cancel until those are in too, so the report counts every job whose
            // submit succeeds (otherwise one whose slot was reserved before the close could
            // be accepted after the report, in none of its counts).
            shared.core.abort();
            loop {
                shared.cancel_queued();
                if shared.core.is_finished() {
                    break;
                }
                thread::yield_now();
            }
        }
        shared.stats.report(in_time)
    }
}

/// Backing off between tries for a slot before a sync submitter parks on a full queue
/// ([`Core::reserve_soon`](crate::admission::Core::reserve_soon)): spins of 1, 2, 4 .. 64 pauses, then a few yields of the CPU, a
/// few microseconds in all (about what a park and a wake-up cost). Without it, a steady
/// stream into a full queue settles into one park and one wake-up per job. `false` once the
/// rounds are used up or `deadline` passed.
fn submit_backoff(round: u32, deadline: Option<Instant>) -> bool {
    const SPINS: u32 = 7;
    const ROUNDS: u32 = 11;
    if round >= ROUNDS || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        return false;
    }
    if round < SPINS {
        for _ in 0..1u32 << round {
            std::hint::spin_loop();
        }
    } else {
        thread::yield_now();
    }
    true
}

/// Calls `worker_exited` however the thread ends.
struct ExitGuard<'a>(&'a BlockingShared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.0.core.worker_exited();
    }
}

/// How long an idle worker keeps polling the queue before it sleeps: short exponential spins,
/// then yields of the CPU. It must comfortably exceed the gap between two submits that each
/// pay for waking a sleeping worker; otherwise a steady stream can settle into "every job
/// wakes a worker", several times slower. One worker searches at a time, and only when the
/// pool runs dry, so an idle pool costs one such window per burst, never a spinning thread.
const SEARCH_WINDOW: Duration = Duration::from_micros(25);
const SEARCH_SPINS: u32 = 7;

fn search(shared: &BlockingShared) -> Option<Queued<BlockingJob>> {
    let core = &shared.core;
    let clock = shared.stats.clock();
    let started = clock.stamp();
    let searching = core.search(started)?;
    let window = clock.ticks(SEARCH_WINDOW);
    let mut round = 0;
    loop {
        if round < SEARCH_SPINS {
            for _ in 0..1u32 << round {
                std::hint::spin_loop();
            }
            round += 1;
        } else {
            thread::yield_now();
        }
        if let Some(queued) = core.try_pop() {
            return Some(searching.found(queued));
        }
        // Not polling `is_finished` here: the admission word is the submitters' hottest line.
        // A closed pool is noticed by `next_job` once the window ends.
        if Clock::between(started, clock.stamp()) >= window {
            return None;
        }
    }
}

fn worker(shared: &BlockingShared, id: usize) {
    let _exit = ExitGuard(shared);
    let parker = Parker::new();
    let core = &shared.core;
    loop {
        let queued = match core.try_pop().or_else(|| search(shared)) {
            Some(queued) => queued,
            None => match parker.block_on(core.next_job(id)) {
                Some(queued) => queued,
                None => break,
            },
        };
        shared.stats.started(id, queued.at);
        let mut job = queued.job;
        let outcome = if core.is_aborting() {
            Outcome::Cancelled
        } else {
            job.run()
        };
        // Dropping runs the closure's leftovers' destructors (a cancelled closure's captures).
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(job)));
        let outcome = match dropped {
            Ok(()) => outcome,
            Err(_) => Outcome::Panicked,
        };
        shared.stats.finished(id, outcome);
    }
}
