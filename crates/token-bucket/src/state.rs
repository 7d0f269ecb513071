//! The bucket's shared state: one atomic word, updated by compare-and-swap only.
//!
//! The word packs the theoretical arrival time (TAT, 60 bits of nanoseconds on the
//! bucket's own timeline, about 36 years) with a 4-bit *rate epoch*. The interval for
//! each epoch lives in a small ring of atomics. A rate change writes the next slot and
//! then publishes, in one CAS, the rescaled TAT together with the new epoch; a reader
//! always pairs a TAT with the interval of the epoch stored beside it, so no acquire can
//! ever combine an old TAT with a new rate or the reverse. The hot path takes no lock.

use crate::gcra::{Denial, Gcra, Grant};
use crate::sync::{AtomicU64, Mutex, Ordering};

const EPOCH_BITS: u32 = 4;
const EPOCHS: usize = 1 << EPOCH_BITS;
const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;
/// The last representable instant of the bucket's timeline; time saturates there.
pub(crate) const MAX_TIME: u64 = (1 << (64 - EPOCH_BITS)) - 1;

fn pack(tat: u64, epoch: u64) -> u64 {
    (tat.min(MAX_TIME) << EPOCH_BITS) | epoch
}

fn unpack(word: u64) -> (u64, usize) {
    // The epoch is masked to 4 bits, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let epoch = (word & EPOCH_MASK) as usize;
    (word >> EPOCH_BITS, epoch)
}

/// The lock-free GCRA state of one bucket.
#[derive(Debug)]
pub(crate) struct BucketState {
    word: AtomicU64,
    intervals: [AtomicU64; EPOCHS],
    capacity: u32,
    /// Serializes rate changes (rare) so that two of them never write the same slot.
    rerate: Mutex<()>,
}

impl BucketState {
    pub(crate) fn new(gcra: Gcra, tat: u64) -> Self {
        Self {
            word: AtomicU64::new(pack(tat, 0)),
            intervals: std::array::from_fn(|_| AtomicU64::new(gcra.interval_nanos())),
            capacity: gcra.capacity(),
            rerate: Mutex::new(()),
        }
    }

    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The current parameters and TAT, read consistently.
    pub(crate) fn load(&self) -> (Gcra, u64) {
        let (tat, epoch) = unpack(self.word.load(Ordering::Acquire));
        (self.gcra(epoch), tat)
    }

    fn gcra(&self, epoch: usize) -> Gcra {
        // Acquire on the word that named this epoch made the slot's store visible.
        Gcra::with_interval(self.capacity, self.intervals[epoch].load(Ordering::Relaxed))
    }

    /// Takes `n` tokens if they are there now.
    #[inline]
    pub(crate) fn try_acquire(&self, now: u64, n: u32) -> Result<Grant, Denial> {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (tat, epoch) = unpack(word);
            let grant = self.gcra(epoch).decide(tat, now, n)?;
            match self.word.compare_exchange_weak(
                word,
                pack(grant.tat, epoch as u64),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(grant),
                Err(actual) => word = actual,
            }
        }
    }

    /// Would `n` tokens be granted now? Changes nothing.
    pub(crate) fn peek(&self, now: u64, n: u32) -> Result<Grant, Denial> {
        let (gcra, tat) = self.load();
        gcra.decide(tat, now, n)
    }

    /// Takes `n` tokens unconditionally, into debt if need be; returns the nanoseconds
    /// until they are due. Only the head of the wait queue reserves.
    pub(crate) fn reserve(&self, now: u64, n: u32) -> u64 {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (tat, epoch) = unpack(word);
            let gcra = self.gcra(epoch);
            let new_tat = gcra.reserve(tat, now, n);
            match self.word.compare_exchange_weak(
                word,
                pack(new_tat, epoch as u64),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return gcra.due(new_tat).saturating_sub(now),
                Err(actual) => word = actual,
            }
        }
    }

    /// Nanoseconds until the bucket is out of debt, or `None` if it already is: the
    /// head waiter's reservation is due exactly when the debt is paid.
    pub(crate) fn debt_remaining(&self, now: u64) -> Option<u64> {
        let (gcra, tat) = self.load();
        let due = gcra.due(tat);
        (due > now).then(|| due - now)
    }

    /// Gives back `n` reserved tokens if the reservation is still pending (the bucket is
    /// in debt). Returns whether it did.
    ///
    /// While the head's reservation is pending nobody else can be granted tokens (every
    /// grant leaves the bucket out of debt), so the debt is exactly that reservation and
    /// undoing it restores the state as if it had never been made. Once due, the tokens
    /// are the waiter's: returning them then could be double-counted against grants made
    /// since, so they count as used.
    pub(crate) fn refund_pending(&self, now: u64, n: u32) -> bool {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (tat, epoch) = unpack(word);
            let gcra = self.gcra(epoch);
            if gcra.due(tat) <= now {
                return false;
            }
            let back = u64::from(n.min(self.capacity)) * gcra.interval_nanos();
            let new_tat = tat.saturating_sub(back).max(now);
            match self.word.compare_exchange_weak(
                word,
                pack(new_tat, epoch as u64),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => word = actual,
            }
        }
    }

    /// Switches to a new interval at `now`, keeping the token balance (or debt) exact.
    pub(crate) fn set_interval(&self, now: u64, interval_nanos: u64) {
        // A poisoned lock only means another re-rate panicked; the ring is still valid.
        let _serial = self.rerate.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let to = Gcra::with_interval(self.capacity, interval_nanos);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (tat, epoch) = unpack(word);
            let next = (epoch + 1) % EPOCHS;
            self.intervals[next].store(interval_nanos, Ordering::Relaxed);
            let new_tat = self.gcra(epoch).rescale(tat, now, &to);
            // Release publishes the slot written above together with the new epoch.
            match self.word.compare_exchange_weak(
                word,
                pack(new_tat, next as u64),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => word = actual,
            }
        }
    }
}
