//! One acquisition in progress, independent of how the caller waits (a tokio timer,
//! or a parked thread). Dropping it while queued leaves the queue cleanly.

use std::task::Waker;

use crate::bucket::Shared;
use crate::clock::Clock;
use crate::queue::Progress;

/// Where an acquisition stands after a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Continue as the queue says.
    Queue(Progress),
    /// More than the capacity was asked for.
    ExceedsCapacity,
    /// `max_wait` would be exceeded; the predicted wait in nanoseconds.
    WouldWait(u64),
}

/// An acquisition of `tokens`, queued (FIFO) if they are not available at once.
#[derive(Debug)]
pub(crate) struct Waiter<'a, C: Clock> {
    shared: &'a Shared<C>,
    tokens: u32,
    max_wait: Option<u64>,
    /// Our place in the queue, while we hold one.
    id: Option<u64>,
}

impl<'a, C: Clock> Waiter<'a, C> {
    pub(crate) fn new(shared: &'a Shared<C>, tokens: u32, max_wait: Option<u64>) -> Self {
        Self {
            shared,
            tokens,
            max_wait,
            id: None,
        }
    }

    pub(crate) fn tokens(&self) -> u32 {
        self.tokens
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.shared.state.capacity()
    }

    pub(crate) fn poll(&mut self, waker: &Waker) -> Step {
        let shared = self.shared;
        let now = shared.now();
        if let Some(id) = self.id {
            let progress = shared.queue.poll(&shared.state, now, id, waker);
            return match progress {
                Progress::Granted => {
                    self.id = None;
                    Step::Queue(progress)
                }
                Progress::TooLarge => {
                    self.id = None;
                    Step::ExceedsCapacity
                }
                Progress::Sleep(_) | Progress::Parked => Step::Queue(progress),
            };
        }
        if self.tokens == 0 {
            return Step::Queue(Progress::Granted);
        }
        if self.tokens > shared.state.capacity() {
            return Step::ExceedsCapacity;
        }
        // Barging is allowed only when nobody waits, so a waiter is never overtaken.
        if shared.queue.is_empty() && shared.state.try_take(now, self.tokens).is_ok() {
            return Step::Queue(Progress::Granted);
        }
        match shared
            .queue
            .join(&shared.state, now, self.tokens, self.max_wait, waker)
        {
            Ok((id, progress)) => {
                self.id = id;
                Step::Queue(progress)
            }
            Err(predicted) => Step::WouldWait(predicted),
        }
    }
}

impl<C: Clock> Drop for Waiter<'_, C> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let shared = self.shared;
            shared.queue.cancel(&shared.state, shared.now(), id);
        }
    }
}
