//! What the driver needs from an executor of items: start one, poll the woken ones,
//! cancel the rest. Two implementations: in-task (`in_task.rs`) and spawned (`spawned.rs`).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{ItemError, panic_message};
use crate::signal::Signal;

/// The result of one item as the driver sees it.
pub(crate) type Outcome<R, E> = Result<R, ItemError<E>>;

/// An executor of items.
pub(crate) trait Engine<Fut, R, E> {
    /// Items started and not yet reported.
    fn in_flight(&self) -> usize;
    /// The signal item completions notify.
    fn signal(&self) -> &Signal;
    /// Starts `fut` as item `index` (in-task: polls it once right away).
    fn start(&mut self, index: usize, fut: Fut, out: &mut impl FnMut(usize, Outcome<R, E>));
    /// Polls (or collects) every item that was woken; returns whether anything happened.
    fn poll_woken(
        &mut self,
        budget: &mut usize,
        out: &mut impl FnMut(usize, Outcome<R, E>),
    ) -> bool;
    /// Stops every item: finished ones are reported with `Some`, cancelled ones with `None`.
    fn cancel_all(&mut self, out: &mut impl FnMut(usize, Option<Outcome<R, E>>));
}

/// Polls `fut` once, turning a panic into an item error.
pub(crate) fn poll_isolated<F, R, E>(fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<Outcome<R, E>>
where
    F: Future<Output = Result<R, E>>,
{
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(Ok(r))) => Poll::Ready(Ok(r)),
        Ok(Poll::Ready(Err(e))) => Poll::Ready(Err(ItemError::Failed(e))),
        Err(payload) => Poll::Ready(Err(panicked(&*payload))),
    }
}

/// The item error for a caught panic.
pub(crate) fn panicked<E>(payload: &(dyn Any + Send)) -> ItemError<E> {
    ItemError::Panicked(panic_message(payload))
}
