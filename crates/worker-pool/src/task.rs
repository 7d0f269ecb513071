//! An async job in one allocation: the user's future next to the cell its handle reads.
//!
//! The queue entry ([`AsyncJob`]) is the only owner of the right to poll or drop the future;
//! the [`JobHandle`](crate::JobHandle) only reads the result cell. Both point at the same
//! `Arc`, so a job costs one allocation instead of a boxed future plus a separate cell.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::job::{Completion, JobCell, JobError, Outcome, panic_message};
use crate::sync::{Mutex, lock};

/// The future of one async job and its result cell.
pub(crate) struct AsyncTask<F: Future> {
    cell: JobCell<F::Output, ()>,
    /// `None` once the future ended or was cancelled. Only the queue entry locks it (the
    /// handle never does), so a job that polls its own handle cannot deadlock on it.
    future: Mutex<Option<F>>,
}

impl<F> AsyncTask<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    pub(crate) fn new(future: F) -> Self {
        Self {
            cell: JobCell::new(None),
            future: Mutex::new(Some(future)),
        }
    }

    /// Drops the future in place. A panic in its destructor is caught: `true` if there was one.
    fn drop_future(slot: &mut Option<F>) -> bool {
        // Assignment drops the old value where it lies, so a pinned future is never moved.
        catch_unwind(AssertUnwindSafe(|| *slot = None)).is_err()
    }
}

/// What a worker needs from an async job, whatever its future type.
pub(crate) trait RunAsync: Send + Sync {
    /// Polls the job once. `Ready` means the future is gone and the handle is resolved.
    fn poll_run(&self, cx: &mut Context<'_>) -> Poll<Outcome>;
    /// Drops the future if it is still there (before or while it runs), then resolves the
    /// handle as cancelled unless it already holds a result.
    fn cancel(&self);
}

impl<F> RunAsync for AsyncTask<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll_run(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if !self.cell.begin() {
            self.cancel();
            return Poll::Ready(Outcome::Cancelled);
        }
        let mut slot = lock(&self.future);
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(Outcome::Cancelled);
        };
        // SAFETY: the future lives inside this task's `Arc` allocation, which never moves
        // while any reference to it exists, and it leaves its `Option` only by being dropped
        // in place (`drop_future` assigns `None`; nothing takes or swaps it out). So it stays
        // at this address until its destructor runs: the pinning contract. The mutex gives
        // this worker exclusive access for the poll.
        #[allow(unsafe_code)]
        let future = unsafe { Pin::new_unchecked(future) };
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(value)) => {
                self.cell.resolve(Ok(value));
                if Self::drop_future(&mut slot) {
                    Poll::Ready(Outcome::Panicked)
                } else {
                    Poll::Ready(Outcome::Completed)
                }
            }
            Ok(Poll::Pending) => {
                drop(slot);
                self.cell.set_worker_waker(cx.waker());
                // `abort` sets the flag before taking the waker stored above.
                if self.cell.is_aborted() {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            }
            Err(payload) => {
                Self::drop_future(&mut slot);
                drop(slot);
                self.cell
                    .resolve(Err(JobError::Panicked(panic_message(&*payload))));
                Poll::Ready(Outcome::Panicked)
            }
        }
    }

    fn cancel(&self) {
        {
            let mut slot = lock(&self.future);
            if slot.is_some() {
                Self::drop_future(&mut slot);
            }
        }
        // The handle sees `Cancelled` only once the future is gone.
        self.cell.cancel_if_pending();
    }
}

impl<F> Completion<F::Output> for AsyncTask<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll_result(&self, cx: &mut Context<'_>) -> Poll<Result<F::Output, JobError>> {
        self.cell.poll_result(cx)
    }

    fn abort(&self) {
        self.cell.abort();
    }

    fn is_finished(&self) -> bool {
        self.cell.is_finished()
    }
}

/// A queued async job. Dropping it before it ran to the end cancels it, so its handle always
/// resolves.
pub(crate) struct AsyncJob {
    task: Arc<dyn RunAsync>,
    /// `poll_run` returned `Ready`: the future is gone and the handle resolved.
    ended: bool,
}

impl AsyncJob {
    pub(crate) fn new(task: Arc<dyn RunAsync>) -> Self {
        Self { task, ended: false }
    }

    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let polled = self.task.poll_run(cx);
        if polled.is_ready() {
            self.ended = true;
        }
        polled
    }

    /// Cancels the job now (the shutdown deadline passed).
    pub(crate) fn cancel(mut self) {
        self.ended = true;
        self.task.cancel();
    }
}

impl Drop for AsyncJob {
    fn drop(&mut self) {
        if !self.ended {
            self.task.cancel();
        }
    }
}

#[cfg(all(test, tidewater_loom))]
mod loom_tests;
