//! loom models of one async job: the worker running (or dropping) it races its handle.
//!
//! Run: `RUSTFLAGS="--cfg tidewater_loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p tidewater-worker-pool --lib loom`

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{AsyncJob, AsyncTask};
use crate::job::{JobError, JobHandle, Outcome};

/// Counts its polls and drops; `Ready(7)` at once, or pending forever without a wake.
struct Probe {
    polls: loom::sync::Arc<AtomicUsize>,
    drops: loom::sync::Arc<AtomicUsize>,
    ready: bool,
}

impl Future for Probe {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.ready {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

struct Counters {
    polls: loom::sync::Arc<AtomicUsize>,
    drops: loom::sync::Arc<AtomicUsize>,
}

fn job(ready: bool) -> (AsyncJob, JobHandle<u32>, Counters) {
    let counters = Counters {
        polls: loom::sync::Arc::new(AtomicUsize::new(0)),
        drops: loom::sync::Arc::new(AtomicUsize::new(0)),
    };
    let task = Arc::new(AsyncTask::new(Probe {
        polls: counters.polls.clone(),
        drops: counters.drops.clone(),
        ready,
    }));
    let handle = JobHandle::new(task.clone());
    (AsyncJob::new(task), handle, counters)
}

/// Runs `job` like a worker: polls it whenever woken until it ends.
fn run(mut job: AsyncJob) -> Outcome {
    block_on(poll_fn(|cx| job.poll_run(cx)))
}

/// No lost wake-up on abort: a running job that waits forever must still end when its
/// handle aborts it, however the abort interleaves with the worker storing its waker.
#[test]
fn abort_reaches_a_pending_job() {
    loom::model(|| {
        let (job, handle, counters) = job(false);
        let worker = thread::spawn(move || run(job));
        handle.abort();
        assert_eq!(block_on(handle), Err(JobError::Cancelled));
        assert_eq!(worker.join().unwrap(), Outcome::Cancelled);
        assert_eq!(counters.drops.load(Ordering::SeqCst), 1);
    });
}

/// Abort racing a job that completes on its first poll: the handle gets the value exactly
/// when the job ran, `Cancelled` exactly when it never ran, and the future is dropped once.
#[test]
fn abort_races_a_ready_job() {
    loom::model(|| {
        let (job, handle, counters) = job(true);
        let worker = thread::spawn(move || run(job));
        let aborter = thread::spawn(move || {
            handle.abort();
            block_on(handle)
        });
        let outcome = worker.join().unwrap();
        let result = aborter.join().unwrap();
        let polls = counters.polls.load(Ordering::SeqCst);
        match result {
            Ok(7) => assert_eq!((outcome, polls), (Outcome::Completed, 1)),
            Err(JobError::Cancelled) => assert_eq!((outcome, polls), (Outcome::Cancelled, 0)),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(counters.drops.load(Ordering::SeqCst), 1);
    });
}

/// A job dropped unrun (cancelled out of the queue at the deadline) resolves its handle,
/// which another thread is waiting on, and drops its future exactly once.
#[test]
fn dropping_a_queued_job_resolves_its_handle() {
    loom::model(|| {
        let (job, handle, counters) = job(true);
        let waiter = thread::spawn(move || block_on(handle));
        drop(job);
        assert_eq!(waiter.join().unwrap(), Err(JobError::Cancelled));
        assert_eq!(counters.polls.load(Ordering::SeqCst), 0);
        assert_eq!(counters.drops.load(Ordering::SeqCst), 1);
    });
}
