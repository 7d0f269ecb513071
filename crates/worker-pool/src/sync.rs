//! The loom shim: every synchronization primitive the core uses comes from here.
//!
//! Normally these are `std`'s types and crossbeam's `ArrayQueue`; under `--cfg tidewater_loom`
//! they are loom's, and the queue is a loom-visible bounded `VecDeque` behind a loom mutex, so
//! the model checker can explore every interleaving of admission, close and drain.

#[cfg(not(tidewater_loom))]
pub(crate) use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence},
};

#[cfg(tidewater_loom)]
pub(crate) use loom::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence},
};

/// Locks a mutex, recovering the guard if another thread panicked while holding it.
///
/// Nothing in this crate panics while holding a lock (user code never runs under one), so a
/// poisoned lock still protects consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The bounded multi-producer multi-consumer queue behind every pool.
#[cfg(not(tidewater_loom))]
pub(crate) type BoundedQueue<T> = crossbeam_queue::ArrayQueue<T>;

/// Under loom: the same interface, loom-visible. Like crossbeam's `ArrayQueue`, finding the
/// queue empty is a plain acquire load that publishes nothing, so the model does not get
/// ordering for free that the real queue would not give.
#[cfg(tidewater_loom)]
#[derive(Debug)]
pub(crate) struct BoundedQueue<T> {
    items: Mutex<std::collections::VecDeque<T>>,
    len: AtomicUsize,
    capacity: usize,
}

#[cfg(tidewater_loom)]
impl<T> BoundedQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(std::collections::VecDeque::with_capacity(capacity)),
            len: AtomicUsize::new(0),
            capacity,
        }
    }

    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut items = lock(&self.items);
        if items.len() == self.capacity {
            return Err(item);
        }
        items.push_back(item);
        self.len.store(items.len(), Ordering::Release);
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<T> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut items = lock(&self.items);
        let item = items.pop_front();
        self.len.store(items.len(), Ordering::Release);
        item
    }
}

/// Backs off inside a retry loop that another thread is about to unblock.
pub(crate) fn spin() {
    #[cfg(not(tidewater_loom))]
    std::thread::yield_now();
    #[cfg(tidewater_loom)]
    loom::thread::yield_now();
}
