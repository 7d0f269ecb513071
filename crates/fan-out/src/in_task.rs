//! The in-task executor: a slab of at most `limit` pinned futures, each with its own waker
//! that marks a ready bit, so the driver polls exactly the futures that were woken (and
//! every one of them), like `FuturesUnordered` but bounded and index-aware. Slots, their
//! boxes, wakers and timers are allocated once and reused for later items.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::engine::{Engine, Outcome, poll_isolated};
use crate::error::ItemError;
use crate::ready::{ReadyPage, SlotWaker};
use crate::signal::Signal;
use crate::sync::Arc;

struct Slot<Fut> {
    fut: Pin<Box<Option<Fut>>>,
    index: usize,
    waker: Waker,
    timer: Option<Pin<Box<Sleep>>>,
}

/// See the module docs.
pub(crate) struct InTaskEngine<Fut> {
    slots: Vec<Slot<Fut>>,
    free: Vec<usize>,
    pages: Vec<Arc<ReadyPage>>,
    signal: Arc<Signal>,
    timeout: Option<Duration>,
    in_flight: usize,
}

impl<Fut> InTaskEngine<Fut> {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            pages: Vec::new(),
            signal: Arc::new(Signal::new()),
            timeout,
            in_flight: 0,
        }
    }

    fn new_slot(&mut self) -> usize {
        let id = self.slots.len();
        if id.is_multiple_of(64) {
            self.pages.push(Arc::new(ReadyPage::new()));
        }
        let page = Arc::clone(&self.pages[id / 64]);
        #[allow(clippy::cast_possible_truncation)] // id % 64 < 64
        let waker = SlotWaker::waker(page, (id % 64) as u32, Arc::clone(&self.signal));
        self.slots.push(Slot {
            fut: Box::pin(None),
            index: 0,
            waker,
            timer: None,
        });
        id
    }

    /// Drops the future in `id` and frees the slot.
    fn clear(&mut self, id: usize) {
        let slot = &mut self.slots[id];
        // A destructor that panics must not take the whole fan-out down; the item already
        // has its outcome, so the panic is dropped here on purpose.
        let _ = catch_unwind(AssertUnwindSafe(|| slot.fut.as_mut().set(None)));
        self.free.push(id);
        self.in_flight -= 1;
    }
}

impl<Fut, R, E> InTaskEngine<Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    fn poll_slot(&mut self, id: usize) -> Option<Outcome<R, E>> {
        let slot = &mut self.slots[id];
        // A stale wake for a slot that is empty (its item already finished) is ignored.
        let fut = slot.fut.as_mut().as_pin_mut()?;
        let mut cx = Context::from_waker(&slot.waker);
        let outcome = match poll_isolated(fut, &mut cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                let expired = slot
                    .timer
                    .as_mut()
                    .is_some_and(|timer| timer.as_mut().poll(&mut cx).is_ready());
                match self.timeout {
                    Some(limit) if expired => Err(ItemError::TimedOut(limit)),
                    _ => return None,
                }
            }
        };
        self.clear(id);
        Some(outcome)
    }
}

impl<Fut, R, E> Engine<Fut, R, E> for InTaskEngine<Fut>
where
    Fut: Future<Output = Result<R, E>>,
{
    fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn signal(&self) -> &Signal {
        &self.signal
    }

    fn start(&mut self, index: usize, fut: Fut, out: &mut impl FnMut(usize, Outcome<R, E>)) {
        let id = match self.free.pop() {
            Some(id) => id,
            None => self.new_slot(),
        };
        self.in_flight += 1;
        let slot = &mut self.slots[id];
        slot.index = index;
        slot.fut.as_mut().set(Some(fut));
        // A timeout too large to represent is no timeout at all.
        match self.timeout.and_then(|t| Instant::now().checked_add(t)) {
            Some(at) => match &mut slot.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => slot.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            },
            None => slot.timer = None,
        }
        if let Some(outcome) = self.poll_slot(id) {
            out(index, outcome);
        }
    }

    fn poll_woken(
        &mut self,
        budget: &mut usize,
        out: &mut impl FnMut(usize, Outcome<R, E>),
    ) -> bool {
        let mut progressed = false;
        for page in 0..self.pages.len() {
            let mut bits = self.pages[page].take();
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let id = page * 64 + bit;
                progressed = true;
                *budget = budget.saturating_sub(1);
                let index = self.slots[id].index;
                if let Some(outcome) = self.poll_slot(id) {
                    out(index, outcome);
                }
            }
            if *budget == 0 {
                break;
            }
        }
        progressed
    }

    fn cancel_all(&mut self, out: &mut impl FnMut(usize, Option<Outcome<R, E>>)) {
        for id in 0..self.slots.len() {
            if self.slots[id].fut.is_some() {
                let index = self.slots[id].index;
                self.clear(id);
                out(index, None);
            }
        }
    }
}
