//! [`SharedRate`]: GCRA parameters that can change at run time, shared by any number
//! of [`GcraCell`](crate::GcraCell)s.
//!
//! The parameters live in a ring of 16 slots indexed by a *rate epoch*. A change writes
//! the next slot, then publishes the new epoch (release). Every cell stores the epoch its
//! state was written under beside that state, so a reader always decodes a state with the
//! parameters it was encoded with, and re-expresses it under the current ones on the
//! fly. Changes are serialized by a mutex; reads never lock.

use std::fmt;

use crate::gcra::Gcra;
use crate::sync::{AtomicU64, Mutex, Ordering};

pub(crate) const EPOCH_BITS: u32 = 4;
const EPOCHS: usize = 1 << EPOCH_BITS;

#[derive(Debug)]
struct Slot {
    interval_nanos: AtomicU64,
    capacity: AtomicU64,
}

/// GCRA parameters (capacity and refill interval) that can be replaced at run time,
/// atomically with respect to every cell that uses them.
///
/// A state written under a parameter set stays decodable for the next 15 changes;
/// callers that keep many cells (a keyed limiter) migrate them with
/// [`GcraCell::migrate`](crate::GcraCell::migrate) after each change so none falls that
/// far behind. A [`TokenBucket`](crate::TokenBucket) does this for its one cell itself.
pub struct SharedRate {
    slots: [Slot; EPOCHS],
    epoch: AtomicU64,
    change: Mutex<()>,
}

impl fmt::Debug for SharedRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRate")
            .field("current", &self.current())
            .finish()
    }
}

impl SharedRate {
    /// A rate starting with `gcra`.
    #[must_use]
    pub fn new(gcra: Gcra) -> Self {
        Self {
            slots: std::array::from_fn(|_| Slot {
                interval_nanos: AtomicU64::new(gcra.interval_nanos()),
                capacity: AtomicU64::new(u64::from(gcra.capacity())),
            }),
            epoch: AtomicU64::new(0),
            change: Mutex::new(()),
        }
    }

    /// The parameters in force now.
    #[must_use]
    #[inline]
    pub fn current(&self) -> Gcra {
        self.at(self.current_epoch())
    }

    /// Replaces the parameters. Cells re-express their state under the new ones on their
    /// next use, keeping their token balance (clamped to the new capacity) exactly.
    pub fn set(&self, gcra: Gcra) {
        // A poisoned lock only means another change panicked; the slots stay consistent
        // because the epoch is published last.
        let _serial = self
            .change
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = (self.current_epoch() + 1) % EPOCHS;
        let slot = &self.slots[next];
        slot.interval_nanos
            .store(gcra.interval_nanos(), Ordering::Relaxed);
        slot.capacity
            .store(u64::from(gcra.capacity()), Ordering::Relaxed);
        // Release: whoever reads this epoch also reads the slot written above.
        self.epoch.store(next as u64, Ordering::Release);
    }

    #[inline]
    pub(crate) fn current_epoch(&self) -> usize {
        // The epoch is always < 16, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let epoch = self.epoch.load(Ordering::Acquire) as usize;
        epoch
    }

    /// The parameters of `epoch`; valid for a state read (with acquire) under that epoch.
    #[inline]
    pub(crate) fn at(&self, epoch: usize) -> Gcra {
        let slot = &self.slots[epoch % EPOCHS];
        let capacity = slot.capacity.load(Ordering::Relaxed);
        // Capacities are stored from a u32.
        #[allow(clippy::cast_possible_truncation)]
        Gcra::with_interval(capacity as u32, slot.interval_nanos.load(Ordering::Relaxed))
    }
}
