//! Synchronous waiting: the same FIFO queue, with the thread parked instead of a timer.

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::ExceedsCapacity;
use crate::queue::Progress;
use crate::waiter::{Step, Waiter};

/// Unparks the waiting thread when the queue hands it the head.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Parks the current thread until the waiter is granted. A wake that arrives before the
/// thread parks is not lost: `park` returns at once on a pending unpark token.
pub(crate) fn wait<C: Clock>(mut waiter: Waiter<'_, C>) -> Result<(), ExceedsCapacity> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    loop {
        match waiter.poll(&waker) {
            Step::Queue(Progress::Granted) => return Ok(()),
            // The blocking waiter sets no `max_wait`, so the queue never refuses it.
            Step::WouldWait(_) => return Ok(()),
            Step::Queue(Progress::Sleep(nanos)) => {
                thread::park_timeout(Duration::from_nanos(nanos));
            }
            Step::Queue(Progress::Parked) => thread::park(),
            Step::ExceedsCapacity | Step::Queue(Progress::TooLarge) => {
                return Err(ExceedsCapacity {
                    requested: waiter.tokens(),
                    capacity: waiter.capacity(),
                });
            }
        }
    }
}
