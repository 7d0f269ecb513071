//! The stream returned by `FanOut::stream`, and the loop behind `FanOut::for_each`.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::driver::Driver;
use crate::engine::{Engine, Outcome};
use crate::error::Stop;
use crate::inputs::InputSource;
use crate::queue::Queue;

/// The stream of `(index, outcome)` pairs.
pub(crate) struct ItemStream<S, F, G, R, E> {
    driver: Driver<S, F, G>,
    queue: Queue<R, E>,
}

// Nothing inside is ever pinned in place (the input stream and the futures are boxed).
impl<S, F, G, R, E> Unpin for ItemStream<S, F, G, R, E> {}

impl<S, F, G, R, E> ItemStream<S, F, G, R, E> {
    pub(crate) fn new(driver: Driver<S, F, G>, queue: Queue<R, E>) -> Self {
        Self { driver, queue }
    }
}

impl<S, F, G, Fut, R, E> Stream for ItemStream<S, F, G, R, E>
where
    S: InputSource,
    F: FnMut(S::Item) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    G: Engine<Fut, R, E>,
{
    type Item = (usize, Outcome<R, E>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Progress first, even when an outcome is already waiting: items that became ready
        // are polled and the engine is refilled on every call (no snoozing while the
        // consumer keeps polling).
        let progress = this.driver.poll_progress(cx, &mut this.queue);
        match this.queue.pop() {
            Some(item) => Poll::Ready(Some(item)),
            None if progress.is_ready() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

/// Drives the items and the consumer side by side in one task: while the consumer's
/// future is pending, the items keep being polled, so a consumer that waits for something
/// an in-flight item must do first cannot deadlock.
pub(crate) async fn for_each<S, F, G, Fut, R, E, C, CFut>(
    mut driver: Driver<S, F, G>,
    mut queue: Queue<R, E>,
    mut consumer: C,
) -> Result<(), Stop>
where
    S: InputSource,
    F: FnMut(S::Item) -> Fut,
    Fut: Future<Output = Result<R, E>>,
    G: Engine<Fut, R, E>,
    C: FnMut(usize, Outcome<R, E>) -> CFut,
    CFut: Future<Output = ()>,
{
    let mut current: Pin<Box<Option<CFut>>> = Box::pin(None);
    poll_fn(|cx| {
        loop {
            let progress = driver.poll_progress(cx, &mut queue);
            if let Some(fut) = current.as_mut().as_pin_mut() {
                if fut.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                current.set(None);
            }
            match queue.pop() {
                Some((index, outcome)) => current.set(Some(consumer(index, outcome))),
                None if progress.is_ready() => return Poll::Ready(()),
                None => return Poll::Pending,
            }
        }
    })
    .await;
    driver.stop_reason().map_or(Ok(()), Err)
}
