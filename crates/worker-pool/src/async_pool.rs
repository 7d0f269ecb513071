//! `WorkerPool`: a fixed set of long-lived tokio tasks running async jobs from a bounded queue.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::admission::{Core, Permit, Refusal, Search};
use crate::config::{PoolBuilder, Queued, Shared};
use crate::error::{BuildError, PoolClosed, SubmitTimeoutError, TrySubmitError};
use crate::job::{JobHandle, Outcome};
use crate::stamp::Clock;
use crate::stats::{Metrics, PoolReport};
use crate::sync::{Mutex, lock};
use crate::task::{AsyncJob, AsyncTask};

/// A worker running jobs that finish without waiting yields to the runtime once this long has
/// passed since it last did, so other tasks on its thread are not starved. Time rather than a
/// job count: each yield lets the runtime wake an idle thread to steal the worker, and on a
/// busy machine that can split a stream one worker keeps up with over two threads contending
/// for the queue; every 100 µs costs little and bounds how long a worker holds its thread.
const YIELD_AFTER: Duration = Duration::from_micros(100);

struct Inner {
    shared: Shared<AsyncJob>,
    /// Per worker: its waker while a job it runs is pending, so the deadline can reach it.
    running: Box<[Mutex<Option<Waker>>]>,
}

/// Closes intake when the last [`WorkerPool`] clone is dropped.
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.shared.core.close();
    }
}

/// A bounded pool of async workers: `workers` long-lived tokio tasks pulling jobs from a queue
/// of `queue_capacity` slots.
///
/// - **Concurrency**: at most `workers` jobs run at once; each worker runs one job to the end
///   before taking the next.
/// - **Backpressure**: at most `queue_capacity` jobs wait. [`submit`](Self::submit) waits for a
///   slot (waiting submitters get freed slots in FIFO order),
///   [`try_submit`](Self::try_submit) hands the job back when full,
///   [`submit_timeout`](Self::submit_timeout) waits at most a given time.
/// - **Order**: jobs start in the order they were admitted (FIFO queue).
/// - **Wake-ups**: a worker running a streak of jobs that finish without waiting keeps the
///   others asleep while it keeps up. They are woken once its job waits on something, after
///   it ran one for over 100 µs with more queued, when it starts one that waited over 100 µs
///   in the queue (it is not keeping up), or by a submit more than 100 µs after it last
///   started a job. So a job that *awaits* a later job is fine, but one that blocks its
///   thread for it (async jobs should not block; use [`BlockingPool`](crate::BlockingPool))
///   may wait until the next submit. See the guide's "Performance design".
/// - **Panics**: a panicking job resolves its handle to [`JobError::Panicked`](crate::JobError::Panicked); the worker
///   carries on, so the pool keeps its size.
/// - **Memory**: the queue is allocated once; each job costs one allocation (its future and
///   its result cell together).
/// - **Shutdown**: [`shutdown`](Self::shutdown) drains within a grace period, cancels the rest
///   and returns a [`PoolReport`] accounting for every accepted job. Dropping the last clone
///   closes intake; queued jobs still run.
///
/// Cloning is cheap and gives another handle to the same pool. The pool needs a tokio runtime
/// with the time driver enabled (for timeouts and the shutdown deadline).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use tidewater_worker_pool::WorkerPool;
///
/// let pool = WorkerPool::builder().workers(4).queue_capacity(64).name("fetch").build().unwrap();
/// let mut handles = Vec::new();
/// for i in 0..10u64 {
///     handles.push(pool.submit(async move { i * i }).await.unwrap());
/// }
/// let mut sum = 0;
/// for handle in handles {
///     sum += handle.await.unwrap();
/// }
/// assert_eq!(sum, 285);
///
/// let report = pool.shutdown(Duration::from_secs(1)).await;
/// assert_eq!(report.completed, 10);
/// # }
/// ```
#[derive(Clone)]
pub struct WorkerPool {
    owner: Arc<Owner>,
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner().shared.fmt(f)
    }
}

/// Builds a [`WorkerPool`]; from [`WorkerPool::builder`]. The common settings are on
/// [`PoolBuilder`].
pub type WorkerPoolBuilder = PoolBuilder<AsyncOptions>;

/// The settings only a [`WorkerPool`] has; set them through [`WorkerPoolBuilder`].
#[derive(Debug, Clone, Default)]
pub struct AsyncOptions {
    runtime: Option<Handle>,
    drain_on: Option<CancellationToken>,
}

impl WorkerPoolBuilder {
    /// The runtime the workers run on (default: the runtime `build` is called in).
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.options.runtime = Some(handle);
        self
    }

    /// Starts a drain when `token` is cancelled: intake closes (later submits get
    /// [`PoolClosed`]) and queued jobs still run. Call [`WorkerPool::shutdown`] to bound the
    /// drain with a deadline and get the report.
    pub fn drain_on(mut self, token: CancellationToken) -> Self {
        self.options.drain_on = Some(token);
        self
    }

    /// Starts the workers.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`], [`BuildError::ZeroQueueCapacity`], or
    /// [`BuildError::NoRuntime`] when called outside a tokio runtime without
    /// [`runtime`](Self::runtime).
    pub fn build(self) -> Result<WorkerPool, BuildError> {
        self.config.validate()?;
        let runtime = match self.options.runtime {
            Some(handle) => handle,
            None => Handle::try_current().map_err(|_| BuildError::NoRuntime)?,
        };
        let inner = Arc::new(Inner {
            shared: Shared::new(&self.config),
            running: (0..self.config.workers).map(|_| Mutex::new(None)).collect(),
        });
        for id in 0..self.config.workers {
            runtime.spawn(worker(inner.clone(), id));
        }
        if let Some(token) = self.options.drain_on {
            let weak = Arc::downgrade(&inner);
            runtime.spawn(async move {
                token.cancelled().await;
                if let Some(inner) = weak.upgrade() {
                    inner.shared.core.close();
                }
            });
        }
        Ok(WorkerPool {
            owner: Arc::new(Owner(inner)),
        })
    }
}

impl WorkerPool {
    /// A builder with the defaults: one worker per CPU, 1024 queue slots.
    pub fn builder() -> WorkerPoolBuilder {
        PoolBuilder::with("worker-pool", AsyncOptions::default())
    }

    fn inner(&self) -> &Inner {
        &self.owner.0
    }

    /// Queues `job`, waiting while the queue is full.
    ///
    /// Cancel safe: if the returned future is dropped before it resolves, the job was not
    /// queued (it is dropped) and no slot is held.
    ///
    /// # Errors
    /// [`PoolClosed`] once the pool is shut down (the job is dropped; use
    /// [`try_submit`](Self::try_submit) to get it back).
    pub async fn submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, PoolClosed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner().shared;
        match shared.core.reserve().await {
            Ok(permit) => Ok(enqueue(shared, permit, job)),
            Err(_) => {
                shared.stats.rejected();
                Err(PoolClosed)
            }
        }
    }

    /// Queues `job` if a slot is free right now.
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] or [`TrySubmitError::Closed`], each holding the job.
    pub fn try_submit<F>(&self, job: F) -> Result<JobHandle<F::Output>, TrySubmitError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner().shared;
        match shared.core.try_reserve() {
            Ok(permit) => Ok(enqueue(shared, permit, job)),
            Err(refusal) => {
                shared.stats.rejected();
                Err(match refusal {
                    Refusal::Full => TrySubmitError::Full(job),
                    Refusal::Closed => TrySubmitError::Closed(job),
                })
            }
        }
    }

    /// Queues `job`, waiting at most `timeout` for a slot (zero: no wait; [`Duration::MAX`]:
    /// no limit).
    ///
    /// Cancel safe, like [`submit`](Self::submit).
    ///
    /// # Errors
    /// [`SubmitTimeoutError::Timeout`] or [`SubmitTimeoutError::Closed`], each holding the job.
    pub async fn submit_timeout<F>(
        &self,
        job: F,
        timeout: Duration,
    ) -> Result<JobHandle<F::Output>, SubmitTimeoutError<F>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.inner().shared;
        let refusal = match tokio::time::timeout(timeout, shared.core.reserve()).await {
            Ok(Ok(permit)) => return Ok(enqueue(shared, permit, job)),
            Ok(Err(_)) => SubmitTimeoutError::Closed(job),
            Err(_) => SubmitTimeoutError::Timeout(job),
        };
        shared.stats.rejected();
        Err(refusal)
    }

    /// Counters and gauges right now.
    #[must_use]
    pub fn metrics(&self) -> Metrics {
        self.inner().shared.metrics()
    }

    /// Whether intake is closed (shut down, drain token fired).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.inner().shared.core.is_closed()
    }

    /// Stops intake, lets queued and running jobs finish within `grace`, then cancels the rest
    /// and waits for the workers to let go of them. Every handle resolves; the report accounts
    /// for every accepted job.
    ///
    /// Calling it again (or from clones) returns an up-to-date report. Cancel safe: dropping
    /// the future leaves intake closed and the drain going.
    pub async fn shutdown(&self, grace: Duration) -> PoolReport {
        let inner = self.inner();
        let core = &inner.shared.core;
        core.close();
        let in_time = tokio::time::timeout(grace, core.drained()).await.is_ok();
        if !in_time {
            core.abort();
            for slot in &*inner.running {
                let waker = lock(slot).take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            inner.shared.cancel_queued();
            core.drained().await;
        }
        inner.shared.stats.report(in_time)
    }

    /// Waits for `token` to be cancelled, then runs [`shutdown(grace)`](Self::shutdown).
    pub async fn shutdown_on(&self, token: CancellationToken, grace: Duration) -> PoolReport {
        token.cancelled().await;
        self.shutdown(grace).await
    }
}

/// Packages `job` into the reserved slot and returns its handle.
fn enqueue<F>(
    shared: &Shared<AsyncJob>,
    permit: Permit<'_, Queued<AsyncJob>>,
    job: F,
) -> JobHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = Arc::new(AsyncTask::new(job));
    let handle = JobHandle::new(task.clone());
    shared.stats.accepted();
    let at = shared.stats.clock().stamp();
    permit.push_at(
        Queued {
            job: AsyncJob::new(task),
            at,
        },
        at,
    );
    handle
}

/// Calls `worker_exited` however the worker task ends (including the runtime dropping it).
struct ExitGuard(Arc<Inner>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.0.shared.core.worker_exited();
    }
}

async fn worker(inner: Arc<Inner>, id: usize) {
    let guard = ExitGuard(inner);
    let inner = &*guard.0;
    let core = &inner.shared.core;
    let clock = inner.shared.stats.clock();
    let limit = core.check_in_limit();
    let yield_after = clock.ticks(YIELD_AFTER);
    // The search token, kept from a search through the streak of jobs that follows as long as
    // each finishes quickly: meanwhile submits leave the sleeping workers alone. Waking one
    // for a stream this worker keeps up with would only add a thread contending for the queue.
    let mut token = None;
    let mut checked_in = 0;
    // When the job this worker just ran started, if it came straight back to the queue.
    let mut last_start = None;
    let mut yielded = clock.stamp();
    loop {
        let queued = match core.try_pop() {
            Some(queued) => queued,
            None => {
                last_start = None;
                if token.is_none() {
                    checked_in = clock.stamp();
                    token = core.search(checked_in);
                }
                let found = match token {
                    Some(_) => search(&inner.shared).await,
                    None => None,
                };
                match found {
                    Some(queued) => queued,
                    None => {
                        // Give the token up before sleeping (no hand-off: `next_job` passes
                        // the wake-up on if it finds a job at once).
                        drop(token.take());
                        match core.next_job(id).await {
                            Some(queued) => queued,
                            None => break,
                        }
                    }
                }
            }
        };
        let now = inner.shared.stats.started(id, queued.at);
        if last_start.is_some_and(|start| Clock::between(start, now) > limit)
            || (token.is_some() && Clock::between(queued.at, now) > limit)
        {
            // The last job ran long while more were queued, or this one waited longer than
            // the check-in limit behind the streak (this worker is not keeping up, and the
            // submits that queued the backlog skipped the wake-up because of its token): they
            // should not wait for this worker alone.
            stop_streak(core, &mut token);
        } else if let Some(held) = &token
            && Clock::between(checked_in, now) > limit / 4
        {
            held.check_in(now);
            checked_in = now;
        }
        last_start = Some(now);
        let mut run = RunJob {
            inner,
            id,
            job: Some(queued.job),
        };
        let mut waited = false;
        let outcome = std::future::poll_fn(|cx| {
            let poll = Pin::new(&mut run).poll(cx);
            if poll.is_pending() && !std::mem::replace(&mut waited, true) {
                // The job waits on something: this worker will not be back soon.
                stop_streak(core, &mut token);
            }
            poll
        })
        .await;
        inner.shared.stats.finished(id, outcome);
        if waited {
            last_start = None;
        }
        if Clock::between(yielded, now) >= yield_after {
            yielded = now;
            tokio::task::yield_now().await;
        }
    }
}

/// The worker will not be back at the queue soon: submits must wake sleeping workers again,
/// and the jobs already queued get some now.
fn stop_streak(core: &Core<Queued<AsyncJob>>, token: &mut Option<Search<'_, Queued<AsyncJob>>>) {
    match token.take() {
        Some(held) => held.hand_off(),
        None => core.spread(),
    }
}

/// How long an idle worker keeps re-polling the queue (yielding to the runtime in between)
/// before it sleeps. It must comfortably exceed the gap between two submits that each pay for
/// waking a sleeping worker (a few microseconds); otherwise a steady stream can settle into
/// "every job wakes a worker", several times slower. One worker searches at a time, and only
/// when the pool runs dry, so an idle pool costs one such window per burst.
const SEARCH_WINDOW: Duration = Duration::from_micros(25);

/// Re-polls the queue for up to [`SEARCH_WINDOW`], yielding to the runtime in between. The
/// caller holds the search token.
async fn search(shared: &Shared<AsyncJob>) -> Option<Queued<AsyncJob>> {
    let core = &shared.core;
    let clock = shared.stats.clock();
    let window = clock.ticks(SEARCH_WINDOW);
    let started = clock.stamp();
    loop {
        tokio::task::yield_now().await;
        if let Some(queued) = core.try_pop() {
            return Some(queued);
        }
        // Not polling `is_finished` here: the admission word is the submitters' hottest line.
        // A closed pool is noticed by `next_job` once the window ends.
        if Clock::between(started, clock.stamp()) >= window {
            return None;
        }
    }
}

/// Polls one job inside the worker task, watching the shutdown deadline.
struct RunJob<'a> {
    inner: &'a Inner,
    id: usize,
    job: Option<AsyncJob>,
}

impl RunJob<'_> {
    fn cancel(&mut self) -> Poll<Outcome> {
        if let Some(job) = self.job.take() {
            // Dropping runs the job's destructors; a panic there must not kill the worker.
            let _ = catch_unwind(AssertUnwindSafe(move || job.cancel()));
        }
        Poll::Ready(Outcome::Cancelled)
    }
}

impl Future for RunJob<'_> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let core = &self.inner.shared.core;
        if core.is_aborting() {
            return self.cancel();
        }
        let Some(job) = self.job.as_mut() else {
            return Poll::Ready(Outcome::Cancelled);
        };
        // The task catches the job's own panics (polls and destructors); this catches one
        // in waking the job's handle.
        match catch_unwind(AssertUnwindSafe(|| job.poll_run(cx))) {
            Ok(Poll::Ready(outcome)) => {
                self.job = None;
                Poll::Ready(outcome)
            }
            Ok(Poll::Pending) => {
                if let Some(slot) = self.inner.running.get(self.id) {
                    let mut slot = lock(slot);
                    match &mut *slot {
                        Some(current) => current.clone_from(cx.waker()),
                        empty @ None => *empty = Some(cx.waker().clone()),
                    }
                }
                // `shutdown` sets the flag before taking the waker, so re-checking after
                // storing it cannot miss the deadline.
                if core.is_aborting() {
                    return self.cancel();
                }
                Poll::Pending
            }
            Err(_) => {
                let job = self.job.take();
                let _ = catch_unwind(AssertUnwindSafe(move || drop(job)));
                Poll::Ready(Outcome::Panicked)
            }
        }
    }
}
