//! The spawned executor: each item is a tokio task (so items use every core and keep running
//! while the consumer is busy); a finished task leaves its result in the shared [`Inbox`].
//! The driver keeps each task's `JoinHandle` only to abort it.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::engine::{Engine, Outcome, poll_isolated};
use crate::error::ItemError;
use crate::inbox::Inbox;
use crate::signal::Signal;
use crate::sync::Arc;

type Done<R, E> = (usize, Outcome<R, E>);

/// See the module docs.
pub(crate) struct SpawnedEngine<R, E> {
    inbox: Arc<Inbox<Done<R, E>>>,
    handles: Vec<Option<(usize, JoinHandle<()>)>>,
    free: Vec<usize>,
    taken: Vec<Done<R, E>>,
    timeout: Option<Duration>,
    runtime: Option<Handle>,
    in_flight: usize,
}

impl<R, E> SpawnedEngine<R, E> {
    pub(crate) fn new(runtime: Option<Handle>, timeout: Option<Duration>) -> Self {
        Self {
            inbox: Arc::new(Inbox::new(Arc::new(Signal::new()))),
            handles: Vec::new(),
            free: Vec::new(),
            taken: Vec::new(),
            timeout,
            runtime,
            in_flight: 0,
        }
    }

    fn collect(&mut self, out: &mut impl FnMut(usize, Outcome<R, E>)) -> bool {
        self.inbox.take_all(&mut self.taken);
        let progressed = !self.taken.is_empty();
        for (slot, outcome) in self.taken.drain(..) {
            if let Some((index, _handle)) = self.handles[slot].take() {
                self.free.push(slot);
                self.in_flight -= 1;
                out(index, outcome);
            }
        }
        progressed
    }
}

/// Runs one item to its outcome, panics caught.
async fn isolated<Fut, R, E>(fut: Fut) -> Outcome<R, E>
where
    Fut: Future<Output = Result<R, E>>,
{
    let mut slot = pin!(Some(fut));
    let outcome = poll_fn(|cx| poll_item(slot.as_mut(), cx)).await;
    drop_item(slot);
    outcome
}

/// [`isolated`] under a timeout. A separate function so that items without a timeout do
/// not carry a (large, cache-aligned) timer in their task.
async fn isolated_with_timeout<Fut, R, E>(fut: Fut, limit: Duration) -> Outcome<R, E>
where
    Fut: Future<Output = Result<R, E>>,
{
    let mut slot = pin!(Some(fut));
    let mut timer = pin!(tokio::time::sleep(limit));
    // Like `tokio::time::timeout`: the item first, then the timer. The item is not dropped
    // with this future but by `drop_item`, so a panic in its destructor cannot kill the task
    // before it reports (the driver would wait for it forever).
    let outcome = poll_fn(|cx| match poll_item(slot.as_mut(), cx) {
        Poll::Ready(outcome) => Poll::Ready(outcome),
        Poll::Pending => match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(ItemError::TimedOut(limit))),
            Poll::Pending => Poll::Pending,
        },
    })
    .await;
    drop_item(slot);
    outcome
}

fn poll_item<Fut, R, E>(slot: Pin<&mut Option<Fut>>, cx: &mut Context<'_>) -> Poll<Outcome<R, E>>
where
    Fut: Future<Output = Result<R, E>>,
{
    match slot.as_pin_mut() {
        Some(fut) => poll_isolated(fut, cx),
        // Never polled again once it finished: the caller stops at `Ready`.
        None => Poll::Pending,
    }
}

/// Drops the item where it lies. A destructor that panics must not take the task down
/// before it reports; the item already has its outcome, so the panic is dropped here on
/// purpose (as in the in-task engine).
fn drop_item<Fut>(mut slot: Pin<&mut Option<Fut>>) {
    let _ = catch_unwind(AssertUnwindSafe(|| slot.set(None)));
}

impl<Fut, R, E> Engine<Fut, R, E> for SpawnedEngine<R, E>
where
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Send + 'static,
    E: Send + 'static,
{
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn signal(&self) -> &Signal {
        self.inbox.signal()
    }

    fn start(&mut self, index: usize, fut: Fut, _out: &mut impl FnMut(usize, Outcome<R, E>)) {
        // The driver never starts an item without a runtime (it stops with `NoRuntime`).
        let Some(runtime) = &self.runtime else {
            return;
        };
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.handles.push(None);
                self.handles.len() - 1
            }
        };
        let inbox = Arc::clone(&self.inbox);
        let handle = match self.timeout {
            None => runtime.spawn(async move {
                let outcome = isolated(fut).await;
                inbox.push((slot, outcome));
            }),
            Some(limit) => runtime.spawn(async move {
                let outcome = isolated_with_timeout(fut, limit).await;
                inbox.push((slot, outcome));
            }),
        };
        self.handles[slot] = Some((index, handle));
        self.in_flight += 1;
    }

    fn poll_woken(
        &mut self,
        budget: &mut usize,
        out: &mut impl FnMut(usize, Outcome<R, E>),
    ) -> bool {
        *budget = budget.saturating_sub(1);
        self.collect(out)
    }

    fn cancel_all(&mut self, out: &mut impl FnMut(usize, Option<Outcome<R, E>>)) {
        self.collect(&mut |index, outcome| out(index, Some(outcome)));
        for entry in &mut self.handles {
            if let Some((index, handle)) = entry.take() {
                handle.abort();
                out(index, None);
            }
        }
        self.in_flight = 0;
    }
}

impl<R, E> Drop for SpawnedEngine<R, E> {
    fn drop(&mut self) {
        for (_, handle) in self.handles.iter().flatten() {
            handle.abort();
        }
    }
}
