//! [`GcraCell`]: one bucket's state in one atomic word, updated by compare-and-swap only.
//!
//! The word packs the theoretical arrival time (60 bits of nanoseconds on the caller's
//! timeline, about 36 years) with the 4-bit rate epoch it was written under. Every
//! operation decodes the state with that epoch's parameters and, if the rate has changed
//! since, re-expresses it under the current ones inside the same CAS: no acquire can
//! ever combine a state with parameters it was not written for. The hot path takes no
//! lock and allocates nothing.

use crate::gcra::{Denial, Gcra, Grant};
use crate::rate::{EPOCH_BITS, SharedRate};
use crate::sync::{AtomicU64, Ordering};

const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
/// The last representable instant of a cell's timeline; time saturates there.
pub(crate) const MAX_TIME: u64 = (1 << (64 - EPOCH_BITS)) - 1;

#[inline]
fn pack(tat: u64, epoch: usize) -> u64 {
    (tat.min(MAX_TIME) << EPOCH_BITS) | epoch as u64
}

#[inline]
fn unpack(word: u64) -> (u64, usize) {
    // Masked to 4 bits, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let epoch = (word & EPOCH_MASK) as usize;
    (word >> EPOCH_BITS, epoch)
}

/// The state of one GCRA bucket in 8 bytes: an atomic theoretical arrival time, read
/// together with a [`SharedRate`]. Keyed limiters keep one cell per key.
///
/// Timestamps (`now`) are nanoseconds on the caller's timeline, below 2^60.
///
/// ```
/// use std::time::Duration;
/// use tidewater_token_bucket::{Gcra, GcraCell, SharedRate};
///
/// let rate = SharedRate::new(Gcra::new(2, 1, Duration::from_secs(1))?);
/// let cell = GcraCell::full(&rate, 0);
/// assert!(cell.try_acquire(&rate, 0, 2).is_ok());
/// assert!(cell.try_acquire(&rate, 0, 1).is_err());
/// assert!(cell.try_acquire(&rate, 1_000_000_000, 1).is_ok());
/// # Ok::<(), tidewater_token_bucket::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct GcraCell {
    word: AtomicU64,
}

impl GcraCell {
    /// A cell holding `tokens` at `now` under the rate's current parameters.
    #[must_use]
    pub fn with_tokens(rate: &SharedRate, now: u64, tokens: u32) -> Self {
        let epoch = rate.current_epoch();
        let tat = rate.at(epoch).tat_with_tokens(now, tokens);
        Self {
            word: AtomicU64::new(pack(tat, epoch)),
        }
    }

    /// A full cell: exactly as if it had never been used.
    #[must_use]
    pub fn full(rate: &SharedRate, now: u64) -> Self {
        Self::with_tokens(rate, now, u32::MAX)
    }

    /// The current parameters and this cell's state under them, as of `now`.
    #[inline]
    fn read(&self, rate: &SharedRate, word: u64, now: u64) -> (Gcra, u64, usize) {
        let (tat, epoch) = unpack(word);
        let current = rate.current_epoch();
        if epoch == current {
            (rate.at(current), tat, current)
        } else {
            Self::read_rescaled(rate, tat, epoch, current, now)
        }
    }

    /// The state re-expressed under parameters changed since it was written (rare).
    #[cold]
    #[inline(never)]
    fn read_rescaled(
        rate: &SharedRate,
        tat: u64,
        epoch: usize,
        current: usize,
        now: u64,
    ) -> (Gcra, u64, usize) {
        let gcra = rate.at(current);
        (gcra, rate.at(epoch).rescale(tat, now, &gcra), current)
    }

    /// Applies `step` to the state in a CAS loop; `step` returns the new TAT and a result,
    /// or `Err` to stop without writing.
    #[inline(always)]
    fn update<T, E>(
        &self,
        rate: &SharedRate,
        now: u64,
        mut step: impl FnMut(&Gcra, u64) -> Result<(u64, T), E>,
    ) -> Result<T, E> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (gcra, tat, epoch) = self.read(rate, word, now);
            let (new_tat, out) = step(&gcra, tat)?;
            match self.word.compare_exchange_weak(
                word,
                pack(new_tat, epoch),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(out),
                Err(actual) => word = actual,
            }
        }
    }

    /// Takes `n` tokens if they are there at `now`.
    ///
    /// # Errors
    /// A [`Denial`] with the wait, or `ExceedsCapacity`.
    #[inline]
    pub fn try_acquire(&self, rate: &SharedRate, now: u64, n: u32) -> Result<Grant, Denial> {
        self.update(rate, now, |gcra, tat| {
            gcra.decide(tat, now, n).map(|g| (g.tat, g))
        })
    }

    /// Takes `n` tokens if they are there at `now`, without computing what is left (the
    /// leanest path).
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    #[inline(always)]
    pub fn try_take(&self, rate: &SharedRate, now: u64, n: u32) -> Result<(), Denial> {
        self.update(rate, now, |gcra, tat| {
            gcra.conform(tat, now, n).map(|t| (t, ()))
        })
    }

    /// Would `n` tokens be granted at `now`? Changes nothing.
    ///
    /// # Errors
    /// As [`try_acquire`](Self::try_acquire).
    pub fn peek(&self, rate: &SharedRate, now: u64, n: u32) -> Result<Grant, Denial> {
        let (gcra, tat, _) = self.read(rate, self.word.load(Ordering::Acquire), now);
        gcra.decide(tat, now, n)
    }

    /// The current parameters and the state (TAT) under them, at `now`.
    #[must_use]
    pub fn snapshot(&self, rate: &SharedRate, now: u64) -> (Gcra, u64) {
        let (gcra, tat, _) = self.read(rate, self.word.load(Ordering::Acquire), now);
        (gcra, tat)
    }

    /// Whole tokens available at `now`.
    #[must_use]
    pub fn available(&self, rate: &SharedRate, now: u64) -> u32 {
        let (gcra, tat) = self.snapshot(rate, now);
        gcra.available(tat, now)
    }

    /// Whether the cell is full at `now`, i.e. indistinguishable from a fresh one (so a
    /// keyed limiter may drop it for free).
    #[must_use]
    pub fn is_full(&self, rate: &SharedRate, now: u64) -> bool {
        let (gcra, tat) = self.snapshot(rate, now);
        gcra.full_after_nanos(tat, now) == 0
    }

    /// Takes `n` tokens unconditionally, into debt if need be, and returns the
    /// nanoseconds until they are due. A queue reserves for its head this way so that
    /// nobody can take the head's tokens while it sleeps.
    pub fn reserve(&self, rate: &SharedRate, now: u64, n: u32) -> u64 {
        self.reserve_counted(rate, now, n).0
    }

    /// [`reserve`](Self::reserve), also returning how many tokens it took: `n`, or the
    /// capacity in force if that is smaller.
    pub(crate) fn reserve_counted(&self, rate: &SharedRate, now: u64, n: u32) -> (u64, u32) {
        let result: Result<(u64, u32), ()> = self.update(rate, now, |gcra, tat| {
            let new_tat = gcra.reserve(tat, now, n);
            let wait = gcra.due(new_tat).saturating_sub(now);
            Ok((new_tat, (wait, n.min(gcra.capacity()))))
        });
        result.unwrap_or((0, 0))
    }

    /// Nanoseconds until the cell is out of debt at `now`, or `None` if it is not in debt.
    #[must_use]
    pub fn debt_remaining(&self, rate: &SharedRate, now: u64) -> Option<u64> {
        let (gcra, tat) = self.snapshot(rate, now);
        let due = gcra.due(tat);
        (due > now).then(|| due - now)
    }

    /// Gives back `n` reserved tokens if the cell is still in debt at `now`; returns
    /// whether it did.
    ///
    /// Used for the one pending reservation of a queue head: while it is pending nobody
    /// else can be granted tokens (every grant leaves the cell out of debt), so the debt
    /// is exactly that reservation and undoing it restores the state as if it had never
    /// been made. Once due, the tokens are the waiter's: returning them then could
    /// double-count them against grants made since, so they count as used.
    pub fn refund_pending(&self, rate: &SharedRate, now: u64, n: u32) -> bool {
        self.refund_reserved(rate, now, n.min(rate.current().capacity()))
    }

    /// Undoes a reservation of `n` tokens made at this same `now`, at once (so no grant can
    /// have been counted against its tokens becoming due).
    pub(crate) fn unreserve(&self, rate: &SharedRate, now: u64, n: u32) {
        let undone: Result<(), ()> = self.update(rate, now, |gcra, tat| {
            let back = u64::from(n) * gcra.interval_nanos();
            Ok((tat.saturating_sub(back).max(now), ()))
        });
        debug_assert!(undone.is_ok());
    }

    /// [`refund_pending`](Self::refund_pending) of exactly the `n` tokens a reservation took
    /// (as counted by [`reserve_counted`](Self::reserve_counted)), even if the capacity has
    /// shrunk below `n` since: a rate change carries a debt over in tokens, unclamped.
    pub(crate) fn refund_reserved(&self, rate: &SharedRate, now: u64, n: u32) -> bool {
        self.update(rate, now, |gcra, tat| {
            if gcra.due(tat) <= now {
                return Err(false);
            }
            let back = u64::from(n) * gcra.interval_nanos();
            Ok((tat.saturating_sub(back).max(now), true))
        })
        .unwrap_or_else(|refunded| refunded)
    }

    /// Re-expresses the state under the rate's current parameters now (a no-op if it
    /// already is). Keyed limiters call this on every cell after a rate change.
    pub fn migrate(&self, rate: &SharedRate, now: u64) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if unpack(word).1 == rate.current_epoch() {
                return;
            }
            let (_, tat, epoch) = self.read(rate, word, now);
            match self.word.compare_exchange_weak(
                word,
                pack(tat, epoch),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }
}
