//! Job cells and handles: where a job's result meets the caller.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::park::Parker;
use std::sync::Arc;

use crate::sync::{AtomicU8, Mutex, Ordering, lock};

const STARTED: u8 = 1;
const ABORTED: u8 = 2;
const DONE: u8 = 4;

/// Why a job produced no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// The job panicked; the message is the panic payload when it was a string.
    ///
    /// The worker that ran it survived and keeps serving the queue.
    Panicked(String),
    /// The job was aborted through its handle, or cancelled at the shutdown deadline, before
    /// it finished. Also returned when the handle is polled again after it already resolved.
    Cancelled,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(message) => write!(f, "the job panicked: {message}"),
            Self::Cancelled => f.write_str(
                "the job was cancelled (aborted through its handle or at the shutdown deadline) before it finished",
            ),
        }
    }
}

impl std::error::Error for JobError {}

/// How a job ended, as the worker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Panicked,
    Cancelled,
}

/// Turns a panic payload into the message users see.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// The state one job shares with its handle: flags, the result and two wakers.
///
/// `P` is the payload still to run (a blocking closure), or `()` for async jobs whose future
/// lives in the queue entry instead (it must stay pinned).
pub(crate) struct JobCell<T, P> {
    flags: AtomicU8,
    inner: Mutex<Inner<T, P>>,
}

/// A job's result as the cell keeps it: the panic message boxed (panics are rare), so the
/// cell, and with it the job's one allocation, stays small.
enum Ended<T> {
    Value(T),
    Panicked(Box<JobError>),
    Cancelled,
}

impl<T> From<Result<T, JobError>> for Ended<T> {
    fn from(result: Result<T, JobError>) -> Self {
        match result {
            Ok(value) => Self::Value(value),
            Err(JobError::Cancelled) => Self::Cancelled,
            Err(error) => Self::Panicked(Box::new(error)),
        }
    }
}

impl<T> From<Ended<T>> for Result<T, JobError> {
    fn from(ended: Ended<T>) -> Self {
        match ended {
            Ended::Value(value) => Ok(value),
            Ended::Panicked(error) => Err(*error),
            Ended::Cancelled => Err(JobError::Cancelled),
        }
    }
}

struct Inner<T, P> {
    payload: Option<P>,
    result: Option<Ended<T>>,
    /// The handle took the result.
    taken: bool,
    handle: Option<Waker>,
    /// The async worker running this job, to wake when the job is aborted mid-run.
    worker: Option<Waker>,
}

impl<T, P> JobCell<T, P> {
    pub(crate) fn new(payload: Option<P>) -> Self {
        Self {
            flags: AtomicU8::new(0),
            inner: Mutex::new(Inner {
                payload,
                result: None,
                taken: false,
                handle: None,
                worker: None,
            }),
        }
    }

    /// Marks the job started; `false` if it was aborted first (then it must not run).
    pub(crate) fn begin(&self) -> bool {
        self.flags.fetch_or(STARTED, Ordering::AcqRel) & ABORTED == 0
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.flags.load(Ordering::Acquire) & ABORTED != 0
    }

    pub(crate) fn take_payload(&self) -> Option<P> {
        lock(&self.inner).payload.take()
    }

    /// The payload, through exclusive access: no locking.
    pub(crate) fn payload_mut(&mut self) -> &mut Option<P> {
        match self.inner.get_mut() {
            Ok(inner) => &mut inner.payload,
            Err(poisoned) => &mut poisoned.into_inner().payload,
        }
    }

    /// Stores the result (the first one wins) and wakes the handle.
    pub(crate) fn resolve(&self, result: Result<T, JobError>) {
        let (waker, rejected) = {
            let mut inner = lock(&self.inner);
            if inner.result.is_some() || inner.taken {
                (None, Some(result))
            } else {
                inner.result = Some(result.into());
                self.flags.fetch_or(DONE, Ordering::Release);
                (inner.handle.take(), None)
            }
        };
        // A value that lost the race is dropped outside the lock: its drop runs user code.
        drop(rejected);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Resolves as cancelled unless a result is already in; drops a payload that never ran.
    pub(crate) fn cancel_if_pending(&self) {
        if self.flags.load(Ordering::Acquire) & DONE != 0 {
            return;
        }
        let payload = lock(&self.inner).payload.take();
        drop(payload);
        self.resolve(Err(JobError::Cancelled));
    }

    /// Remembers the async worker's waker so an abort can reach a job that is pending.
    pub(crate) fn set_worker_waker(&self, waker: &Waker) {
        let mut inner = lock(&self.inner);
        match &mut inner.worker {
            Some(current) => current.clone_from(waker),
            slot @ None => *slot = Some(waker.clone()),
        }
    }
}

/// What a [`JobHandle`] needs from a job cell, whatever its payload type.
pub(crate) trait Completion<T>: Send + Sync {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>>;
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

impl<T: Send, P: Send> Completion<T> for JobCell<T, P> {
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<T, JobError>> {
        let mut inner = lock(&self.inner);
        if let Some(result) = inner.result.take() {
            inner.taken = true;
            inner.handle = None;
            return Poll::Ready(result.into());
        }
        if inner.taken {
            return Poll::Ready(Err(JobError::Cancelled));
        }
        match &mut inner.handle {
            Some(current) => current.clone_from(cx.waker()),
            slot @ None => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn abort(&self) {
        let previous = self.flags.fetch_or(ABORTED, Ordering::AcqRel);
        if previous & DONE != 0 {
            return;
        }
        if previous & STARTED == 0 {
            // Never ran and never will: resolve now instead of when a worker pops it.
            self.cancel_if_pending();
            return;
        }
        let worker = lock(&self.inner).worker.take();
        if let Some(worker) = worker {
            worker.wake();
        }
    }

    fn is_finished(&self) -> bool {
        self.flags.load(Ordering::Acquire) & DONE != 0
    }
}

/// The result of one submitted job: a future of `Result<T, JobError>`.
///
/// - Await it from async code, or call [`wait`](Self::wait) /
///   [`wait_timeout`](Self::wait_timeout) from sync code.
/// - Dropping it (or calling [`detach`](Self::detach)) does **not** cancel the job: it still
///   runs and is counted; only its value is discarded.
/// - [`abort`](Self::abort) cancels it: a queued job never runs, a running async job is dropped
///   at its next poll. A blocking closure that already started cannot be interrupted; it runs
///   to the end and its value is delivered.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tidewater_worker_pool::{JobError, WorkerPool};
///
/// let pool = WorkerPool::builder().workers(2).build().unwrap();
/// let handle = pool.submit(async { 6 * 7 }).await.unwrap();
/// assert_eq!(handle.await, Ok(42));
///
/// let handle = pool.submit(async { panic!("boom") }).await.unwrap();
/// assert_eq!(handle.await, Err(JobError::Panicked("boom".into())));
/// # }
/// ```
#[must_use = "a handle does nothing unless awaited; call `detach()` to drop it on purpose"]
pub struct JobHandle<T> {
    cell: Arc<dyn Completion<T>>,
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandle")
            .field("finished", &self.cell.is_finished())
            .finish()
    }
}

impl<T> JobHandle<T> {
    pub(crate) fn new(cell: Arc<dyn Completion<T>>) -> Self {
        Self { cell }
    }

    /// Cancels the job: it resolves to [`JobError::Cancelled`] unless it already finished (or,
    /// for a blocking closure, already started).
    pub fn abort(&self) {
        self.cell.abort();
    }

    /// Lets the job run to the end without anyone waiting for its value. Same as dropping the
    /// handle, but says so.
    pub fn detach(self) {}

    /// Whether the job's result is in (it may already have been taken).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }

    /// Blocks the current thread until the job ends. For sync code; from async code, `.await`
    /// the handle instead (blocking an executor thread stalls every task on it).
    ///
    /// # Errors
    /// [`JobError::Panicked`] or [`JobError::Cancelled`] when the job produced no value.
    pub fn wait(mut self) -> Result<T, JobError> {
        Parker::new().block_on(&mut self)
    }

    /// Like [`wait`](Self::wait), but gives the handle back if the job has not ended within
    /// `timeout` (which may be zero or [`Duration::MAX`]).
    ///
    /// # Errors
    /// `Err(self)` on timeout; the job keeps running.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<Result<T, JobError>, Self> {
        let deadline = Instant::now().checked_add(timeout);
        match Parker::new().block_on_until(&mut self, deadline) {
            Some(result) => Ok(result),
            None => Err(self),
        }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll_result(cx)
    }
}
