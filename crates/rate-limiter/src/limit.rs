//! The permit accounting behind a concurrency limit that can change while permits are
//! out: tokio-free, so loom explores it (`loom_models.rs`).
//!
//! Permits live in a [`Pool`] (tokio's FIFO semaphore in the limiters). Raising the
//! limit adds permits. Lowering it takes idle permits out of the pool at once and, for
//! permits that are in use, records a *debt*: the next releases swallow permits instead
//! of returning them, until the debt is paid. Invariant, whenever no call is in progress:
//! `available + in use - debt == limit`; and once a lowering returns, no permit goes back
//! into circulation while the permits in use exceed the new limit.

use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, yield_now};

/// `state`: one release in progress that found no debt and is returning its permit to the
/// pool (counted from this bit up).
const RELEASING: u64 = 1 << 48;
/// `state`: the debt, in the low bits. It never exceeds the permits in use, far below 2^48.
const DEBT: u64 = RELEASING - 1;

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
    /// `releasing * RELEASING | debt`: a release announces itself and reads the debt in one
    /// read-modify-write of this word (it returns its permit only if that found no debt), and
    /// a lowering records its debt in the same word, so each sees the other (see `set_limit`).
    state: AtomicU64,
    change: Mutex<()>,
}

impl LimitCore {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: AtomicUsize::new(limit),
            state: AtomicU64::new(0),
            change: Mutex::new(()),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Acquire)
    }

    pub(crate) fn debt(&self) -> usize {
        // Below 2^48, so it fits a usize on the 64-bit targets and never truncates in practice.
        #[allow(clippy::cast_possible_truncation)]
        let debt = (self.state.load(Ordering::Acquire) & DEBT) as usize;
        debt
    }

    /// Gives a released permit back to `pool`, unless it pays off debt.
    ///
    /// The common case (no debt) is two uncontended read-modify-writes: announce the
    /// return (which also reads the debt), return the permit, withdraw the announcement.
    #[inline]
    pub(crate) fn release(&self, pool: &impl Pool) {
        // Announce first, in the same RMW that reads the debt: a lowering that records its
        // debt after this sees the announcement and waits for the permit to land.
        let prev = self.state.fetch_add(RELEASING, Ordering::AcqRel);
        if prev & DEBT == 0 {
            self.return_announced(pool);
        } else {
            self.pay_or_return(pool);
        }
    }

    /// Returns the permit of an announced release, then withdraws the announcement.
    #[inline]
    fn return_announced(&self, pool: &impl Pool) {
        pool.add(1);
        // Release: a lowering that waits for this sees the permit in the pool.
        self.state.fetch_sub(RELEASING, Ordering::Release);
    }

    /// An announced release that found debt: trades the announcement for one permit of
    /// debt paid, or returns the permit after all if the debt is gone by now.
    #[cold]
    #[inline(never)]
    fn pay_or_return(&self, pool: &impl Pool) {
        let paid = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & DEBT > 0).then(|| s - RELEASING - 1)
            })
            .is_ok();
        if !paid {
            self.return_announced(pool);
        }
    }

    /// Pays one permit of debt if there is any.
    #[inline]
    fn pay_one(&self) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s & DEBT > 0).then(|| s - 1)
            })
            .is_ok()
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
                debug_assert!(fewer as u64 <= DEBT, "more permits in use than can exist");
                self.state.fetch_add(fewer as u64, Ordering::AcqRel);
                // Releases from now on pay the debt. One that decided before it was recorded
                // is returning its permit to the pool (where tokio may hand it straight to a
                // waiter): let it finish, so nothing is admitted above the new limit once we
                // return, then take back what is idle. (Once the debt is paid, releases return
                // permits again and there is nothing left to wait for.)
                loop {
                    let state = self.state.load(Ordering::Acquire);
                    if state < RELEASING || state & DEBT == 0 {
                        break;
                    }
                    yield_now();
                }
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
