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

/// Under loom: the same interface over a loom mutex, so pushes and pops are loom-visible.
#[cfg(tidewater_loom)]
#[derive(Debug)]
pub(crate) struct BoundedQueue<T> {
    items: Mutex<std::collections::VecDeque<T>>,
    capacity: usize,
}

#[cfg(tidewater_loom)]
impl<T> BoundedQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(std::collections::VecDeque::with_capacity(capacity)),
            capacity,
        }
    }

    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut items = lock(&self.items);
        if items.len() == self.capacity {
            return Err(item);
        }
        items.push_back(item);
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<T> {
        lock(&self.items).pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.items).len()
    }
}

/// Backs off inside a retry loop that another thread is about to unblock.
pub(crate) fn spin() {
    #[cfg(not(tidewater_loom))]
    std::thread::yield_now();
    #[cfg(tidewater_loom)]
    loom::thread::yield_now();
}
