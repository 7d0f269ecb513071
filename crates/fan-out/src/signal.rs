//! Wake-up hand-off between many notifiers (item wakers, finished spawned tasks) and the one
//! task that drives a fan-out.
//!
//! One atomic word holds two flags, and every access to it is a read-modify-write, so all
//! of them are totally ordered (no reliance on fences):
//! - a notifier publishes its work, then sets `NOTIFIED`; if the driver had set `PARKED`,
//!   the notifier clears it and wakes the driver (so only one notifier pays for the wake);
//! - the driver clears both flags when a poll begins (acquiring all work published
//!   before), and before returning `Pending` sets `PARKED`: if `NOTIFIED` was set since the
//!   poll began, new work may have been missed, so it does not sleep but looks again.
//!
//! Either the driver sees `NOTIFIED` or the notifier sees `PARKED`: a wake-up is never
//! lost. While the driver is running, notifiers never touch the waker, so wakes raised
//! during the driver's own poll loop cost one atomic operation.

use std::task::Waker;

use crate::sync::{AtomicUsize, Mutex, Ordering, lock};

const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// See the module docs.
#[derive(Debug, Default)]
pub struct Signal {
    state: AtomicUsize,
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
        self.begin_same();
    }

    /// Driver: like [`begin`](Self::begin) when the waker is known to be the one already
    /// registered.
    pub fn begin_same(&self) {
        self.state.swap(0, Ordering::AcqRel);
    }

    /// Driver: try to go to sleep. Returns `true` if the driver may return `Pending`
    /// (a later notification will wake it), `false` if work may have arrived since the
    /// poll began (then the driver must look again; the flags are reset for that).
    pub fn try_park(&self) -> bool {
        let prev = self.state.fetch_or(PARKED, Ordering::AcqRel);
        if prev & NOTIFIED != 0 {
            self.state.swap(0, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Notifier: call after publishing work.
    pub fn notify(&self) {
        let prev = match self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                Some((s | NOTIFIED) & !PARKED)
            }) {
            Ok(prev) | Err(prev) => prev,
        };
        if prev & PARKED != 0 {
            let waker = lock(&self.waker).clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}
