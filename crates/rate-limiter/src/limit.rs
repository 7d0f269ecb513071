//! The permit accounting behind a concurrency limit that can change while permits are
//! out: tokio-free, so loom explores it (`loom_models.rs`).
//!
//! Permits live in a [`Pool`] (tokio's FIFO semaphore in the limiters). Raising the
//! limit adds permits. Lowering it takes idle permits out of the pool at once and, for
//! permits that are in use, records a *debt*: the next releases swallow permits instead
//! of returning them, until the debt is paid. Invariant, whenever no call is in progress:
//! `available + in use - debt == limit`.

use crate::sync::{AtomicUsize, Mutex, Ordering};

/// Where permits wait while nobody holds them.
pub(crate) trait Pool {
    /// Returns `n` permits.
    fn add(&self, n: usize);
    /// Takes one idle permit if there is one.
    fn try_take(&self) -> bool;
}

/// The limit and the debt of permits still to be withdrawn.
#[derive(Debug)]
pub(crate) struct LimitCore {
    limit: AtomicUsize,
    debt: AtomicUsize,
    change: Mutex<()>,
}

impl LimitCore {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: AtomicUsize::new(limit),
            debt: AtomicUsize::new(0),
            change: Mutex::new(()),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    pub(crate) fn debt(&self) -> usize {
        self.debt.load(Ordering::Acquire)
    }

    /// Gives a released permit back to `pool`, unless it pays off debt.
    #[inline]
    pub(crate) fn release(&self, pool: &impl Pool) {
        if !self.pay_one() {
            pool.add(1);
        }
    }

    /// Pays one permit of debt if there is any.
    #[inline]
    fn pay_one(&self) -> bool {
        let mut debt = self.debt.load(Ordering::Acquire);
        while debt > 0 {
            match self.debt.compare_exchange_weak(
                debt,
                debt - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => debt = actual,
            }
        }
        false
    }

    /// Moves the limit to `new`, adjusting the permits in circulation.
    pub(crate) fn set_limit(&self, new: usize, pool: &impl Pool) {
        let _serial = self
            .change
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = self.limit.swap(new, Ordering::AcqRel);
        if new > old {
            let mut more = new - old;
            // Cancel debt first: those permits were never given back.
            while more > 0 && self.pay_one() {
                more -= 1;
            }
            pool.add(more);
        } else {
            let mut fewer = old - new;
            while fewer > 0 && pool.try_take() {
                fewer -= 1;
            }
            if fewer > 0 {
                self.debt.fetch_add(fewer, Ordering::AcqRel);
                // A permit released between the takes above and the debt becoming visible
                // went back to the pool: take it out now so the limit holds at once.
                while self.debt() > 0 && pool.try_take() {
                    if !self.pay_one() {
                        pool.add(1);
                        break;
                    }
                }
            }
        }
    }
}
