//! Per-slot wakers for the in-task executor: a wake sets the slot's bit in a page of 64 and
//! notifies the driver, which then polls exactly the slots whose bits it takes.

use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};

use crate::signal::Signal;
use crate::sync::{Arc, AtomicU64, Ordering};

/// Ready bits of 64 consecutive slots.
#[derive(Debug, Default)]
pub struct ReadyPage {
    bits: AtomicU64,
}

impl ReadyPage {
    /// An empty page.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks slot `bit` (0..64) ready; returns `true` if it was not already marked.
    pub fn mark(&self, bit: u32) -> bool {
        let mask = 1u64 << (bit & 63);
        self.bits.fetch_or(mask, Ordering::SeqCst) & mask == 0
    }

    /// Takes every ready bit, leaving the page empty.
    pub fn take(&self) -> u64 {
        if self.bits.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        self.bits.swap(0, Ordering::SeqCst)
    }

    /// Whether any bit is set.
    #[must_use]
    pub fn any(&self) -> bool {
        self.bits.load(Ordering::SeqCst) != 0
    }
}

/// The waker of one slot.
#[derive(Debug)]
pub struct SlotWaker {
    page: Arc<ReadyPage>,
    bit: u32,
    signal: Arc<Signal>,
}

impl SlotWaker {
    /// A waker for slot `bit` of `page`, reporting to `signal`.
    #[must_use]
    pub fn waker(page: Arc<ReadyPage>, bit: u32, signal: Arc<Signal>) -> Waker {
        Waker::from(StdArc::new(Self { page, bit, signal }))
    }

    fn fire(&self) {
        if self.page.mark(self.bit) {
            self.signal.notify();
        }
    }
}

impl Wake for SlotWaker {
    fn wake(self: StdArc<Self>) {
        self.fire();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.fire();
    }
}
