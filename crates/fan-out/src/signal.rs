//! Wake-up hand-off between many notifiers (item wakers, finished spawned tasks) and the one
//! task that drives a fan-out.
//!
//! The driver says "I am about to sleep" by setting `parked` and then re-checks for work;
//! a notifier first publishes its work and then takes the `parked` flag. With both steps
//! `SeqCst`, either the driver's re-check sees the work or the notifier sees `parked` and
//! wakes it: a wake-up is never lost. While the driver is running (`parked == false`)
//! notifiers skip the waker entirely, so wakes raised during the driver's own poll loop are
//! nearly free.

use std::task::Waker;

use crate::sync::{AtomicBool, Mutex, Ordering, lock};

/// See the module docs.
#[derive(Debug, Default)]
pub struct Signal {
    parked: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// A signal whose driver is running (not parked).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Driver: called at the start of each poll with the task's waker.
    pub fn begin(&self, waker: &Waker) {
        {
            let mut slot = lock(&self.waker);
            match slot.as_ref() {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.parked.store(false, Ordering::SeqCst);
    }

    /// Driver: like [`begin`](Self::begin) when the waker is known to be the one already
    /// registered.
    pub fn begin_same(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// Driver: try to go to sleep. Returns `true` if the driver may return `Pending`
    /// (a later notification will wake it), `false` if work arrived meanwhile.
    pub fn try_park(&self, has_work: impl FnOnce() -> bool) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        if has_work() {
            self.parked.store(false, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Notifier: call after publishing work.
    pub fn notify(&self) {
        if self.parked.swap(false, Ordering::SeqCst) {
            let waker = lock(&self.waker).clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}
