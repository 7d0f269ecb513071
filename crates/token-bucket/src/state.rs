//! One bucket's state: a [`GcraCell`] read under its own [`SharedRate`].

use crate::cell::GcraCell;
use crate::gcra::{Denial, Gcra, Grant};
use crate::rate::SharedRate;

/// The lock-free state of one bucket.
#[derive(Debug)]
pub(crate) struct BucketState {
    rate: SharedRate,
    cell: GcraCell,
}

impl BucketState {
    pub(crate) fn new(gcra: Gcra, initial: u32) -> Self {
        let rate = SharedRate::new(gcra);
        let cell = GcraCell::with_tokens(&rate, 0, initial);
        Self { rate, cell }
    }

    #[inline]
    pub(crate) fn capacity(&self) -> u32 {
        self.rate.current().capacity()
    }

    #[inline]
    pub(crate) fn snapshot(&self, now: u64) -> (Gcra, u64) {
        self.cell.snapshot(&self.rate, now)
    }

    #[inline]
    pub(crate) fn try_acquire(&self, now: u64, n: u32) -> Result<Grant, Denial> {
        self.cell.try_acquire(&self.rate, now, n)
    }

    #[inline(always)]
    pub(crate) fn try_take(&self, now: u64, n: u32) -> Result<(), Denial> {
        self.cell.try_take(&self.rate, now, n)
    }

    #[inline]
    pub(crate) fn peek(&self, now: u64, n: u32) -> Result<Grant, Denial> {
        self.cell.peek(&self.rate, now, n)
    }

    /// Reserves `n` tokens (into debt): the wait until they are due, and how many it took
    /// (fewer than `n` only if `n` exceeds the capacity in force).
    pub(crate) fn reserve(&self, now: u64, n: u32) -> (u64, u32) {
        self.cell.reserve_counted(&self.rate, now, n)
    }

    pub(crate) fn debt_remaining(&self, now: u64) -> Option<u64> {
        self.cell.debt_remaining(&self.rate, now)
    }

    /// Takes back, at once, a reservation of `n` tokens just made at `now`.
    pub(crate) fn unreserve(&self, now: u64, n: u32) {
        self.cell.unreserve(&self.rate, now, n);
    }

    /// Gives back exactly the `n` tokens a pending reservation took (see `reserve`).
    pub(crate) fn refund_pending(&self, now: u64, n: u32) -> bool {
        self.cell.refund_reserved(&self.rate, now, n)
    }

    /// Switches to `gcra` at `now`, carrying the balance over exactly.
    pub(crate) fn set(&self, now: u64, gcra: Gcra) {
        self.rate.set(gcra);
        self.cell.migrate(&self.rate, now);
    }
}
