//! The stage hand-off queue: a bounded single-producer single-consumer queue that moves items in
//! batches, with close (drain) and abort (drop and count) built in.
//!
//! This is the tokio-free core of the crate. It only uses `std::task` wakers and the `sync` shim,
//! so loom can explore it (`tests/loom.rs`). Every item that `poll_push` accepts is, exactly once,
//! either handed out by `poll_pop`/`try_pop` or counted by `abort`. Items that `poll_push` does not
//! accept stay in the caller's buffer, so the caller can count them.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::sync::{Mutex, MutexGuard};

/// The consumer dropped (aborted) the queue: nothing more will be accepted.
///
/// Items that were not accepted are still in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Aborted;

/// Running totals of a queue, for accounting and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[doc(hidden)]
pub struct QueueCounts {
    /// Items accepted by `poll_push`.
    pub pushed: u64,
    /// Items handed out by `poll_pop`/`try_pop`.
    pub popped: u64,
    /// Items dropped (and counted) by `abort`.
    pub dropped: u64,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// The producer is done: no more pushes, the consumer drains what is left.
    closed: bool,
    /// The consumer is gone: pushes fail, what was inside has been dropped and counted.
    aborted: bool,
    consumer: Option<Waker>,
    producer: Option<Waker>,
    counts: QueueCounts,
}

/// A bounded batch queue between two pipeline stages (see the module docs).
#[derive(Debug)]
#[doc(hidden)]
pub struct BatchQueue<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// A producer waiting for room is woken only once the queue is at most this full, so it
    /// refills in one batch instead of ping-ponging one slot at a time.
    low_water: usize,
}

fn store_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl<T> BatchQueue<T> {
    /// A queue holding at most `capacity` items (`0` is treated as `1`).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.min(4096)),
                closed: false,
                aborted: false,
                consumer: None,
                producer: None,
                counts: QueueCounts::default(),
            }),
            capacity,
            low_water: capacity / 2,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A poisoned lock only means a panic elsewhere while holding it; the state itself is
        // always consistent between statements, so keep going.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The capacity in items.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Moves as many items from the front of `buf` as fit. `Ready(Ok)` once `buf` is empty;
    /// `Pending` (producer waker stored) while it is not; `Ready(Err(Aborted))` if the consumer
    /// is gone, with the items not accepted left in `buf`.
    pub fn poll_push(&self, cx: &mut Context<'_>, buf: &mut Vec<T>) -> Poll<Result<(), Aborted>> {
        let (result, wake) = {
            let mut st = self.lock();
            if st.aborted {
                return Poll::Ready(Err(Aborted));
            }
            let room = self.capacity - st.items.len();
            let n = room.min(buf.len());
            if n == buf.len() {
                st.items.extend(buf.drain(..));
            } else {
                st.items.extend(buf.drain(..n));
            }
            st.counts.pushed += n as u64;
            let wake = if n > 0 { st.consumer.take() } else { None };
            if buf.is_empty() {
                (Poll::Ready(Ok(())), wake)
            } else {
                store_waker(&mut st.producer, cx);
                (Poll::Pending, wake)
            }
        };
        if let Some(w) = wake {
            w.wake();
        }
        result
    }

    /// Appends up to `max` items to `out` without waiting. `Some(n)` with `n >= 1`, or `None` if
    /// nothing is there right now (check [`is_finished`](Self::is_finished)).
    pub fn try_pop(&self, max: usize, out: &mut Vec<T>) -> Option<usize> {
        self.pop_inner(None, max, out).ok()
    }

    /// Appends up to `max` items to `out`. `Ready(Some(n))` with `n >= 1`; `Ready(None)` once the
    /// queue is closed and empty, or aborted; otherwise `Pending` with the consumer waker stored.
    pub fn poll_pop(
        &self,
        cx: &mut Context<'_>,
        max: usize,
        out: &mut Vec<T>,
    ) -> Poll<Option<usize>> {
        match self.pop_inner(Some(cx), max, out) {
            Ok(n) => Poll::Ready(Some(n)),
            Err(true) => Poll::Ready(None),
            Err(false) => Poll::Pending,
        }
    }

    /// `Ok(n)` items popped, or `Err(finished)` when there was nothing to pop.
    fn pop_inner(
        &self,
        cx: Option<&mut Context<'_>>,
        max: usize,
        out: &mut Vec<T>,
    ) -> Result<usize, bool> {
        let (n, wake) = {
            let mut st = self.lock();
            let n = max.max(1).min(st.items.len());
            if n == 0 {
                let finished = st.closed || st.aborted;
                if let Some(cx) = cx
                    && !finished
                {
                    store_waker(&mut st.consumer, cx);
                }
                return Err(finished);
            }
            out.extend(st.items.drain(..n));
            st.counts.popped += n as u64;
            let wake = if st.items.len() <= self.low_water {
                st.producer.take()
            } else {
                None
            };
            (n, wake)
        };
        if let Some(w) = wake {
            w.wake();
        }
        Ok(n)
    }

    /// `true` once the queue is aborted, or closed with nothing left to pop.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        let st = self.lock();
        st.aborted || (st.closed && st.items.is_empty())
    }

    /// The producer is done. The consumer still pops what is inside, then sees the end.
    pub fn close(&self) {
        let wake = {
            let mut st = self.lock();
            st.closed = true;
            st.consumer.take()
        };
        if let Some(w) = wake {
            w.wake();
        }
    }

    /// The consumer is gone: drops everything inside and returns how many items that was (the
    /// caller counts them). Later pushes fail with [`Aborted`]. Idempotent.
    pub fn abort(&self) -> u64 {
        let (left, wake) = {
            let mut st = self.lock();
            st.aborted = true;
            let left = std::mem::take(&mut st.items);
            st.counts.dropped += left.len() as u64;
            (left, st.producer.take())
        };
        if let Some(w) = wake {
            w.wake();
        }
        // User `Drop` code runs outside the lock.
        let n = left.len() as u64;
        drop(left);
        n
    }

    /// The running totals (`pushed == popped + dropped + still inside` at every instant).
    #[must_use]
    pub fn counts(&self) -> QueueCounts {
        self.lock().counts
    }

    /// Items inside right now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// `true` if nothing is inside right now.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
