//! The async acquisitions: a [`Waiter`] paced by one tokio timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::clock::Clock;
use crate::error::{AcquireWithinError, ExceedsCapacity};
use crate::queue::Progress;
use crate::waiter::{Step, Waiter};

/// Drives a waiter: sleeps while it is the head, parks while others are ahead.
#[derive(Debug)]
struct Pacer<'a, C: Clock> {
    waiter: Waiter<'a, C>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<C: Clock> Pacer<'_, C> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        loop {
            match self.waiter.poll(cx.waker()) {
                Step::Queue(Progress::Sleep(nanos)) => {
                    let deadline = Instant::now() + Duration::from_nanos(nanos);
                    let sleep = match &mut self.sleep {
                        Some(sleep) => {
                            sleep.as_mut().reset(deadline);
                            sleep
                        }
                        None => self
                            .sleep
                            .insert(Box::pin(tokio::time::sleep_until(deadline))),
                    };
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Step::Queue(Progress::Parked) => return Poll::Pending,
                done => return Poll::Ready(done),
            }
        }
    }
}

/// The future of [`TokenBucket::acquire`](crate::TokenBucket::acquire).
///
/// Cancel-safe: dropping it before it completes gives back any tokens it had reserved
/// and passes its place on, so it never starves the waiters behind it.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a, C: Clock> {
    pacer: Pacer<'a, C>,
}

impl<'a, C: Clock> Acquire<'a, C> {
    pub(crate) fn new(waiter: Waiter<'a, C>) -> Self {
        Self {
            pacer: Pacer {
                waiter,
                sleep: None,
            },
        }
    }
}

impl<C: Clock> Future for Acquire<'_, C> {
    type Output = Result<(), ExceedsCapacity>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let capacity = self.pacer.waiter.capacity();
        let tokens = self.pacer.waiter.tokens();
        self.get_mut().pacer.poll(cx).map(|step| match step {
            // `Pacer::poll` returns only finished steps (never Sleep or Parked).
            Step::Queue(Progress::Granted | Progress::Sleep(_) | Progress::Parked) => Ok(()),
            // Only `acquire_within` sets a `max_wait`, so the queue never refuses `acquire`.
            Step::WouldWait(_) => Ok(()),
            Step::ExceedsCapacity | Step::Queue(Progress::TooLarge) => Err(ExceedsCapacity {
                requested: tokens,
                capacity,
            }),
        })
    }
}

/// The future of [`TokenBucket::acquire_within`](crate::TokenBucket::acquire_within).
///
/// Cancel-safe in the same way as [`Acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct AcquireWithin<'a, C: Clock> {
    pacer: Pacer<'a, C>,
    max_wait: Duration,
}

impl<'a, C: Clock> AcquireWithin<'a, C> {
    pub(crate) fn new(waiter: Waiter<'a, C>, max_wait: Duration) -> Self {
        Self {
            pacer: Pacer {
                waiter,
                sleep: None,
            },
            max_wait,
        }
    }
}

impl<C: Clock> Future for AcquireWithin<'_, C> {
    type Output = Result<(), AcquireWithinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let capacity = this.pacer.waiter.capacity();
        let tokens = this.pacer.waiter.tokens();
        let max_wait = this.max_wait;
        this.pacer.poll(cx).map(|step| match step {
            Step::Queue(Progress::Granted | Progress::Sleep(_) | Progress::Parked) => Ok(()),
            Step::ExceedsCapacity | Step::Queue(Progress::TooLarge) => {
                Err(AcquireWithinError::ExceedsCapacity(ExceedsCapacity {
                    requested: tokens,
                    capacity,
                }))
            }
            Step::WouldWait(nanos) => Err(AcquireWithinError::WouldWait {
                predicted: Duration::from_nanos(nanos),
                max_wait,
            }),
        })
    }
}
