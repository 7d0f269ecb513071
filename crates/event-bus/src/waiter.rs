//! Who to wake: an async task or a parked thread.

use crate::sync::thread;
use std::task::Waker;

/// A party waiting for an event (a subscriber) or for room (a publisher).
pub(crate) enum Waiter {
    Task(Waker),
    Thread(thread::Thread),
}

impl Waiter {
    pub(crate) fn current_thread() -> Self {
        Self::Thread(thread::current())
    }

    pub(crate) fn wake(self) {
        match self {
            Self::Task(waker) => waker.wake(),
            Self::Thread(thread) => thread.unpark(),
        }
    }

    /// Whether waking `self` already wakes the party `other` describes (avoids re-registering).
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Task(a), Self::Task(b)) => a.will_wake(b),
            (Self::Thread(a), Self::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

/// Wakes every waiter in `waiters` (outside any lock).
pub(crate) fn wake_all(waiters: Vec<Waiter>) {
    for waiter in waiters {
        waiter.wake();
    }
}
